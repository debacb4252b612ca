import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  chromiumAvailable,
  launchBrowser,
  newContext,
  waitForText,
} from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';

describe.skipIf(!chromiumAvailable)('admin sign-in in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let browser: Browser;
  let baseUrl: string;
  beforeAll(async () => {
    t = await createTestApp();
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t.close();
  });

  it('creates the owner from a one-time link, signs out and in again', async () => {
    const invite = await t.services.auth.createInvite({ role: 'owner', createdBy: null });
    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto('/');
    expect(await axeViolations(page)).toEqual([]);
    expect(await page.getByText('No petitions are open right now.').count()).toBe(1);
    await page.goto(new URL(invite.url).pathname);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Email').fill('founder@example.org');
    await page.getByLabel('Your name').fill('Rosa <b>Parks</b>');
    await page.getByLabel(/Password/).fill('a very good password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL('**/admin');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Welcome, Rosa <b>Parks</b>');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/admin/login');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Email').fill('founder@example.org');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page, 'alert', 'The email or password is not correct.');
    expect(await page.getByRole('alert').textContent()).toContain('The email or password is not correct.');
    await page.getByLabel('Password').fill('a very good password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/admin');
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('cell', { name: 'founder@example.org', exact: true }).waitFor();
    expect(await page.getByRole('cell', { name: 'founder@example.org', exact: true }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await context.close();
  });
});
