import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonInput } from '../../src/people/index.ts';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Reads the API the way an OSDI client does: only through links, with the key header. */
describe('OSDI API contract', () => {
  let t: TestApp;
  let writeKey: string;
  let petitionId: string;
  const publicUrl = 'https://act.example.org';

  async function get(href: string, key = writeKey) {
    const url = href.startsWith('http') ? href.slice(publicUrl.length) : href;
    const response = await t.app.inject({ method: 'GET', url, headers: { 'osdi-api-token': key } });
    return {
      status: response.statusCode,
      type: response.headers['content-type'],
      body: response.json() as Json,
    };
  }

  async function send(method: 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
    const response = await t.app.inject({
      method,
      url,
      headers: { 'osdi-api-token': writeKey },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: response.statusCode, body: response.json() as Json };
  }

  beforeAll(async () => {
    t = await createTestApp({ PUBLIC_URL: publicUrl });
    writeKey = (await t.services.api.createApiKey({ name: 'contract', scope: 'write', createdBy: null }))
      .secret;
    const inputs: PersonInput[] = [];
    for (let i = 0; i < 120; i++) {
      inputs.push({
        email: `person${String(i).padStart(3, '0')}@example.org`,
        givenName: `Given${i}`,
        familyName: `Family${i}`,
        address: { postalCode: `9410${i % 10}`, locality: 'San Francisco', region: 'CA', country: 'US' },
        tags: i % 2 === 0 ? ['donor'] : [],
        lists: i < 10 ? ['newsletter'] : [],
        customFields: { shirt: 'M' },
        subscribe: true,
      });
    }
    await t.ctx.db.transaction().execute((trx) => t.services.people.mergePeople(trx, inputs));
    // 30 of them were last changed in 2025, so date filters have something to tell apart.
    const old = inputs.slice(0, 30).map((p) => p.email);
    const ids = await t.ctx.db.selectFrom('emails').select('person_id').where('address', 'in', old).execute();
    await t.ctx.db
      .updateTable('people')
      .set({ updated_at: '2025-06-01T12:00:00.000Z' })
      .where(
        'id',
        'in',
        ids.map((r) => r.person_id),
      )
      .execute();
    const petition = await t.services.petitions.createPetition({
      slug: 'fund-the-library',
      title: 'Fund the library',
      summary: 'Keep it open',
      body: 'The **library** matters.',
      requiresConfirmation: false,
      altchaEnabled: true,
      targets: [{ name: 'Jane Mayor', title: 'Mayor' }],
    });
    petitionId = petition.row.id;
    await t.services.petitions.publishPetition(petitionId);
    await t.services.mailings.createMailing({
      fromName: 'Org',
      fromAddress: 'org@example.org',
      subject: 'Sign for the library',
      body: 'Hello',
      format: 'markdown',
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('the entry point links to every collection, and each answers HAL with only its items array embedded', async () => {
    const aep = await get('/api/v1');
    expect(aep.status).toBe(200);
    expect(aep.type).toMatch(/^application\/hal\+json/);
    expect(aep.body._links.curies[0]).toMatchObject({ name: 'osdi', templated: true });
    // Every collection link the entry point has (helpers are for POST), each followed below.
    const collections = Object.keys(aep.body._links).filter(
      (rel) => rel.startsWith('osdi:') && !rel.endsWith('_helper'),
    );
    expect(collections.sort()).toEqual(
      [
        'osdi:people',
        'osdi:tags',
        'osdi:lists',
        'osdi:petitions',
        'osdi:signatures',
        'osdi:messages',
        'osdi:events',
      ].sort(),
    );
    const helper = aep.body._links['osdi:person_signup_helper'].href as string;
    expect(helper).toBe(`${publicUrl}/api/v1/people/person_signup_helper`);
    for (const rel of collections) {
      const key = rel;
      const href = aep.body._links[rel]?.href as string;
      expect(href, rel).toMatch(/^https:\/\/act\.example\.org\/api\/v1\//);
      const page = await get(href);
      expect(page.status, rel).toBe(200);
      expect(page.type).toMatch(/^application\/hal\+json/);
      expect(Object.keys(page.body._embedded)).toEqual([key]);
      expect(page.body).toMatchObject({ page: 1, per_page: 25 });
      expect(page.body._links.self.href).toContain('page=1');
      // Every item's self link answers, and so does every link the item carries.
      for (const item of (page.body._embedded[key] as Json[]).slice(0, 2)) {
        for (const [name, link] of Object.entries(item._links as Record<string, { href: string }>)) {
          const target = await get(link.href);
          expect(target.status, `${rel} item ${name}`).toBe(200);
        }
        expect(item.identifiers[0]).toMatch(/^undersign:/);
      }
    }
  });

  it('a person carries OSDI field names and nothing outside the schema', async () => {
    const list = await get('/api/v1/people?per_page=1');
    const person = list.body._embedded['osdi:people'][0] as Json;
    expect(Object.keys(person).sort()).toEqual(
      [
        '_links',
        'created_date',
        'custom_fields',
        'email_addresses',
        'family_name',
        'given_name',
        'identifiers',
        'languages_spoken',
        'modified_date',
        'phone_numbers',
        'postal_addresses',
      ].sort(),
    );
    expect(person.email_addresses[0]).toEqual({
      address: 'person000@example.org',
      primary: true,
      status: 'subscribed',
    });
    expect(person.postal_addresses[0]).toMatchObject({
      postal_code: '94100',
      locality: 'San Francisco',
      region: 'CA',
      country: 'US',
    });
    expect(person.custom_fields).toEqual({ shirt: 'M' });
  });

  it('pages through 120 people with next links carrying page=, each person once, in a stable order', async () => {
    const seen: string[] = [];
    let href: string | undefined = '/api/v1/people';
    let pages = 0;
    let total = 0;
    while (href) {
      const page = await get(href);
      expect(page.status).toBe(200);
      total = page.body.total_records;
      expect(page.body.total_pages).toBe(Math.ceil(total / 25));
      for (const person of page.body._embedded['osdi:people'] as Json[]) seen.push(person.identifiers[0]);
      href = page.body._links.next?.href;
      if (href) expect(href).toMatch(/[?&]page=\d+/);
      if (pages > 0) expect(page.body._links.prev.href).toContain(`page=${pages}`);
      pages++;
    }
    expect(total).toBe(120);
    expect(pages).toBe(5);
    expect(new Set(seen).size).toBe(120);
    const again = await get('/api/v1/people?page=2');
    expect(again.body._embedded['osdi:people'].map((p: Json) => p.identifiers[0])).toEqual(
      seen.slice(25, 50),
    );
  });

  it('a page past the end is 200 with an empty array; per_page is capped at the maximum', async () => {
    const past = await get('/api/v1/people?page=99');
    expect(past.status).toBe(200);
    expect(past.body._embedded['osdi:people']).toEqual([]);
    expect(past.body.total_records).toBe(120);
    const big = await get('/api/v1/people?per_page=1000');
    expect(big.body.per_page).toBe(25);
    expect(big.body._embedded['osdi:people']).toHaveLength(25);
    const bad = await get('/api/v1/people?page=0');
    expect(bad.status).toBe(400);
    expect(typeof bad.body.error).toBe('string');
  });

  it('filters people by modified_date with filter and $filter (gt, lt, eq), and rejects other filters', async () => {
    const before = await get(`/api/v1/people?filter=${encodeURIComponent("modified_date lt '2026-01-01'")}`);
    expect(before.body.total_records).toBe(30);
    const after = await get(`/api/v1/people?$filter=${encodeURIComponent("modified_date gt '2026-01-01'")}`);
    expect(after.body.total_records).toBe(90);
    expect(after.body._links.next.href).toContain('filter=');
    const next = await get(after.body._links.next.href);
    expect(next.body.total_records).toBe(90);
    const day = await get(`/api/v1/people?filter=${encodeURIComponent("modified_date eq '2025-06-01'")}`);
    expect(day.body.total_records).toBe(30);
    for (const p of day.body._embedded['osdi:people'] as Json[])
      expect(p.modified_date).toBe('2025-06-01T12:00:00.000Z');
    const bad = await get(`/api/v1/people?filter=${encodeURIComponent("given_name eq 'x'")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/not supported/);
    const badDate = await get(`/api/v1/people?filter=${encodeURIComponent("modified_date gt 'soon'")}`);
    expect(badDate.status).toBe(400);
  });

  it('the signup helper, run twice on both paths, makes one person; created_date equals modified_date', async () => {
    const before = await t.services.people.countPeople();
    const body = {
      person: {
        given_name: 'Ada',
        family_name: 'Lovelace',
        email_addresses: [{ address: 'Ada@Example.org', status: 'subscribed' }],
        postal_addresses: [{ postal_code: '10001', locality: 'New York', region: 'NY', country: 'US' }],
        phone_numbers: [{ number: '+1 555 0100' }],
        custom_fields: { volunteer: true },
      },
      add_tags: ['volunteer', 'api'],
    };
    const first = await send('POST', '/api/v1/people', body);
    expect(first.status).toBe(200);
    expect(first.body.created_date).toBe(first.body.modified_date);
    expect(first.body.email_addresses).toEqual([
      { address: 'ada@example.org', primary: true, status: 'subscribed' },
    ]);
    const second = await send('POST', '/api/v1/people/person_signup_helper', body);
    expect(second.status).toBe(200);
    expect(second.body.identifiers).toEqual(first.body.identifiers);
    expect(await t.services.people.countPeople()).toBe(before + 1);
    const id = (first.body.identifiers[0] as string).slice('undersign:'.length);
    const detail = await t.services.people.getPerson(id);
    expect(detail.tags.sort()).toEqual(['api', 'volunteer']);

    // Matched by phone when no email is given; remove_tags removes.
    const byPhone = await send('POST', '/api/v1/people', {
      person: { phone_numbers: [{ number: '+1 (555) 0100' }], family_name: 'Byron' },
      remove_tags: ['api'],
    });
    expect(byPhone.status).toBe(200);
    expect(byPhone.body.identifiers).toEqual(first.body.identifiers);
    expect((await t.services.people.getPerson(id)).tags).toEqual(['volunteer']);
    expect(await t.services.people.countPeople()).toBe(before + 1);
  });

  it('the record signature helper, run twice on both paths, makes one person and one signature', async () => {
    const before = await t.services.people.countPeople();
    const body = {
      person: {
        given_name: 'Grace',
        email_addresses: [{ address: 'grace@example.org' }],
        postal_addresses: [{ postal_code: '02139' }],
      },
      comments: 'Libraries built me.',
      'action_network:referrer_data': { source: 'newsletter-7' },
    };
    const first = await send('POST', `/api/v1/petitions/${petitionId}/signatures`, body);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      comments: 'Libraries built me.',
      referrer_data: { source: 'newsletter-7' },
    });
    const second = await send('POST', `/api/v1/petitions/${petitionId}/record_signature_helper`, {
      ...body,
      'action_network:referrer_data': undefined,
      referrer_data: { source: 'newsletter-7' },
    });
    expect(second.status).toBe(200);
    expect(second.body.identifiers).toEqual(first.body.identifiers);
    expect(await t.services.people.countPeople()).toBe(before + 1);
    const rows = await t.ctx.db
      .selectFrom('signatures')
      .selectAll()
      .where('petition_id', '=', petitionId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.source).toBe('newsletter-7');
    const person = await get(first.body._links['osdi:person'].href);
    expect(person.body.given_name).toBe('Grace');
    expect(person.body.created_date).toBe(person.body.modified_date);
    await t.services.petitions.flushPending();
    const petition = await get(`/api/v1/petitions/${petitionId}`);
    expect(petition.body).toMatchObject({
      title: 'Fund the library',
      total_signatures: 1,
      target: [{ name: 'Jane Mayor', title: 'Mayor' }],
    });
    const signatures = await get(petition.body._links['osdi:signatures'].href);
    expect(signatures.body._embedded['osdi:signatures']).toHaveLength(1);
    const filtered = await get(
      `/api/v1/petitions/${petitionId}/signatures?filter=${encodeURIComponent("modified_date lt '2026-01-01'")}`,
    );
    expect(filtered.body.total_records).toBe(0);
    const all = await get(`/api/v1/signatures?filter=${encodeURIComponent("modified_date gt '2026-01-01'")}`);
    expect(all.body.total_records).toBe(1);
    // eq on the day it was made; $filter as well as filter
    const day = signatures.body._embedded['osdi:signatures'][0].modified_date.slice(0, 10) as string;
    const sameDay = await get(`/api/v1/signatures?filter=${encodeURIComponent(`modified_date eq '${day}'`)}`);
    expect(sameDay.body.total_records).toBe(1);
    const otherDay = await get(
      `/api/v1/signatures?$filter=${encodeURIComponent("modified_date eq '2025-06-01'")}`,
    );
    expect(otherDay.body.total_records).toBe(0);
    const earlier = await get(
      `/api/v1/petitions/${petitionId}/signatures?$filter=${encodeURIComponent("modified_date lt '2026-01-01'")}`,
    );
    expect(earlier.body.total_records).toBe(0);
  });

  it('background_request=true answers 202 at once and the job queue does the work', async () => {
    const response = await send('POST', '/api/v1/people?background_request=true', {
      person: { email_addresses: [{ address: 'later@example.org' }] },
      add_tags: ['queued'],
    });
    expect(response.status).toBe(202);
    expect(await t.services.people.findPersonIdByEmail('later@example.org')).toBeNull();
    const sig = await send('POST', `/api/v1/petitions/${petitionId}/signatures?background_request=true`, {
      person: { email_addresses: [{ address: 'later@example.org' }], given_name: 'Later' },
    });
    expect(sig.status).toBe(202);
    await t.ctx.jobs.drain();
    const id = await t.services.people.findPersonIdByEmail('later@example.org');
    expect(id).not.toBeNull();
    expect((await t.services.people.getPerson(id!)).tags).toEqual(['queued']);
    const rows = await t.ctx.db.selectFrom('signatures').select('id').where('person_id', '=', id!).execute();
    expect(rows).toHaveLength(1);
  });

  it('bad input answers JSON errors with the right status, never 500', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/api/v1/people', { person: { email_addresses: [{ address: 'not-an-email' }] } }, 400],
      ['POST', '/api/v1/people', { person: { given_name: 'Nobody' } }, 400],
      ['POST', '/api/v1/people', { add_tags: ['x'] }, 400],
      [
        'POST',
        '/api/v1/people?background_request=true',
        { person: { email_addresses: [{ address: 'bad' }] } },
        400,
      ],
      [
        'POST',
        '/api/v1/petitions/nope/signatures',
        { person: { email_addresses: [{ address: 'a@example.org' }] } },
        404,
      ],
      ['PUT', '/api/v1/people/nope', { given_name: 'X' }, 404],
      ['POST', '/api/v1/tags', { name: '' }, 400],
      ['POST', '/api/v1/tags/nope/taggings', { _links: { 'osdi:person': { href: 'x' } } }, 404],
    ];
    for (const [method, url, payload, status] of cases) {
      const response = await send(method as 'POST', url, payload);
      expect(response.status, `${method} ${url}`).toBe(status);
      expect(typeof response.body.error, `${method} ${url}`).toBe('string');
    }
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': writeKey, 'content-type': 'application/json' },
      payload: '{"person":',
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error).toBeTruthy();
    const unknown = await get('/api/v1/people/does-not-exist');
    expect(unknown.status).toBe(404);
  });

  it('takes JSON bodies sent as application/hal+json or with a charset, and refuses other types with a 415', async () => {
    const create = (type: string, email: string, payload?: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/people',
        headers: { 'osdi-api-token': writeKey, 'content-type': type },
        payload:
          payload ?? JSON.stringify({ person: { email_addresses: [{ address: email }], given_name: 'Hal' } }),
      });
    for (const [type, email] of [
      ['application/hal+json', 'hal.body@example.org'],
      ['application/hal+json; charset=utf-8', 'hal.charset@example.org'],
      ['application/json; charset=utf-8', 'json.charset@example.org'],
      ['Application/JSON;charset=UTF-8', 'json.upper@example.org'],
    ] as const) {
      const created = await create(type, email);
      expect(created.statusCode, `${type}: ${created.body}`).toBe(200);
      const id = await t.services.people.findPersonIdByEmail(email);
      expect(id, type).toBeTruthy();
      expect((await t.services.people.getPerson(id!)).givenName, type).toBe('Hal');
    }
    const broken = await create('application/hal+json', '', '{"person": ');
    expect(broken.statusCode).toBe(400);
    expect((broken.json() as Json).error).toBeTruthy();
    const text = await create('text/csv', 'csv.body@example.org');
    expect(text.statusCode).toBe(415);
    expect(await t.services.people.findPersonIdByEmail('csv.body@example.org')).toBeFalsy();
  });

  it('PUT replaces names and custom fields; tags, taggings and lists can be created and removed', async () => {
    const id = (await t.services.people.findPersonIdByEmail('person005@example.org'))!;
    const put = await send('PUT', `/api/v1/people/${id}`, {
      given_name: 'Renamed',
      custom_fields: { shirt: 'L', team: 'north' },
    });
    expect(put.status).toBe(200);
    expect(put.body.given_name).toBe('Renamed');
    expect(put.body.custom_fields).toEqual({ shirt: 'L', team: 'north' });
    expect(put.body.modified_date > put.body.created_date).toBe(true);
    const foreign = await send('PUT', `/api/v1/people/${id}`, {
      email_addresses: [{ address: 'person006@example.org' }],
    });
    expect(foreign.status).toBe(400);

    const tag = await send('POST', '/api/v1/tags', { name: 'phonebank' });
    expect(tag.status).toBe(200);
    const taggingsHref = tag.body._links['osdi:taggings'].href as string;
    const tagging = await send('POST', taggingsHref.slice(publicUrl.length), {
      _links: { 'osdi:person': { href: `${publicUrl}/api/v1/people/${id}` } },
    });
    expect(tagging.status).toBe(200);
    const members = await get(taggingsHref);
    expect(members.body.total_records).toBe(1);
    expect(members.body._embedded['osdi:taggings'][0]._links['osdi:person'].href).toContain(id);
    expect((await t.services.people.getPerson(id)).tags).toContain('phonebank');
    const removed = await send('DELETE', tagging.body._links.self.href.slice(publicUrl.length));
    expect(removed.status).toBe(200);
    expect((await t.services.people.getPerson(id)).tags).not.toContain('phonebank');

    const list = await send('POST', '/api/v1/lists', { name: 'Phone tree' });
    expect(list.status).toBe(200);
    const lists = await get('/api/v1/lists');
    expect(lists.body._embedded['osdi:lists'].map((l: Json) => l.name)).toEqual(['newsletter', 'Phone tree']);
    const newsletter = lists.body._embedded['osdi:lists'][0] as Json;
    const items = await get(newsletter._links['osdi:items'].href);
    expect(items.body.total_records).toBe(10);
  });

  it('messages list the mailings', async () => {
    const messages = await get('/api/v1/messages');
    expect(messages.body._embedded['osdi:messages']).toHaveLength(1);
    expect(messages.body._embedded['osdi:messages'][0]).toMatchObject({
      subject: 'Sign for the library',
      from: 'Org <org@example.org>',
      status: 'draft',
    });
  });

  it('pages through every message, past the first few hundred, in a stable order', async () => {
    for (let i = 0; i < 230; i++) {
      await t.services.mailings.createMailing({
        fromName: 'Org',
        fromAddress: 'org@example.org',
        subject: `Update ${i}`,
        body: 'Hello',
        format: 'markdown',
      });
    }
    const first = await get('/api/v1/messages?per_page=25');
    expect(first.body.total_records).toBe(231);
    expect(first.body.total_pages).toBe(10);
    expect(first.body._embedded['osdi:messages'][0].subject).toBe('Sign for the library');
    const last = await get('/api/v1/messages?per_page=25&page=10');
    expect(last.body._embedded['osdi:messages'].map((m: Json) => m.subject)).toEqual(
      [224, 225, 226, 227, 228, 229].map((i) => `Update ${i}`),
    );
  });
});
