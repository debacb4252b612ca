import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

describe('API keys', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await createTestApp({ API_RATE_LIMIT: '8' });
    admin = await signIn(t, 'admin');
  });
  afterAll(async () => {
    await t.close();
  });

  async function createKeyInAdmin(name: string, scope: 'read' | 'write', groupId = ''): Promise<string> {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { cookie: admin.cookie },
      payload: { _csrf: admin.csrf, name, scope, group_id: groupId },
    });
    expect(response.statusCode).toBe(200);
    const match = /value="(us_[A-Za-z0-9_-]+)"/.exec(response.body);
    expect(match, 'the new key is shown once').not.toBeNull();
    return match![1]!;
  }

  it('an admin creates a key that is shown once and stored only as a SHA-256 hash', async () => {
    const secret = await createKeyInAdmin('CRM sync', 'read');
    const rows = await t.ctx.db.selectFrom('api_keys').selectAll().where('name', '=', 'CRM sync').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows[0])).not.toContain(secret);
    const page = await t.app.inject({
      method: 'GET',
      url: '/admin/api-keys',
      headers: { cookie: admin.cookie },
    });
    expect(page.body).toContain('CRM sync');
    expect(page.body).not.toContain(secret);
    const audit = await t.ctx.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'api_key.create')
      .execute();
    expect(audit.map((a) => a.subject_id)).toContain(rows[0]!.id);
  });

  it('organisers and viewers cannot open the keys page, and forms need the CSRF token', async () => {
    const organiser = await signIn(t, 'organiser');
    const page = await t.app.inject({
      method: 'GET',
      url: '/admin/api-keys',
      headers: { cookie: organiser.cookie },
    });
    expect(page.statusCode).toBe(403);
    const noCsrf = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { cookie: admin.cookie },
      payload: { name: 'x', scope: 'read' },
    });
    expect(noCsrf.statusCode).toBe(403);
  });

  it('answers 401 JSON without a key or with a wrong one, and accepts both header forms', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/people' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toMatch(/OSDI-API-Token/);
    const wrong = await t.app.inject({
      method: 'GET',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': 'us_nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(typeof wrong.json().error).toBe('string');

    const secret = await createKeyInAdmin('Reader', 'read');
    const viaHeader = await t.app.inject({
      method: 'GET',
      url: '/api/v1',
      headers: { 'OSDI-API-Token': secret },
    });
    expect(viaHeader.statusCode).toBe(200);
    expect(viaHeader.headers['content-type']).toMatch(/^application\/hal\+json/);
    const viaBearer = await t.app.inject({
      method: 'GET',
      url: '/api/v1',
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(viaBearer.statusCode).toBe(200);
  });

  it('a read key cannot write (403) and nothing is written; a write key can', async () => {
    const reader = await createKeyInAdmin('Read only', 'read');
    const writer = await createKeyInAdmin('Writer', 'write');
    const body = { person: { email_addresses: [{ address: 'reader-test@example.org' }] } };
    const denied = await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': reader },
      payload: body,
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toMatch(/only read/);
    expect(await t.services.people.findPersonIdByEmail('reader-test@example.org')).toBeNull();
    const allowed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': writer },
      payload: body,
    });
    expect(allowed.statusCode).toBe(200);
    expect(await t.services.people.findPersonIdByEmail('reader-test@example.org')).not.toBeNull();
  });

  it('a revoked key is rejected', async () => {
    const secret = await createKeyInAdmin('Old tool', 'read');
    const ok = await t.app.inject({ method: 'GET', url: '/api/v1', headers: { 'osdi-api-token': secret } });
    expect(ok.statusCode).toBe(200);
    const [row] = await t.ctx.db.selectFrom('api_keys').select('id').where('name', '=', 'Old tool').execute();
    const revoke = await t.app.inject({
      method: 'POST',
      url: `/admin/api-keys/${row!.id}/revoke`,
      headers: { cookie: admin.cookie },
      payload: { _csrf: admin.csrf },
    });
    expect(revoke.statusCode).toBe(200);
    expect(revoke.body).toContain('Key revoked');
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/v1',
      headers: { 'osdi-api-token': secret },
    });
    expect(after.statusCode).toBe(401);
  });

  it("a group-limited key sees only its group's people and cannot use anything else", async () => {
    const group = await t.services.groups.createGroup({ name: 'North chapter', level: 'local' });
    const other = await t.services.groups.createGroup({ name: 'South chapter', level: 'local' });
    const [inside, outside] = await t.services.people.mergePeople(t.ctx.db, [
      { email: 'north@example.org', givenName: 'North' },
      { email: 'south@example.org', givenName: 'South' },
    ]);
    await t.services.groups.addMember(group.id, inside!.personId);
    await t.services.groups.addMember(other.id, outside!.personId);
    const secret = await createKeyInAdmin('Chapter tool', 'write', group.id);
    const rows = await t.ctx.db
      .selectFrom('api_keys')
      .select('group_id')
      .where('name', '=', 'Chapter tool')
      .execute();
    expect(rows[0]!.group_id).toBe(group.id);
    const headers = { 'osdi-api-token': secret };

    const list = await t.app.inject({ method: 'GET', url: '/api/v1/people', headers });
    expect(list.statusCode).toBe(200);
    expect(list.json().total_records).toBe(1);
    expect(list.json()._embedded['osdi:people'].map((p: { given_name: string }) => p.given_name)).toEqual([
      'North',
    ]);
    const mine = await t.app.inject({ method: 'GET', url: `/api/v1/people/${inside!.personId}`, headers });
    expect(mine.statusCode).toBe(200);
    const theirs = await t.app.inject({ method: 'GET', url: `/api/v1/people/${outside!.personId}`, headers });
    expect(theirs.statusCode).toBe(404);
    for (const url of ['/api/v1/tags', '/api/v1/petitions', '/api/v1/messages']) {
      const response = await t.app.inject({ method: 'GET', url, headers });
      expect(response.statusCode, url).toBe(403);
    }
    const write = await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers,
      payload: { person: { email_addresses: [{ address: 'new@example.org' }] } },
    });
    expect(write.statusCode).toBe(403);
    // An unlimited key still sees everyone.
    const everyone = await t.app.inject({
      method: 'GET',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': await createKeyInAdmin('Whole org', 'read') },
    });
    expect(everyone.json().total_records).toBeGreaterThanOrEqual(3);
  });

  it('limits requests per key with 429 and Retry-After', async () => {
    const secret = await createKeyInAdmin('Busy tool', 'read');
    const other = await createKeyInAdmin('Calm tool', 'read');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 9; i++) {
      last = await t.app.inject({ method: 'GET', url: '/api/v1', headers: { 'osdi-api-token': secret } });
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.json().error).toMatch(/Too many requests/);
    const calm = await t.app.inject({ method: 'GET', url: '/api/v1', headers: { 'osdi-api-token': other } });
    expect(calm.statusCode).toBe(200);
  });
});
