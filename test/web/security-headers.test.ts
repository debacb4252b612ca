import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { registeredRoutes } from '../helpers/routes.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition } from '../petitions/helpers.ts';

type T = Awaited<ReturnType<typeof createTestApp>>;

function scriptSources(csp: string | undefined): string {
  return /script-src ([^;]+)/.exec(csp ?? '')?.[1] ?? '';
}

describe('security headers on every response', () => {
  let t: T;
  let owner: SignedIn;
  let slug: string;
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    owner = await signIn(t, 'owner');
    slug = (await openPetition(t)).row.slug;
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('refuses inline scripts and framing on public, admin, API, asset and error responses', async () => {
    const apiKey = (await t.services.api.createApiKey({ name: 'h', scope: 'read', createdBy: null })).secret;
    const requests = [
      { url: '/' },
      { url: `/petitions/${slug}` },
      { url: '/admin/login' },
      { url: '/admin', headers: { cookie: owner.cookie } },
      { url: '/admin/people', headers: { cookie: owner.cookie } },
      { url: '/api/v1/people', headers: { 'osdi-api-token': apiKey } },
      { url: '/static/app.css' },
      { url: '/petitions/-/petition.js' },
      { url: '/no/such/page' },
      { url: `/petitions/${slug}/count.json` },
    ];
    for (const request of requests) {
      const response = await t.app.inject({ method: 'GET', ...request });
      const where = `${request.url} (${response.statusCode})`;
      expect(response.statusCode, where).toBeLessThan(500);
      const csp = response.headers['content-security-policy'] as string | undefined;
      expect(scriptSources(csp), where).toBe("'self'");
      expect(csp, where).not.toContain('unsafe-inline');
      expect(csp, where).toContain("frame-ancestors 'none'");
      expect(csp, where).toContain("object-src 'none'");
      expect(response.headers['x-frame-options'], where).toBe('DENY');
      expect(response.headers['x-content-type-options'], where).toBe('nosniff');
      expect(response.headers['referrer-policy'], where).toBe('same-origin');
      expect(response.headers['strict-transport-security'], where).toBeUndefined(); // plain http
    }
    const admin = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie: owner.cookie } });
    expect(admin.headers['cache-control']).toBe('no-store');
  });

  it('lets other sites frame the petition widget, its form answers and its thank-you page only', async () => {
    const embed = await t.app.inject({ method: 'GET', url: `/petitions/${slug}/embed` });
    expect(embed.statusCode).toBe(200);
    expect(embed.headers['content-security-policy']).toContain('frame-ancestors *');
    expect(scriptSources(embed.headers['content-security-policy'] as string)).toBe("'self'");
    expect(embed.headers['x-frame-options']).toBeUndefined();

    const invalid = await t.app.inject({
      method: 'POST',
      url: `/petitions/${slug}/sign`,
      headers: { accept: 'text/html' },
      payload: { email: 'not an address', given_name: 'Ann' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.headers['x-frame-options']).toBeUndefined();
    expect(invalid.headers['content-security-policy']).toContain('frame-ancestors *');

    const thanks = await t.app.inject({ method: 'GET', url: `/petitions/${slug}/thanks?status=signed` });
    expect(thanks.statusCode).toBe(200);
    expect(thanks.headers['x-frame-options']).toBeUndefined();

    const page = await t.app.inject({ method: 'GET', url: `/petitions/${slug}` });
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  it('sends HSTS only when the request came over TLS through a trusted proxy', async () => {
    const untrusted = await t.app.inject({
      method: 'GET',
      url: '/',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(untrusted.headers['strict-transport-security']).toBeUndefined();

    const proxied = await createTestApp({ TRUST_PROXY: 'true' });
    try {
      const overTls = await proxied.app.inject({
        method: 'GET',
        url: '/',
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(overTls.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      const overHttp = await proxied.app.inject({
        method: 'GET',
        url: '/',
        headers: { 'x-forwarded-proto': 'http' },
      });
      expect(overHttp.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await proxied.services.petitions.close();
      await proxied.close();
    }
  });

  it('serves no page with an inline script, event handler or style attribute (every GET route without parameters)', async () => {
    const offenders: string[] = [];
    let pagesChecked = 0;
    const paths = registeredRoutes(t.app)
      .filter((r) => r.method === 'GET' && !r.url.includes(':') && !r.url.includes('*'))
      .map((r) => r.url);
    expect(paths.length).toBeGreaterThan(20);
    for (const url of paths) {
      const response = await t.app.inject({ method: 'GET', url, headers: { cookie: owner.cookie } });
      if (!String(response.headers['content-type'] ?? '').includes('html')) continue;
      pagesChecked++;
      if (/<script(?![^>]*\ssrc=)[^>]*>/i.test(response.body)) offenders.push(`${url}: inline script`);
      if (/<[^>]+\son[a-z]+\s*=/i.test(response.body)) offenders.push(`${url}: event handler attribute`);
      if (/<[^>]+\sstyle\s*=/i.test(response.body)) offenders.push(`${url}: style attribute`);
    }
    expect(offenders).toEqual([]);
    expect(pagesChecked).toBeGreaterThan(15);
  });

  it('keeps inline scripts and event handlers out of the pages', async () => {
    const pages = [
      await t.app.inject({ method: 'GET', url: `/petitions/${slug}` }),
      await t.app.inject({ method: 'GET', url: `/petitions/${slug}/embed` }),
      await t.app.inject({ method: 'GET', url: '/admin/people', headers: { cookie: owner.cookie } }),
      await t.app.inject({ method: 'GET', url: '/admin/mailings/new', headers: { cookie: owner.cookie } }),
    ];
    for (const page of pages) {
      expect(page.statusCode).toBeLessThan(400);
      expect(page.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
      expect(page.body).not.toMatch(/\son[a-z]+\s*=/i);
      expect(page.body).not.toMatch(/\sstyle="/i);
    }
  });
});
