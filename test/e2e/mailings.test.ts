import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  chromiumAvailable,
  launchBrowser,
  newContext,
  waitForText,
} from '../helpers/browser.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { addPeople } from '../mail/fixtures.ts';

describe.skipIf(!chromiumAvailable && !process.env.REQUIRE_CHROMIUM)('mailings in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let browser: Browser;
  let baseUrl: string;
  beforeAll(async () => {
    t = await createTestApp({ MAIL_RATE: '0' });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    await addPeople(t.services, [
      { email: 'ana@e2e.example', givenName: 'Ana', tags: ['river'], lists: ['Weekly'], subscribe: true },
      { email: 'ben@e2e.example', givenName: 'Ben', tags: ['river'], subscribe: true },
      { email: 'cy@e2e.example', givenName: 'Cy', tags: ['forest'], subscribe: true },
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
  });

  it('composes with a live audience count, previews, sends, and the recipient manages preferences', async () => {
    const organiser = await signIn(t, 'organiser');
    const context = await newContext(browser, { baseUrl, cookie: organiser.cookie });
    const page = await context.newPage();
    await page.goto('/admin/mailings/new');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('From address').fill('news@river.example');
    await page.getByLabel('Subject', { exact: true }).fill('Hello {{ given_name | default: "Friend" }}');
    await page.getByLabel('Body', { exact: true }).fill('Dear {{ given_name }}, the river needs you.');
    await page.getByLabel('Tagged with any of (comma-separated)').fill('river');
    await expect.poll(() => page.locator('#audience-count').textContent()).toBe('2');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForURL(/\/admin\/mailings\/[^/]+\?notice=created$/);
    expect(await page.getByRole('status').textContent()).toContain('Draft saved.');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByLabel('Preview as the person with the address (optional)').fill('ana@e2e.example');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.waitForURL(/\/preview\?/);
    expect(await page.locator('body').textContent()).toContain('Subject: Hello Ana');
    const frame = page.frameLocator('iframe');
    await expect.poll(() => frame.locator('body').textContent()).toContain('Dear Ana, the river needs you.');
    expect(await axeViolations(page)).toEqual([]);
    await page.goBack();

    await page.getByRole('button', { name: 'Send now' }).click();
    await page.waitForURL(/notice=started/);
    await t.ctx.jobs.drain();
    await page.reload();
    expect(await page.locator('body').textContent()).toContain('Sent');
    expect(await axeViolations(page)).toEqual([]);

    // Ana opens the preference link from her email (local outbox: no SMTP_URL).
    const [outboxRow] = await t.services.mail.listOutbox({ to: 'ana@e2e.example' });
    const unsubscribe = /List-Unsubscribe: <([^>]+)>/.exec(outboxRow!.raw.replace(/\r?\n[ \t]+/g, ' '))![1]!;
    const visitor = await browser.newContext({ baseURL: baseUrl });
    const prefs = await visitor.newPage();
    await prefs.goto(new URL(unsubscribe).pathname);
    expect(await prefs.getByRole('heading', { level: 1 }).textContent()).toBe('Email preferences');
    expect(await axeViolations(prefs)).toEqual([]);
    await prefs.getByRole('button', { name: 'Leave “Weekly”' }).click();
    await waitForText(prefs, 'status', 'You have left that list.');
    expect(await prefs.getByRole('status').textContent()).toContain('You have left that list.');
    await prefs.goto(new URL(unsubscribe).pathname);
    await prefs.getByRole('button', { name: 'Unsubscribe from all email' }).click();
    await waitForText(prefs, 'heading', 'You are unsubscribed', { level: 1 });
    expect(await prefs.getByRole('heading', { level: 1 }).textContent()).toBe('You are unsubscribed');
    expect(await axeViolations(prefs)).toEqual([]);
    const row = await t.ctx.db
      .selectFrom('emails')
      .select('status')
      .where('address', '=', 'ana@e2e.example')
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('unsubscribed');
    await visitor.close();
    await context.close();
  });
});
