import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/auth.ts';
import { axeViolations, chromiumAvailable, launchBrowser, newContext } from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';

describe.skipIf(!chromiumAvailable)('people admin in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    t = await createTestApp();
    const baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    const organiser = await signIn(t, 'organiser');
    const context = await newContext(browser, { baseUrl, cookie: organiser.cookie });
    page = await context.newPage();
    await t.services.people.mergePeople(t.ctx.db, [
      {
        email: 'ada@e2e.test',
        givenName: 'Ada',
        familyName: 'Lovelace',
        address: { postalCode: 'SW1A 1AA' },
        tags: ['founders'],
        subscribe: true,
        source: 'e2e',
      },
      { email: 'grace@e2e.test', givenName: 'Grace', familyName: 'Hopper' },
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('searches a person and opens their page', async () => {
    await page.goto('/admin/people');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Name or email').fill('lovelace');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toContain('Showing 1–1 of 1 person matching.');
    await page.getByRole('link', { name: 'Ada Lovelace' }).click();
    await page.getByRole('heading', { level: 1, name: 'Ada Lovelace' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Timeline' }).isVisible()).toBe(true);
    expect(await page.textContent('main')).toContain('Added from e2e');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('imports a small CSV and finds the new people in the list', async () => {
    await page.goto('/admin/imports/new');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('CSV file').setInputFiles({
      name: 'volunteers.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('First Name,Last Name,Email\nKatherine,Johnson,kj@e2e.test\nBroken,Row,oops\n'),
    });
    await page.getByLabel('Tags for everyone in the file').fill('e2e-import');
    await page.getByLabel('These people agreed to receive email from us').check();
    await page.getByRole('button', { name: 'Upload and import' }).click();
    await page.getByRole('heading', { level: 1, name: 'Import of volunteers.csv' }).waitFor();

    await t.ctx.jobs.drain();
    await page.reload();
    const status = await page.getByRole('status').textContent();
    expect(status).toContain('Finished.');
    expect(status).toContain('Imported 1 row: 1 new');
    expect(await page.textContent('main')).toContain('"oops" is not a valid email address.');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'e2e-import' }).click();
    await page.getByRole('link', { name: 'Katherine Johnson' }).waitFor();
    expect(await page.getByRole('link', { name: 'Download this person as CSV' }).isVisible()).toBe(true);
  });
});
