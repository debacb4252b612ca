import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { chromiumAvailable, cspViolations, launchBrowser, newContext } from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';

/*
 * Classic XSS payloads stored wherever people and organisers type text, then every page that shows
 * that text is opened in Chromium. The pages are checked twice: with the Content-Security-Policy
 * switched off (so escaping and sanitising alone must keep the payloads inert) and with it on
 * (where a slip would also show up as a CSP violation). Each payload would set window.__xss or
 * open a dialog if it ran.
 */

const run = 'window.__xss=1';
/** Payloads for plain-text fields: they must appear on the page exactly as typed. */
const textPayloads = [
  `<script>${run}</script>`,
  `<img src=x onerror="${run}">`,
  `"><svg onload=${run}>`,
  `'><img src=x onerror='${run}'>`,
  `</textarea><script>${run}</script>`,
  `</title><script>alert(1)</script>`,
  `{{constructor.constructor('${run}')()}}`,
  `<a href="javascript:${run}">link</a>`,
  `<details open ontoggle=${run}>`,
  `＜script＞${run}＜/script＞ \u202Eevil\u202C`,
  `<iframe srcdoc="<script>parent.${run}</script>">`,
];
/** Markdown bodies: rendered, sanitised; no script may survive. */
const markdownPayload = [
  '# Heading',
  `<script>${run}</script>`,
  `<img src="x" onerror="${run}">`,
  `[click me](javascript:${run})`,
  `[click me too](JaVaScRiPt:${run})`,
  `![pic](x" onerror="${run})`,
  `<svg><script>${run}</script></svg>`,
  `<a href="jav&#x09;ascript:${run}">tab trick</a>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=${run}>`,
  `<iframe src="javascript:${run}"></iframe>`,
  `<form action="javascript:${run}"><button>go</button></form>`,
  `<div style="background:url(javascript:${run})">styled</div>`,
  '{{7*7}} stays text',
].join('\n\n');

