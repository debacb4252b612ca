import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totp } from '../../src/auth/totp.ts';
import {
  axeViolations,
  chromiumAvailable,
  cspViolations,
  launchBrowser,
  newContext,
  waitForText,
} from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';

/** Waits for the next 30-second step when fewer than 5 seconds of this one are left. */
async function awayFromStepEnd(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
}

describe.skipIf(!chromiumAvailable)('two-factor sign-in in Chromium', () => {
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

  it('turns it on from the account page, then signs in with a code from the app', async () => {
    await t.services.auth.createUser({
      email: 'totp@example.org',
      password: 'a long password here',
      role: 'admin',
    });
    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto('/admin/login');
    await page.getByLabel('Email').fill('totp@example.org');
    await page.getByLabel('Password').fill('a long password here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/admin');

    await page.getByRole('link', { name: 'totp@example.org' }).click();
    await page.waitForURL('**/admin/account');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'Set up two-factor sign-in' }).click();
    await page.getByRole('img', { name: 'QR code of the authenticator key' }).waitFor();
    expect(await page.getByRole('img', { name: 'QR code of the authenticator key' }).isVisible()).toBe(true);
    expect(await page.locator('code.otpauth').textContent()).toMatch(/^otpauth:\/\/totp\//);
    expect(await axeViolations(page)).toEqual([]);
    const key = base32Decode((await page.locator('li code').first().textContent())!);

    await page.getByLabel('Type the 6-digit code the app shows now').fill('000000');
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await waitForText(page, 'alert', 'That code does not match');
    expect(await page.getByRole('alert').textContent()).toContain('That code does not match');
    // The previous step's code (one step of clock drift is allowed), far enough from the step's end
    // that the server still counts it as the previous step when the form arrives.
    await awayFromStepEnd();
    await page.getByLabel('Type the 6-digit code the app shows now').fill(totp(key, Date.now() - 30_000));
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    // The click does not wait for the next page: read its heading once it is there.
    await waitForText(page, 'heading', 'Two-factor sign-in is on', { level: 1 });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Two-factor sign-in is on');
    expect(await page.locator('.recovery-codes li').count()).toBe(10);
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/admin/login');
    await page.getByLabel('Email').fill('totp@example.org');
    await page.getByLabel('Password').fill('a long password here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Code from your authenticator app').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await awayFromStepEnd();
    await page.getByLabel('Code from your authenticator app').fill(totp(key, Date.now()));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL('**/admin');
    expect(await page.getByRole('link', { name: 'totp@example.org' }).count()).toBe(1);
    expect(cspViolations(context)).toEqual([]);
    await context.close();
  });
});
