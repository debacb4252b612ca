import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
type Operation = { method: string; path: string };

/** Tables an API write could change: they must stay as they are when a key is refused. */
const watched = [
  'people',
  'emails',
  'tags',
  'taggings',
  'lists',
  'list_members',
  'signatures',
  'rsvps',
  'api_requests',
] as const;

/**
 * Key permissions over every operation the OpenAPI document lists, so a route added later is
 * covered without anyone remembering to add it here.
 */
describe('API key permissions on every operation', () => {
  let t: TestApp;
  let readKey: string;
  let groupKey: string;
  let operations: Operation[];
  const ids: Record<string, string> = {};

  const local = (daysAhead: number, hour: number) => {
    const d = new Date(Date.now() + daysAhead * 86_400_000);
    return `${d.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00`;
  };

  /** The path with real ids, so that a missing check would reach a real record. */
  function concrete(path: string): string {
    return path
      .replace(/^\/api\/v1\/people\/\{id\}/, `/api/v1/people/${ids.person}`)
      .replace(/^\/api\/v1\/tags\/\{id\}/, `/api/v1/tags/${ids.tag}`)
      .replace(/^\/api\/v1\/lists\/\{id\}/, `/api/v1/lists/${ids.list}`)
      .replace(/^\/api\/v1\/petitions\/\{id\}/, `/api/v1/petitions/${ids.petition}`)
      .replace(/^\/api\/v1\/messages\/\{id\}/, `/api/v1/messages/${ids.message}`)
      .replace(/^\/api\/v1\/events\/\{id\}/, `/api/v1/events/${ids.event}`)
      .replace('{personId}', ids.person!)
      .replace('{signatureId}', ids.signature!)
      .replace('{attendanceId}', 'none');
  }

  async function counts(): Promise<Record<string, number>> {
    const result: Record<string, number> = {};
    for (const table of watched) {
      const row = await t.ctx.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow();
      result[table] = Number(row.count);
    }
    return result;
  }

  /** A body each write operation would accept, so a missing check would really write. */
  const body = {
    person: {
      given_name: 'Intruder',
      email_addresses: [{ address: 'intruder@example.org', status: 'subscribed' }],
    },
    add_tags: ['intruded'],
    given_name: 'Intruder',
    name: 'intruded',
    _links: { 'osdi:person': { href: '' } },
  };

  beforeAll(async () => {
    t = await createTestApp({ API_RATE_LIMIT: '10000' });
    readKey = (await t.services.api.createApiKey({ name: 'reader', scope: 'read', createdBy: null })).secret;
    const group = await t.services.groups.createGroup({ name: 'East chapter', level: 'local' });
    const other = await t.services.groups.createGroup({ name: 'West chapter', level: 'local' });
    groupKey = (
      await t.services.api.createApiKey({ name: 'east', scope: 'write', groupId: group.id, createdBy: null })
    ).secret;
    const [east, west] = await t.services.people.mergePeople(t.ctx.db, [
      { email: 'east@example.org', givenName: 'East', tags: ['local'], lists: ['chapter'] },
      { email: 'west@example.org', givenName: 'West' },
    ]);
    await t.services.groups.addMember(group.id, east!.personId);
    await t.services.groups.addMember(other.id, west!.personId);
    ids.person = east!.personId;
    ids.other = west!.personId;
    const petition = await t.services.petitions.createPetition({
      slug: 'permissions',
      title: 'Permissions',
      altchaEnabled: false,
      requiresConfirmation: false,
      formSettings: { postalCode: 'optional' },
    });
    await t.services.petitions.publishPetition(petition.row.id);
    ids.petition = petition.row.id;
    ids.signature = (
      await t.services.petitions.signPetition(
        'permissions',
        { email: 'east@example.org', givenName: 'East' },
        { ip: '192.0.2.9', userAgent: 'test' },
      )
    ).signatureId;
    await t.services.petitions.processPendingIntake();
    const event = await t.services.events.createEvent({
      title: 'Chapter meeting',
      startsLocal: local(3, 18),
      endsLocal: local(3, 19),
      timeZone: 'UTC',
      place: 'Hall',
    });
    ids.event = event.id;
    ids.message = await t.services.mailings.createMailing({
      fromName: 'Org',
      fromAddress: 'org@example.org',
      subject: 'Hi',
      body: 'Hello',
      format: 'markdown',
    });
    const tags = await t.ctx.db.selectFrom('tags').select('id').execute();
    const lists = await t.ctx.db.selectFrom('lists').select('id').execute();
    ids.tag = tags[0]!.id;
    ids.list = lists[0]!.id;
    body._links['osdi:person'].href = `http://localhost/api/v1/people/${ids.person}`;

    const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it('a read key is refused every write operation (also in the background) and nothing changes', async () => {
    const writes = operations.filter((o) => o.method !== 'GET');
    // people, tags, taggings, lists, signatures, attendances: helpers, creation, update and removal
    expect(writes.length).toBeGreaterThanOrEqual(10);
    const before = await counts();
    for (const { method, path } of writes) {
      for (const query of ['', '?background_request=true']) {
        const response = await t.app.inject({
          method: method as 'POST',
          url: concrete(path) + query,
          headers: { 'osdi-api-token': readKey },
          payload: body,
        });
        expect(response.statusCode, `${method} ${path}${query}`).toBe(403);
        expect(response.json().error, `${method} ${path}`).toMatch(/can only read/);
      }
    }
    await t.ctx.jobs.drain();
    expect(await counts()).toEqual(before);
    expect((await t.services.people.getPerson(ids.person!)).givenName).toBe('East');
    // The same key reads everything.
    for (const { path } of operations.filter(
      (o) => o.method === 'GET' && !o.path.includes('{attendanceId}'),
    )) {
      const response = await t.app.inject({
        method: 'GET',
        url: concrete(path),
        headers: { 'osdi-api-token': readKey },
      });
      expect(response.statusCode, path).toBe(200);
    }
  });

  it("a group-limited key reads only its group's people, and every other operation is refused", async () => {
    const headers = { 'osdi-api-token': groupKey };
    const allowed = new Set(['GET /api/v1', 'GET /api/v1/', 'GET /api/v1/people', 'GET /api/v1/people/{id}']);
    const before = await counts();
    for (const { method, path } of operations) {
      if (allowed.has(`${method} ${path}`) || path === '/api/v1/openapi.json') continue;
      const response = await t.app.inject({
        method: method as 'GET',
        url: concrete(path),
        headers,
        ...(method === 'GET' ? {} : { payload: body }),
      });
      expect(response.statusCode, `${method} ${path}`).toBe(403);
    }
    expect(await counts()).toEqual(before);
    for (const query of [
      '',
      `?filter=${encodeURIComponent("modified_date gt '2000-01-01'")}`,
      `?$filter=${encodeURIComponent("modified_date gt '2000-01-01'")}`,
    ]) {
      const list = await t.app.inject({ method: 'GET', url: `/api/v1/people${query}`, headers });
      expect(list.statusCode, query).toBe(200);
      expect(list.json().total_records, query).toBe(1);
      expect(list.json()._embedded['osdi:people'][0].given_name).toBe('East');
    }
    const theirs = await t.app.inject({ method: 'GET', url: `/api/v1/people/${ids.other}`, headers });
    expect(theirs.statusCode).toBe(404);
    const mine = await t.app.inject({ method: 'GET', url: `/api/v1/people/${ids.person}`, headers });
    expect(mine.statusCode).toBe(200);
  });
});
