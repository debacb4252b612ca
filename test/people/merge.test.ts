import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

describe('merging people by email', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates a person with email, address, phone, tags, lists, custom fields and a timeline entry', async () => {
    const people = t.services.people;
    const result = await people.mergePersonByEmail(t.ctx.db, {
      email: '  Ada@Example.ORG ',
      givenName: 'Ada',
      familyName: 'Lovelace',
      language: 'en-GB',
      phone: '+44 (0)20 7946-0000',
      address: { street: '1 Analytical Way', locality: 'London', postalCode: 'sw1a  1aa', country: 'GB' },
      tags: ['volunteer', ' volunteer ', 'donor'],
      lists: ['newsletter'],
      customFields: { shirt: 'M', age: 36, blank: '' },
      source: 'test',
    });
    expect(result.created).toBe(true);
    const person = await people.getPerson(result.personId);
    expect(person.givenName).toBe('Ada');
    expect(person.language).toBe('en');
    expect(person.emails).toEqual([
      expect.objectContaining({ address: 'ada@example.org', status: 'unsubscribed', primary: true }),
    ]);
    expect(person.addresses[0]).toMatchObject({ postalCode: 'SW1A 1AA', locality: 'London' });
    expect(person.phones).toEqual([expect.objectContaining({ number: '+4402079460000' })]);
    expect(person.tags).toEqual(['donor', 'volunteer']);
    expect(person.lists).toEqual(['newsletter']);
    expect(person.customFields).toEqual({ shirt: 'M', age: 36 });
    expect(person.consents).toEqual([]);
    expect(person.activity).toEqual([
      expect.objectContaining({ kind: 'created', summary: 'Added from test' }),
    ]);
  });

  it('merges the same email in another case: fills blanks, never erases, appends tags', async () => {
    const people = t.services.people;
    const first = await people.mergePersonByEmail(t.ctx.db, {
      email: 'grace@example.org',
      givenName: 'Grace',
      tags: ['a'],
      customFields: { team: 'navy' },
      address: { locality: 'Arlington' },
    });
    const second = await people.mergePersonByEmail(t.ctx.db, {
      email: 'GRACE@example.org',
      givenName: 'Someone Else',
      familyName: 'Hopper',
      tags: ['b', 'a'],
      customFields: { team: 'army', rank: 'admiral' },
      address: { locality: 'Elsewhere', postalCode: '22201' },
      phone: '555 0100',
    });
    expect(second).toEqual({ personId: first.personId, emailId: first.emailId, created: false });
    const person = await people.getPerson(first.personId);
    expect(person.givenName).toBe('Grace');
    expect(person.familyName).toBe('Hopper');
    expect(person.tags).toEqual(['a', 'b']);
    expect(person.customFields).toEqual({ team: 'navy', rank: 'admiral' });
    expect(person.addresses).toHaveLength(1);
    expect(person.addresses[0]).toMatchObject({ locality: 'Arlington', postalCode: '22201' });
    expect(person.phones.map((p) => p.number)).toEqual(['5550100']);
    expect(person.activity.map((a) => a.kind)).toEqual(['merged', 'created']);
    expect(person.activity[0]!.summary).toContain('filled family name, address, phone');
    expect(person.activity[0]!.summary).toContain('added tags b');
    expect(person.activity[0]!.summary).toContain('added fields rank');

    // Blank and null values never erase what is there.
    await people.mergePersonByEmail(t.ctx.db, {
      email: 'grace@example.org',
      givenName: '',
      familyName: null,
      customFields: { team: null },
    });
    const again = await people.getPerson(first.personId);
    expect(again.givenName).toBe('Grace');
    expect(again.familyName).toBe('Hopper');
    expect(again.customFields).toEqual({ team: 'navy', rank: 'admiral' });
    expect(again.activity[0]!.summary).toContain('nothing new');
  });

  it('subscribes with consent, keeps status without it, and never resubscribes a bounce', async () => {
    const people = t.services.people;
    const a = await people.mergePersonByEmail(t.ctx.db, { email: 'sub@example.org' });
    expect((await people.getPerson(a.personId)).emails[0]!.status).toBe('unsubscribed');
    await people.mergePersonByEmail(t.ctx.db, {
      email: 'sub@example.org',
      subscribe: true,
      consent: { what: 'email', source: 'petition:x', ip: '192.0.2.1' },
    });
    let person = await people.getPerson(a.personId);
    expect(person.emails[0]!.status).toBe('subscribed');
    expect(person.consents).toEqual([
      expect.objectContaining({ what: 'email', granted: true, source: 'petition:x', ip: '192.0.2.1' }),
    ]);
    await people.mergePersonByEmail(t.ctx.db, { email: 'sub@example.org', subscribe: false });
    person = await people.getPerson(a.personId);
    expect(person.emails[0]!.status).toBe('subscribed');

    const b = await people.mergePersonByEmail(t.ctx.db, { email: 'bounce@example.org' });
    await t.ctx.db.updateTable('emails').set({ status: 'bouncing' }).where('id', '=', b.emailId).execute();
    await people.mergePersonByEmail(t.ctx.db, { email: 'bounce@example.org', subscribe: true });
    person = await people.getPerson(b.personId);
    expect(person.emails[0]!.status).toBe('bouncing');
  });

  it('treats the same email twice in one batch as one person', async () => {
    const people = t.services.people;
    const results = await people.mergePeople(t.ctx.db, [
      { email: 'twice@example.org', givenName: 'Tw', tags: ['x'] },
      { email: 'other@example.org' },
      { email: 'TWICE@example.org', familyName: 'Ice', tags: ['y'] },
    ]);
    expect(results[0]!.created).toBe(true);
    expect(results[1]!.created).toBe(true);
    expect(results[2]).toEqual({ ...results[0], created: false });
    const person = await people.getPerson(results[0]!.personId);
    expect(person).toMatchObject({ givenName: 'Tw', familyName: 'Ice', tags: ['x', 'y'] });
    const count = await t.ctx.db
      .selectFrom('emails')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('address', '=', 'twice@example.org')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('makes one person when several merges of one email run at the same time', async () => {
    const people = t.services.people;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        people.mergePersonByEmail(t.ctx.db, {
          email: 'race@example.org',
          tags: [`t${i}`],
          ...(i === 3 ? { givenName: 'Racer' } : {}),
        }),
      ),
    );
    const ids = new Set(results.map((r) => r.personId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const person = await people.getPerson(results[0]!.personId);
    expect(person.tags).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    expect(person.givenName).toBe('Racer');
    expect(person.activity).toHaveLength(6);
  });

  it('joins the caller transaction and rolls back with it', async () => {
    const people = t.services.people;
    await expect(
      t.ctx.db.transaction().execute(async (trx) => {
        await people.mergePersonByEmail(trx, { email: 'rolled@example.org' });
        throw new Error('caller failed');
      }),
    ).rejects.toThrow('caller failed');
    const found = await people.searchPeople({ email: 'rolled@example.org' });
    expect(found.total).toBe(0);
  });

  it('rejects an invalid email with a message for people', async () => {
    const people = t.services.people;
    const attempt = people.mergePersonByEmail(t.ctx.db, { email: 'not an email' });
    await expect(attempt).rejects.toBeInstanceOf(AppError);
    await expect(attempt).rejects.toMatchObject({
      code: 'invalid',
      message: '"not an email" is not a valid email address.',
    });
    await expect(people.mergePersonByEmail(t.ctx.db, { email: '   ' })).rejects.toMatchObject({
      message: 'An email address is required.',
    });
  });

  it('records activity for other capabilities', async () => {
    const people = t.services.people;
    const r = await people.mergePersonByEmail(t.ctx.db, { email: 'act@example.org' });
    await people.addActivity(t.ctx.db, r.personId, 'signed', 'Signed petition "Parks"', {
      petition: 'parks',
    });
    const person = await people.getPerson(r.personId);
    expect(person.activity[0]).toMatchObject({
      kind: 'signed',
      summary: 'Signed petition "Parks"',
      details: { petition: 'parks' },
    });
    await expect(people.getPerson('nope')).rejects.toMatchObject({ code: 'not_found' });
  });
});
