import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition, sign } from '../mail/fixtures.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

describe('HEAD on GET routes with side effects does not run them', () => {
  let t: TestApp;
  let admin: SignedIn;
  let personId: string;
  let petitionSlug: string;
  let apiKey: string;

  const auditRows = async () => (await t.ctx.db.selectFrom('audit_log').select('action').execute()).length;

  beforeAll(async () => {
    t = await createTestApp();
    const petition = await openPetition(t.services, 'Quiet streets');
    petitionSlug = petition.slug;
    await sign(t.services, petition.slug, 'head.person@example.org', { givenName: 'Hedda' });
    personId = (await t.services.people.findPersonIdByEmail('head.person@example.org'))!;
    admin = await signIn(t, 'admin');
    apiKey = (await t.services.api.createApiKey({ name: 'exports', scope: 'read', createdBy: null })).secret;
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers HEAD on the people export and audited admin pages with 405, writing no audit row', async () => {
    const before = await auditRows();
    for (const url of ['/admin/people/export.csv', `/admin/people/${personId}`, '/admin/people']) {
      const head = await t.app.inject({ method: 'HEAD', url, headers: { cookie: admin.cookie } });
      expect(head.statusCode, url).toBe(405);
      expect(head.headers.allow).toBe('GET');
      expect(head.body).toBe('');
    }
    expect(await auditRows()).toBe(before);

    // The GET still runs the export and is audited.
    const get = await t.app.inject({
      method: 'GET',
      url: '/admin/people/export.csv',
      headers: { cookie: admin.cookie },
    });
    expect(get.statusCode).toBe(200);
    expect(get.body).toContain('head.person@example.org');
    const actions = await t.ctx.db.selectFrom('audit_log').select('action').execute();
    expect(actions.length).toBe(before + 1);
    expect(actions.map((row) => row.action)).toContain('people.export');
  });

  it("answers HEAD on the API's person export with 405, writing no audit row", async () => {
    const before = await auditRows();
    const head = await t.app.inject({
      method: 'HEAD',
      url: `/api/v1/people/${personId}/export`,
      headers: { 'osdi-api-token': apiKey },
    });
    expect(head.statusCode).toBe(405);
    expect(await auditRows()).toBe(before);
  });

  it('refuses HEAD before the API key is checked or marked used', async () => {
    const fresh = await t.services.api.createApiKey({ name: 'unused', scope: 'read', createdBy: null });
    const lastUsed = async () =>
      (
        await t.ctx.db
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('name', '=', 'unused')
          .executeTakeFirstOrThrow()
      ).last_used_at;
    const url = `/api/v1/people/${personId}/export`;
    const head = await t.app.inject({ method: 'HEAD', url, headers: { 'osdi-api-token': fresh.secret } });
    expect(head.statusCode).toBe(405);
    expect(await lastUsed()).toBeNull();
    // Without a key, or with a forged one, HEAD is still 405: no key lookup runs.
    expect((await t.app.inject({ method: 'HEAD', url })).statusCode).toBe(405);
    const forged = await t.app.inject({ method: 'HEAD', url, headers: { 'osdi-api-token': 'forged' } });
    expect(forged.statusCode).toBe(405);
    // A GET with the key runs the check and marks the key used.
    const get = await t.app.inject({ method: 'GET', url, headers: { 'osdi-api-token': fresh.secret } });
    expect(get.statusCode).toBe(200);
    expect(await lastUsed()).not.toBeNull();
  });

  it('refuses HEAD on open and click tracking links, and still answers HEAD on public pages', async () => {
    const pixel = await t.app.inject({ method: 'HEAD', url: '/m/o/some-mailing/some-person/abc.gif' });
    expect(pixel.statusCode).toBe(405);
    const click = await t.app.inject({ method: 'HEAD', url: '/m/c/some-mailing/some-person/abc?u=x' });
    expect(click.statusCode).toBe(405);
    expect(await t.ctx.db.selectFrom('mail_events').select('id').execute()).toEqual([]);
    const page = await t.app.inject({ method: 'HEAD', url: `/petitions/${petitionSlug}` });
    expect(page.statusCode).toBe(200);
  });
});
