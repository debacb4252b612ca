import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { addPeople, openPetition, sign } from './fixtures.ts';

describe('mail audiences', () => {
  let t: TestRuntime;
  let ids: Map<string, string>;
  let petition: { id: string; slug: string };
  const from = {
    fromName: 'Campaign',
    fromAddress: 'news@campaign.example',
    subject: 'Hi',
    body: 'Hello',
    format: 'markdown' as const,
  };

  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_ALTCHA: 'false', SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    ids = await addPeople(t.services, [
      {
        email: 'ana@a.example',
        givenName: 'Ana',
        tags: ['volunteer'],
        lists: ['News'],
        language: 'es',
        address: { postalCode: '10115' },
        subscribe: true,
      },
      {
        email: 'ben@b.example',
        givenName: 'Ben',
        tags: ['volunteer', 'donor'],
        lists: ['News'],
        language: 'en',
        address: { postalCode: '10117' },
        subscribe: true,
      },
      {
        email: 'cy@c.example',
        givenName: 'Cy',
        tags: ['donor'],
        lists: ['Alerts'],
        language: 'en',
        address: { postalCode: '20095' },
        subscribe: true,
      },
      {
        email: 'dee@d.example',
        givenName: 'Dee',
        tags: ['volunteer'],
        lists: ['News', 'Alerts'],
        language: 'es',
        address: { postalCode: '20097' },
        subscribe: true,
      },
      // Never subscribed: never in any audience.
      { email: 'eve@e.example', givenName: 'Eve', tags: ['volunteer'], lists: ['News'], subscribe: false },
      {
        email: 'fay@f.example',
        givenName: 'Fay',
        tags: ['volunteer'],
        lists: ['News'],
        address: { postalCode: '10119' },
        subscribe: true,
      },
    ]);
    petition = await openPetition(t.services);
    // Ben and Dee sign; signing re-merges them, still subscribed.
    await sign(t.services, petition.slug, 'ben@b.example');
    await sign(t.services, petition.slug, 'dee@d.example');
    // Fay's address hard-bounced before: suppressed.
    await t.services.mailings.suppress('fay@f.example', 'bounce', 'test');
  });
  afterAll(async () => {
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
  });

  const count = (audience: object) => t.services.mailings.countAudience(audience);

  it('counts exactly the subscribed, unsuppressed people matching every criterion', async () => {
    expect(await count({})).toBe(4); // ana, ben, cy, dee
    expect(await count({ tags: ['volunteer'] })).toBe(3); // ana, ben, dee (eve unsubscribed, fay suppressed)
    expect(await count({ tags: ['volunteer', 'donor'] })).toBe(4);
    expect(await count({ tags: ['volunteer'], lists: ['Alerts'] })).toBe(1); // dee
    expect(await count({ excludeTags: ['donor'] })).toBe(2); // ana, dee
    expect(await count({ languages: ['es'] })).toBe(2);
    expect(await count({ postalCodes: ['101'] })).toBe(2); // ana, ben
    expect(await count({ postalCodes: ['20095', '10117'] })).toBe(2); // cy, ben
  });

  it('"in district D" uses the organisation-wide postal code → district map', async () => {
    expect(await count({ districts: ['BE-1'] })).toBe(0);
    const result = await t.services.petitions.importDistricts(
      null,
      'postal_code,district_id,district_name\n10115,BE-1,Berlin Mitte\n10117,BE-1,Berlin Mitte\n20095,HH-1,Hamburg\n',
    );
    expect(result.imported).toBe(3);
    expect(await count({ districts: ['BE-1'] })).toBe(2); // ana, ben
    expect(await count({ districts: ['BE-1', 'HH-1'] })).toBe(3); // ana, ben, cy
    expect(await count({ districts: ['BE-1'], languages: ['es'] })).toBe(1); // ana
    expect(await count({ districts: ['NOWHERE'] })).toBe(0);
  });

  it('"signed petition X" and "has NOT signed petition X" split the audience', async () => {
    expect(await count({ signed: [petition.id] })).toBe(2); // ben, dee
    expect(await count({ notSigned: [petition.id] })).toBe(2); // ana, cy
    expect(await count({ notSigned: [petition.id], tags: ['volunteer'] })).toBe(1); // ana
  });

  it('"in district D" also reads the district list an address carries itself', async () => {
    const setDistricts = (email: string, list: string | null) =>
      t.ctx.db
        .updateTable('addresses')
        .set({ district_ids: list })
        .where('person_id', '=', ids.get(email)!)
        .execute();
    await setDistricts('ana@a.example', 'SH-3, XX-9');
    await setDistricts('dee@d.example', '["HH-2","SH-3"]');
    expect(await count({ districts: ['SH-3'] })).toBe(2); // ana, dee
    expect(await count({ districts: ['HH-2'] })).toBe(1); // dee
    expect(await count({ districts: ['H-3'] })).toBe(0); // a whole id, not part of one
    expect(await count({ districts: ['SH-3', 'BE-1'] })).toBe(3); // ana (list and map), ben (map), dee
    expect(await count({ districts: ['SH-3'], signed: [petition.id] })).toBe(1); // dee
    expect(await count({ districts: ['SH-3'], notSigned: [petition.id] })).toBe(1); // ana
    expect(await count({ districts: ['SH-3', 'BE-1'], signed: [petition.id], languages: ['en'] })).toBe(1); // ben
    await setDistricts('ana@a.example', null);
    await setDistricts('dee@d.example', null);
  });

  it('materialises one recipient per person with one INSERT … SELECT, excluding signers', async () => {
    const mailingId = await t.services.mailings.createMailing({
      ...from,
      audience: { notSigned: [petition.id] },
      petitionId: petition.id,
    });
    const n = await t.services.mailings.startSending(mailingId);
    expect(n).toBe(2);
    const rows = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select(['person_id', 'email', 'state'])
      .where('mailing_id', '=', mailingId)
      .orderBy('email')
      .execute();
    expect(rows.map((r) => r.email)).toEqual(['ana@a.example', 'cy@c.example']);
    expect(rows.every((r) => r.state === 'queued')).toBe(true);
    expect(rows.map((r) => r.person_id)).toEqual([ids.get('ana@a.example'), ids.get('cy@c.example')]);
    // Starting twice is refused: the recipients are fixed once sending began.
    await expect(t.services.mailings.startSending(mailingId)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('opened/clicked mailing Y selects people with those events', async () => {
    const [first] = await t.services.mailings.listMailings();
    const ana = ids.get('ana@a.example')!;
    const link = t.services.mailings.tokens.sign('click', first!.id, ana, 'https://example.org/');
    expect(await t.services.mailings.recordClick(first!.id, ana, link, 'https://example.org/')).toBe(
      'https://example.org/',
    );
    expect(await count({ clicked: [first!.id] })).toBe(1);
    expect(await count({ opened: [first!.id] })).toBe(1); // a click counts as an open
    expect(await count({ opened: [first!.id], languages: ['en'] })).toBe(0);
  });

  it('"signed A, not signed B, in district C" counts confirmed signatures only, per person', async () => {
    const a = await openPetition(t.services, 'A');
    const b = await openPetition(t.services, 'B');
    const unconfirmed = await t.services.petitions.createPetition({
      slug: `confirm-${Date.now().toString(36)}`,
      title: 'C',
      requiresConfirmation: true,
      altchaEnabled: false,
    });
    await t.services.petitions.publishPetition(unconfirmed.row.id);
    const c = { id: unconfirmed.row.id, slug: unconfirmed.row.slug };
    await sign(t.services, a.slug, 'ana@a.example');
    await sign(t.services, a.slug, 'cy@c.example');
    await sign(t.services, b.slug, 'cy@c.example');
    // Signed, never confirmed: neither "signed C" nor excluded by "not signed C".
    await sign(t.services, c.slug, 'ana@a.example');
    await sign(t.services, c.slug, 'ben@b.example');
    const rows = await t.ctx.db
      .selectFrom('signatures')
      .select(['person_id', 'confirmed_at'])
      .where('petition_id', '=', c.id)
      .execute();
    expect(rows.map((r) => r.confirmed_at)).toEqual([null, null]);

    // The district map puts ana and ben in BE-1, cy in HH-1; dee is in neither.
    const districts = ['BE-1', 'HH-1'];
    expect(await count({ districts, signed: [a.id] })).toBe(2); // ana, cy
    expect(await count({ districts, signed: [a.id], notSigned: [b.id] })).toBe(1); // ana
    expect(await count({ districts: ['HH-1'], signed: [a.id], notSigned: [b.id] })).toBe(0); // cy signed B
    expect(await count({ districts, signed: [b.id], notSigned: [a.id] })).toBe(0);
    expect(await count({ districts, signed: [a.id, b.id] })).toBe(2); // ana, cy
    expect(await count({ districts, notSigned: [a.id, b.id] })).toBe(1); // ben
    expect(await count({ districts, signed: [c.id] })).toBe(0);
    expect(await count({ districts, notSigned: [c.id] })).toBe(3); // ana, ben, cy
    expect(await count({ districts, signed: [a.id, c.id], notSigned: [b.id] })).toBe(1); // ana
    // Criteria on the person's own record apply on top of the district's narrowed people.
    expect(await count({ districts, signed: [a.id], tags: ['donor'] })).toBe(1); // cy
    expect(await count({ districts, notSigned: [b.id], excludeTags: ['donor'] })).toBe(1); // ana
    expect(await count({ districts, signed: [a.id], languages: ['es'], lists: ['News'] })).toBe(1); // ana
    // The same criteria without a district read the sets whole: same answers.
    expect(await count({ signed: [a.id], notSigned: [b.id] })).toBe(1); // ana
    expect(await count({ notSigned: [a.id, b.id] })).toBe(2); // ben, dee
    expect(await count({ signed: [c.id] })).toBe(0);

    // Sending to "signed A, not signed B, in district C" writes exactly those recipients.
    const mailingId = await t.services.mailings.createMailing({
      ...from,
      audience: { districts, signed: [a.id], notSigned: [b.id] },
    });
    expect(await t.services.mailings.startSending(mailingId)).toBe(1);
    const recipients = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select(['person_id', 'email'])
      .where('mailing_id', '=', mailingId)
      .execute();
    expect(recipients).toEqual([{ person_id: ids.get('ana@a.example'), email: 'ana@a.example' }]);
  });

  it('rejects a malformed audience definition', async () => {
    await expect(count({ tags: 'volunteer' })).rejects.toMatchObject({ code: 'invalid' });
    await expect(count({ nonsense: ['x'] })).rejects.toMatchObject({ code: 'invalid' });
  });
});
