import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition, sign } from '../mail/fixtures.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("API: a person's data export (GET /people/{id}/export) and erasure (DELETE /people/{id})", () => {
  let t: TestApp;
  let rosaId: string;
  let samId: string;
  let petitionId: string;
  const keys: Record<'read' | 'write' | 'group', { id: string; secret: string }> = {} as never;

  const as = (key: keyof typeof keys) => ({ 'osdi-api-token': keys[key].secret });

  /** What the database holds on Rosa and on the petition: must not move when a key is refused. */
  async function snapshot() {
    const db = t.ctx.db;
    return {
      person: await db.selectFrom('people').selectAll().where('id', '=', rosaId).executeTakeFirst(),
      emails: await db
        .selectFrom('emails')
        .select(['address', 'status'])
        .where('person_id', '=', rosaId)
        .execute(),
      signatures: await db.selectFrom('signatures').selectAll().orderBy('id').execute(),
      erasures: (await t.services.auth.listAudit({ subjectType: 'person', subjectId: rosaId })).filter(
        (a) => a.action === 'person.erase',
      ).length,
    };
  }

  beforeAll(async () => {
    t = await createTestApp({ API_RATE_LIMIT: '10000' });
    const petition = await openPetition(t.services, 'Clean air');
    petitionId = petition.id;
    await sign(t.services, petition.slug, 'rosa@example.org', { givenName: 'Rosa' });
    await sign(t.services, petition.slug, 'sam@example.org', { givenName: 'Sam' });
    const group = await t.services.groups.createGroup({ name: 'Riverside', level: 'local' });
    await t.services.groups.joinGroup(
      group.slug,
      { email: 'rosa@example.org', postalCode: '10115' },
      { ip: null },
    );
    rosaId = (await t.services.people.findPersonIdByEmail('rosa@example.org'))!;
    samId = (await t.services.people.findPersonIdByEmail('sam@example.org'))!;
    keys.read = await t.services.api.createApiKey({ name: 'reports', scope: 'read', createdBy: null });
    keys.write = await t.services.api.createApiKey({ name: 'crm sync', scope: 'write', createdBy: null });
    // Limited to the very group Rosa belongs to: still refused, the export and erasure reach beyond it.
    keys.group = await t.services.api.createApiKey({
      name: 'riverside',
      scope: 'write',
      groupId: group.id,
      createdBy: null,
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('documents both operations in the OpenAPI document and on the docs page', async () => {
    const doc = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as Json;
    const erase = doc.paths['/api/v1/people/{id}'].delete;
    expect(erase.responses['200'].content['application/hal+json'].schema.properties.notice).toBeDefined();
    expect(Object.keys(erase.responses)).toEqual(expect.arrayContaining(['200', '403', '404']));
    const exportOp = doc.paths['/api/v1/people/{id}/export'].get;
    expect(Object.keys(exportOp.responses['200'].content)).toEqual(['application/json']);
    expect(Object.keys(exportOp.responses['200'].content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['person', 'signatures', 'rsvps', 'groups', 'emailsSent', 'webhookDeliveries']),
    );
    const docs = await t.app.inject({ url: '/api/v1/docs' });
    expect(docs.body).toContain('DELETE /api/v1/people/{id}');
    expect(docs.body).toContain('GET /api/v1/people/{id}/export');
  });

  it("exports the admin's JSON document with a read key, audited with the key", async () => {
    const admin = await signIn(t, 'admin');
    const fromAdmin = await t.app.inject({
      url: `/admin/people/${rosaId}/data.json`,
      headers: { cookie: admin.cookie },
    });
    const response = await t.app.inject({ url: `/api/v1/people/${rosaId}/export`, headers: as('read') });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const { exportedAt, ...data } = response.json() as Json;
    expect(Date.parse(exportedAt)).not.toBeNaN();
    const { exportedAt: _adminTime, ...adminData } = JSON.parse(fromAdmin.body) as Json;
    expect(data).toEqual(adminData);
    expect(data.person.givenName).toBe('Rosa');
    expect(data.person.emails.map((e: Json) => e.address)).toEqual(['rosa@example.org']);
    expect(data.signatures.map((s: Json) => s.title)).toEqual(['Clean air']);
    expect(data.groups.map((g: Json) => g.name)).toEqual(['Riverside']);

    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: rosaId });
    const byKey = audit.find(
      (a) => a.action === 'person.data_export' && a.user_id === `api_key:${keys.read.id}`,
    );
    expect(JSON.parse(byKey!.details!)).toEqual({ apiKeyId: keys.read.id, apiKeyName: 'reports' });
    // The admin's own export is still audited under the admin, without key details.
    const byAdmin = audit.find((a) => a.action === 'person.data_export' && a.user_id === admin.userId);
    expect(byAdmin!.details).toBeNull();
  });

  it('a read key cannot erase, and nothing changes', async () => {
    const before = await snapshot();
    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/people/${rosaId}`,
      headers: as('read'),
    });
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toMatch(/can only read/);
    expect(await snapshot()).toEqual(before);
  });

  it('a key limited to a group can neither export nor erase, even its own members', async () => {
    const before = await snapshot();
    for (const method of ['DELETE', 'GET'] as const) {
      const url = method === 'GET' ? `/api/v1/people/${rosaId}/export` : `/api/v1/people/${rosaId}`;
      const response = await t.app.inject({ method, url, headers: as('group') });
      expect(response.statusCode, method).toBe(403);
      expect(response.json().error, method).toMatch(/limited to a group/);
    }
    // The privacy service refuses such a key too, whatever route calls it.
    const key = { id: keys.group.id, name: 'riverside', groupId: 'any' };
    await expect(t.services.privacy.erasePerson(rosaId, { apiKey: key })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(t.services.privacy.exportPersonData(rosaId, { apiKey: key })).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(await snapshot()).toEqual(before);
  });

  it('an unknown id answers 404 with a JSON error', async () => {
    for (const [method, url] of [
      ['DELETE', '/api/v1/people/nobody'],
      ['GET', '/api/v1/people/nobody/export'],
    ] as const) {
      const response = await t.app.inject({ method, url, headers: as('write') });
      expect(response.statusCode, method).toBe(404);
      expect(response.headers['content-type'], method).toMatch(/json/);
      expect(response.json().error, method).toMatch(/no person with that id/);
    }
  });

  it('a write key erases: the person is anonymised, counts stay, the erasure names the key', async () => {
    const db = t.ctx.db;
    const signaturesBefore = await db
      .selectFrom('signatures')
      .select(['id', 'person_id'])
      .orderBy('id')
      .execute();
    const samBefore = await db.selectFrom('signatures').selectAll().where('person_id', '=', samId).execute();
    const totalBefore = (await t.services.petitions.getDashboard(petitionId)).exact.total;
    expect(totalBefore).toBe(2);

    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/people/${rosaId}`,
      headers: as('write'),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ notice: "The person's personal data was erased." });

    const person = await db
      .selectFrom('people')
      .selectAll()
      .where('id', '=', rosaId)
      .executeTakeFirstOrThrow();
    expect(person).toMatchObject({ given_name: null, family_name: null, source: null });
    const emails = await db
      .selectFrom('emails')
      .select(['address', 'status'])
      .where('person_id', '=', rosaId)
      .execute();
    expect(emails).toEqual([
      { address: expect.stringMatching(/^erased-.*@erased\.invalid$/), status: 'unsubscribed' },
    ]);
    expect(
      await db.selectFrom('emails').select('id').where('address', '=', 'rosa@example.org').execute(),
    ).toEqual([]);
    expect(await db.selectFrom('addresses').select('id').where('person_id', '=', rosaId).execute()).toEqual(
      [],
    );
    const signature = await db
      .selectFrom('signatures')
      .select(['signer_name', 'postal_code', 'comment', 'ip'])
      .where('person_id', '=', rosaId)
      .executeTakeFirstOrThrow();
    expect(signature).toEqual({ signer_name: 'Erased', postal_code: null, comment: null, ip: null });

    // Counts stay right: the same signature rows, Sam's untouched, the petition's total unchanged.
    expect(await db.selectFrom('signatures').select(['id', 'person_id']).orderBy('id').execute()).toEqual(
      signaturesBefore,
    );
    expect(await db.selectFrom('signatures').selectAll().where('person_id', '=', samId).execute()).toEqual(
      samBefore,
    );
    expect((await t.services.petitions.getDashboard(petitionId)).exact.total).toBe(totalBefore);

    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: rosaId });
    const erasure = audit.find((a) => a.action === 'person.erase');
    expect(erasure!.user_id).toBe(`api_key:${keys.write.id}`);
    expect(JSON.parse(erasure!.details!)).toMatchObject({ apiKeyId: keys.write.id, apiKeyName: 'crm sync' });

    // The anonymised person stays, so the API still finds them, without their data.
    const read = await t.app.inject({ url: `/api/v1/people/${rosaId}`, headers: as('read') });
    expect(read.statusCode).toBe(200);
    expect(read.body).not.toContain('rosa');
    expect(read.body).not.toContain('Rosa');
  });

  it('erasing again answers 200 again, and is audited again', async () => {
    // Sent as clients that put Content-Type: application/json on every request do, without a body.
    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/people/${rosaId}`,
      headers: { ...as('write'), 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(200);
    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: rosaId });
    expect(audit.filter((a) => a.action === 'person.erase')).toHaveLength(2);
    expect((await t.services.petitions.getDashboard(petitionId)).exact.total).toBe(2);
  });
});
