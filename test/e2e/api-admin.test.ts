import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/auth.ts';
import { axeViolations, chromiumAvailable, launchBrowser, newContext } from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';

describe.skipIf(!chromiumAvailable)('API keys, webhooks and API docs in Chromium', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let browser: Browser;
  let page: Page;
  let baseUrl: string;
  let receiver: Server;
  let receiverUrl: string;
  const bodies: string[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    t = await createTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    const admin = await signIn(t, 'admin');
    const context = await newContext(browser, { baseUrl, cookie: admin.cookie });
    page = await context.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('an admin creates a write key, copies it once, uses it, and revokes it', async () => {
    await page.goto('/admin/api-keys');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Name (who uses it)').fill('Phone bank tool');
    await page.getByLabel('Read and write').check();
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Key "Phone bank tool" created' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    const secret = await page.getByLabel('Secret key').inputValue();
    expect(secret).toMatch(/^us_/);

    const signup = await fetch(`${baseUrl}/api/v1/people`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'OSDI-API-Token': secret },
      body: JSON.stringify({ person: { email_addresses: [{ address: 'e2e-api@example.org' }] } }),
    });
    expect(signup.status).toBe(200);

    await page.goto('/admin/api-keys');
    expect(await page.textContent('main')).not.toContain(secret);
    await page.getByRole('button', { name: 'Revoke key Phone bank tool' }).click();
    await page.getByRole('status').filter({ hasText: 'Key revoked.' }).waitFor();
    const after = await fetch(`${baseUrl}/api/v1`, { headers: { 'OSDI-API-Token': secret } });
    expect(after.status).toBe(401);
  });

  it('an admin adds a webhook and sees its delivery log', async () => {
    await page.goto('/admin/webhooks');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Address (URL)').fill(receiverUrl);
    await page.getByLabel('person.created').check();
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await t.services.people.mergePersonByEmail(t.ctx.db, {
      email: 'hooked@example.org',
      givenName: 'Hooked',
    });
    await t.services.api.webhooks.scanChanges({ now: Date.now() + 1, settleMs: 0 });
    await t.ctx.jobs.drain();
    expect(bodies.some((body) => body.includes('hooked@example.org'))).toBe(true);
    await page.reload();
    const log = page.getByRole('table');
    expect(await log.textContent()).toContain('person.created');
    expect(await log.textContent()).toContain('delivered');
  });

  it('the API docs page is readable and accessible', async () => {
    await page.goto('/api/v1/docs');
    await page.getByRole('heading', { level: 3, name: 'POST /api/v1/people/person_signup_helper' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
  });
});
