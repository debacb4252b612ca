import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Petition } from '../../src/petitions/index.ts';
import { signIn } from '../helpers/auth.ts';
import {
  axeViolations,
  chromiumAvailable,
  launchBrowser,
  newContext,
  waitForText,
} from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';

describe.skipIf(!chromiumAvailable)('petitions in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let smtp: SmtpSink;
  let browser: Browser;
  let baseUrl: string;
  let petition: Petition;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({ SMTP_URL: smtp.url, SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    const created = await t.services.petitions.createPetition({
      slug: 'protect-elm-park',
      title: 'Protect Elm Park',
      summary: 'Stop the parking lot.',
      body: '## Why\n\nThe park is **ours**.',
      billReference: 'City Ord. 12',
      billUrl: 'https://example.org/ord-12',
      goal: 2,
      requiresConfirmation: true,
      altchaEnabled: true,
      commentModeration: 'moderated',
      targets: [{ name: 'Mayor Ruiz', title: 'Mayor' }],
      translations: [
        { language: 'es', title: 'Protejamos el parque Elm', summary: 'Paremos el estacionamiento.' },
      ],
    });
    petition = await t.services.petitions.publishPetition(created.row.id);
  });
  afterAll(async () => {
    await browser?.close();
    // The pooled SMTP connection would keep the sink from closing.
    await t?.services.mail.close();
    await t?.close();
    await smtp?.close();
  });

  async function signInBrowser(page: Page, fields: { name: string; email: string; comment?: string }) {
    await page.getByLabel('First name').fill(fields.name);
    await page.getByLabel('Email', { exact: true }).fill(fields.email);
    await page.getByLabel('Postal code').fill('94110');
    if (fields.comment) await page.getByLabel(/Why are you signing/).fill(fields.comment);
    await page.getByLabel(/Keep me updated/).check();
    await page.getByRole('button', { name: 'Sign', exact: true }).click();
  }

  /** Sends queued mail and returns the path of the confirmation link emailed to `email`. */
  async function confirmationPath(email: string): Promise<string> {
    await t.ctx.jobs.drain();
    const message = await smtp.waitFor((m) => m.to.includes(email), 10_000);
    expect(message.subject).toBe('Please confirm your signature: Protect Elm Park');
    const link = /https?:\/\/\S+\/confirm\?token=\S+/.exec(message.text)![0];
    const url = new URL(link);
    return `${url.pathname}${url.search}`;
  }

  it('signs with the proof of work, confirms from the email, sees the counter move and "already signed"', async () => {
    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto('/petitions/protect-elm-park');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Protect Elm Park');
    expect(await page.locator('[data-count]').textContent()).toBe('0');
    expect(await axeViolations(page)).toEqual([]);

    const posted = page.waitForRequest((request) => request.method() === 'POST');
    await signInBrowser(page, { name: 'Ada', email: 'ada@example.org', comment: 'For my kids' });
    const form = new URLSearchParams((await posted).postData() ?? '');
    expect(form.get('altcha')).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect(form.get('website')).toBe('');
    await page.waitForURL('**/thanks?status=pending**');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'Almost done: please confirm your signature',
    );
    expect(await axeViolations(page)).toEqual([]);
    // The browser solved the ALTCHA challenge: the signature is not held back as a robot's.
    const rejections = await t.ctx.db.selectFrom('signing_rejections').selectAll().execute();
    expect(rejections).toEqual([]);

    await page.goto('/petitions/protect-elm-park');
    expect(await page.locator('[data-count]').textContent()).toBe('0');

    // The link opens a page with a button (a mail scanner's visit confirms nothing); the click does.
    await page.goto(await confirmationPath('ada@example.org'));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Confirm your signature');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Confirm my signature' }).click();
    await waitForText(page, 'heading', 'Your signature is confirmed', { level: 1 });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your signature is confirmed');
    const share = await page.getByLabel('Your share link').inputValue();
    expect(share).toMatch(/\/petitions\/protect-elm-park\?ref=[a-z0-9]+$/);
    expect(await page.getByRole('link', { name: 'WhatsApp' }).getAttribute('href')).toContain(
      encodeURIComponent(share),
    );
    expect(await axeViolations(page)).toEqual([]);

    await page.goto('/petitions/protect-elm-park');
    expect(await page.locator('[data-count]').textContent()).toBe('1');

    await signInBrowser(page, { name: 'Ada again', email: 'ADA@example.org' });
    await page.waitForURL('**/thanks?status=already**');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'You already signed this petition',
    );
    await page.goto('/petitions/protect-elm-park');
    expect(await page.locator('[data-count]').textContent()).toBe('1');
    await context.close();
  });

  it('credits the referrer when a friend signs through the share link', async () => {
    const referrer = await t.ctx.db
      .selectFrom('signatures')
      .select('referral_code')
      .where('petition_id', '=', petition.row.id)
      .where('signer_name', '=', 'Ada')
      .executeTakeFirstOrThrow();
    const context = await newContext(browser, { baseUrl });
    // A reader who keeps the page open sees the counter move without reloading.
    const reader = await context.newPage();
    await reader.clock.install();
    await reader.goto('/petitions/protect-elm-park');
    expect(await reader.locator('[data-count]').textContent()).toBe('1');

    const page = await context.newPage();
    await page.goto(`/petitions/protect-elm-park?ref=${referrer.referral_code}`);
    await signInBrowser(page, { name: 'Grace', email: 'grace@example.org' });
    await page.waitForURL('**/thanks?status=pending**');
    await page.goto(await confirmationPath('grace@example.org'));
    await page.getByRole('button', { name: 'Confirm my signature' }).click();
    await waitForText(page, 'heading', 'Your signature is confirmed', { level: 1 });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your signature is confirmed');
    expect(await t.services.petitions.countReferrals(petition.row.id, referrer.referral_code)).toBe(1);
    await reader.clock.fastForward(16_000);
    await reader.locator('[data-count]', { hasText: '2' }).waitFor();
    expect(await reader.locator('[data-goal]').textContent()).toBe('5');
    // Goal 2 reached: the bar aims at the next round number.
    await page.goto('/petitions/protect-elm-park');
    expect(await page.locator('[data-count]').textContent()).toBe('2');
    expect(await page.locator('[data-goal]').textContent()).toBe('5');
    await context.close();
  });

  it('shows a comment only after the organiser approves it', async () => {
    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto('/petitions/protect-elm-park');
    expect(await page.getByText('For my kids').count()).toBe(0);

    const organiser = await signIn(t, 'organiser');
    const admin = await newContext(browser, { baseUrl, cookie: organiser.cookie });
    const adminPage = await admin.newPage();
    await adminPage.goto(`/admin/petitions/${petition.row.id}`);
    expect(await adminPage.getByRole('heading', { level: 1 }).textContent()).toBe('Protect Elm Park');
    expect(await axeViolations(adminPage)).toEqual([]);
    await adminPage
      .getByRole('row', { name: /For my kids/ })
      .getByRole('button', { name: 'Approve' })
      .click();
    await adminPage.waitForURL('**notice=moderated');
    expect(await adminPage.getByRole('status').textContent()).toBe('Comment updated.');

    await page.reload();
    expect(await page.getByText('For my kids').count()).toBe(1);

    await adminPage.goto(`/admin/petitions/${petition.row.id}/edit`);
    expect(await adminPage.getByLabel('Title', { exact: true }).inputValue()).toBe('Protect Elm Park');
    expect(await axeViolations(adminPage)).toEqual([]);
    await page.goto('/petitions/protect-elm-park/embed');
    expect(await page.getByRole('button', { name: 'Sign', exact: true }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await admin.close();
    await context.close();
  });

  it('serves the Spanish page, accessible', async () => {
    const context = await newContext(browser, { baseUrl, locale: 'es-ES' });
    const page = await context.newPage();
    await page.goto('/petitions/protect-elm-park');
    expect(await page.locator('html').getAttribute('lang')).toBe('es');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Protejamos el parque Elm');
    expect(await page.getByRole('button', { name: 'Firmar' }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'English' }).click();
    await waitForText(page, 'heading', 'Protect Elm Park', { level: 1 });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Protect Elm Park');
    await context.close();
  });
});