describe.skipIf(!chromiumAvailable)('XSS payloads stay inert in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let browser: Browser;
  let baseUrl: string;
  let owner: SignedIn;
  const pages: Array<{ name: string; path: string; admin: boolean; texts: string[] }> = [];

  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    owner = await signIn(t, 'owner');
    const [p0, p1, p2, p3, p4, p5, p6, p7] = textPayloads as [string, ...string[]];

    const group = await t.services.groups.createGroup({
      name: `Group ${p2}`,
      level: 'local',
      slug: 'xss-group',
      description: `About ${p1}`,
    });
    const created = await t.services.petitions.createPetition({
      slug: 'xss-petition',
      title: `Title ${p0}`,
      summary: `Summary ${p3}`,
      body: markdownPayload,
      thankYouMessage: markdownPayload,
      goal: 10,
      altchaEnabled: false,
      requiresConfirmation: false,
      commentModeration: 'immediate',
      targets: [{ name: `Target ${p4}`, title: `Mayor ${p5}` }],
    });
    const petition = await t.services.petitions.publishPetition(created.row.id);
    const signerIds: string[] = [];
    for (const [i, payload] of textPayloads.entries()) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        {
          email: `xss${i}@example.org`,
          givenName: payload,
          familyName: `Family ${payload}`,
          postalCode: '94110',
          comment: `Comment ${payload}`,
          consent: true,
          answers: {},
        },
        { ip: '198.51.100.1', userAgent: 'xss' },
      );
    }
    await t.services.petitions.processPendingIntake(); // signing answers first; a job writes the signatures
    for (const row of await t.ctx.db.selectFrom('emails').select(['person_id', 'address']).execute()) {
      if (row.address === 'xss0@example.org') signerIds.push(row.person_id);
    }

    const event = await t.services.events.createEvent({
      title: `Event ${p6}`,
      description: `Bring ${p7}`,
      startsLocal: '2031-05-01T18:00',
      endsLocal: '2031-05-01T20:00',
      timeZone: 'UTC',
      place: `Hall ${p0}`,
      groupId: group.id,
    });
    const mailingId = await t.services.mailings.createMailing(
      {
        name: `Mailing ${p1}`,
        fromName: 'Org',
        fromAddress: 'news@example.org',
        subject: `Subject ${p2}`,
        body: `Hello {{ given_name }}\n\n${markdownPayload.replace('{{7*7}} stays text', '')}`,
        format: 'markdown',
      },
      owner.userId,
    );
    const htmlMailingId = await t.services.mailings.createMailing(
      {
        name: 'Raw HTML mailing',
        fromName: 'Org',
        fromAddress: 'news@example.org',
        subject: `Subject ${p3}`,
        body: `<p>Hi</p><script>${run}</script><img src=x onerror="${run}">`,
        format: 'html',
      },
      owner.userId,
    );

    const comments = textPayloads.map((p) => `Comment ${p}`);
    pages.push(
      {
        name: 'public petition page',
        path: '/petitions/xss-petition',
        admin: false,
        texts: [`Title ${p0}`, `Summary ${p3}`, ...comments],
      },
      {
        name: 'petition widget',
        path: '/petitions/xss-petition/embed',
        admin: false,
        texts: [`Title ${p0}`],
      },
      {
        name: 'thank-you page',
        path: '/petitions/xss-petition/thanks?status=signed',
        admin: false,
        texts: [`Title ${p0}`],
      },
      {
        name: 'event page',
        path: `/events/${event.slug}`,
        admin: false,
        texts: [`Event ${p6}`, `Bring ${p7}`],
      },
      { name: 'group page', path: '/groups/xss-group', admin: false, texts: [`Group ${p2}`] },
      { name: 'front page', path: '/', admin: false, texts: [`Title ${p0}`] },
      { name: 'admin people list', path: '/admin/people', admin: true, texts: textPayloads.slice(0, 5) },
      {
        name: 'admin person page',
        path: `/admin/people/${signerIds[0]}`,
        admin: true,
        texts: [p0, `Family ${p0}`],
      },
      {
        name: 'admin petition page',
        path: `/admin/petitions/${petition.row.id}`,
        admin: true,
        texts: [`Title ${p0}`, ...comments.slice(0, 3)],
      },
      {
        name: 'admin petition preview',
        path: `/admin/petitions/${petition.row.id}/preview`,
        admin: true,
        texts: [`Title ${p0}`],
      },
      {
        name: 'admin mailing page',
        path: `/admin/mailings/${mailingId}`,
        admin: true,
        texts: [`Mailing ${p1}`],
      },
      {
        name: 'mailing preview',
        path: `/admin/mailings/${mailingId}/preview`,
        admin: true,
        texts: [`Subject ${p2}`],
      },
      {
        name: 'raw HTML mailing preview',
        path: `/admin/mailings/${htmlMailingId}/preview`,
        admin: true,
        texts: [`Subject ${p3}`],
      },
      { name: 'admin event page', path: `/admin/events/${event.id}`, admin: true, texts: [`Event ${p6}`] },
      { name: 'admin group page', path: `/admin/groups/${group.id}`, admin: true, texts: [`Group ${p2}`] },
      { name: 'admin dashboard', path: '/admin', admin: true, texts: [] },
    );
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    t?.services.mailings.close();
    await t?.services.petitions.close();
    await t?.close();
  });

  async function openAll(context: BrowserContext): Promise<string[]> {
    const problems: string[] = [];
    for (const entry of pages) {
      const page: Page = await context.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      const response = await page.goto(entry.path);
      if (!response || response.status() >= 400) {
        problems.push(`${entry.name}: answered ${response?.status()}`);
        await page.close();
        continue;
      }
      // Let handlers (onerror, onload, ontoggle) and framed documents have their chance.
      await page.waitForLoadState('load');
      await page.waitForTimeout(150);
      const ran = await Promise.all(
        page
          .frames()
          .map((frame) =>
            frame.evaluate(() => (globalThis as unknown as { __xss?: unknown }).__xss).catch(() => undefined),
          ),
      );
      if (ran.some((value) => value !== undefined)) problems.push(`${entry.name}: a payload ran`);
      if (dialogs.length) problems.push(`${entry.name}: a dialog opened (${dialogs.join(', ')})`);
      const shown = await page.locator('body').innerText();
      const normalise = (s: string) => s.replace(/\s+/g, ' ');
      for (const text of entry.texts) {
        if (!normalise(shown).includes(normalise(text)))
          problems.push(`${entry.name}: does not show ${JSON.stringify(text)} as text`);
      }
      const scripts = await page.locator('script:not([src])').count();
      if (scripts) problems.push(`${entry.name}: ${scripts} inline script elements in the document`);
      const javascriptLinks = await page
        .locator('[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i]')
        .count();
      if (javascriptLinks) problems.push(`${entry.name}: ${javascriptLinks} javascript: addresses`);
      await page.close();
    }
    return problems;
  }

  it('escapes and sanitises every payload (checked with the CSP switched off)', async () => {
    const context = await browser.newContext({ baseURL: baseUrl, bypassCSP: true });
    await context.addCookies([
      { name: owner.cookie.split('=')[0]!, value: owner.cookie.split('=').slice(1).join('='), url: baseUrl },
    ]);
    expect(await openAll(context)).toEqual([]);
    await context.close();
  }, 60_000);

  it('shows the same pages under the real CSP without a single violation', async () => {
    const context = await newContext(browser, { baseUrl, cookie: owner.cookie });
    expect(await openAll(context)).toEqual([]);
    expect(cspViolations(context)).toEqual([]);
    await context.close();
  }, 60_000);
});
