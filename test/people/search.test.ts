import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

/*
 * The admin person search by part of a name or an email address. It is planned from search
 * indexes (migration 0014: FTS5 trigram on SQLite, pg_trgm on PostgreSQL), which must keep up with
 * every change to names and addresses and must never change what a search finds.
 */
describe('person search by part of a name or an email address', () => {
  let t: TestRuntime;
  const ids: Record<string, string> = {};

  async function found(q: string): Promise<string[]> {
    const page = await t.services.people.searchPeople({ q, perPage: 500 });
    expect(page.total).toBe(page.people.length);
    return page.people.map((p) => p.id).sort();
  }

  /** What the search must find: a plain look at every person's name and addresses. */
  async function expected(q: string): Promise<string[]> {
    const needle = q.trim().toLowerCase();
    const people = await t.ctx.db.selectFrom('people').select(['id', 'given_name', 'family_name']).execute();
    const emails = await t.ctx.db.selectFrom('emails').select(['person_id', 'address']).execute();
    return people
      .filter(
        (p) =>
          `${p.given_name ?? ''} ${p.family_name ?? ''}`.toLowerCase().includes(needle) ||
          emails.some((e) => e.person_id === p.id && e.address.includes(needle)),
      )
      .map((p) => p.id)
      .sort();
  }

  beforeAll(async () => {
    t = await createTestRuntime();
    const people = t.services.people;
    const results = await people.mergePeople(t.ctx.db, [
      { email: 'ada@analytical.example', givenName: 'Ada', familyName: 'Lovelace' },
      { email: 'grace.hopper@navy.example', givenName: 'Grace', familyName: 'Hopper' },
      { email: 'alan@bletchley.example', givenName: 'Alan', familyName: 'Turing' },
      { email: 'katherine@nasa.example', givenName: 'Katherine', familyName: 'Johnson' },
      { email: 'nameless@nowhere.example' },
      { email: 'odd%per_cent@quote.example', givenName: 'Say "hi"', familyName: '100%_sure' },
    ]);
    for (const [i, name] of ['ada', 'grace', 'alan', 'katherine', 'nameless', 'odd'].entries()) {
      ids[name] = results[i]!.personId;
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  it('finds a person by part of the name and by part of the email address', async () => {
    expect(await found('lovel')).toEqual([ids.ada]);
    expect(await found('LOVELACE')).toEqual([ids.ada]);
    expect(await found('ada love')).toEqual([ids.ada]); // given and family name together
    expect(await found('analytical.ex')).toEqual([ids.ada]);
    expect(await found('ce.hop')).toEqual([ids.grace]);
    expect(await found('@nowhere')).toEqual([ids.nameless]);
    expect(await found('.example')).toEqual(
      [ids.ada, ids.grace, ids.alan, ids.katherine, ids.nameless, ids.odd].sort(),
    );
    expect(await found('zebra')).toEqual([]);
  });

  it('finds exactly what a look at every name and address finds', async () => {
    for (const q of [
      'a', // too short for trigrams: read everyone
      'an',
      'ing',
      'ce ho', // a name and the start of an address run together: no match
      'lace\nada',
      'e lovelace',
      '%',
      '%_',
      '0%_s',
      'r_c',
      '"hi"',
      'y "h',
      'n@',
      'xx',
    ]) {
      expect(await found(q), q).toEqual(await expected(q));
    }
  });

  it('keeps up with new, renamed, re-addressed and erased people', async () => {
    const db = t.ctx.db;
    const people = t.services.people;
    await people.updatePersonFields(db, ids.alan!, { familyName: 'Kay' });
    expect(await found('turing')).toEqual([]);
    expect(await found('alan kay')).toEqual([ids.alan]);

    // A second address for Katherine, then that address moved to Grace, then removed.
    const now = new Date().toISOString();
    const emailId = newId();
    await db
      .insertInto('emails')
      .values({
        id: emailId,
        person_id: ids.katherine!,
        address: 'kj@langley.example',
        status: 'subscribed',
        is_primary: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    expect(await found('langley')).toEqual([ids.katherine]);
    expect(await found('katherine@nasa')).toEqual([ids.katherine]); // the first address still counts
    await db.updateTable('emails').set({ person_id: ids.grace! }).where('id', '=', emailId).execute();
    expect(await found('langley')).toEqual([ids.grace]);
    expect(await found('katherine')).toEqual([ids.katherine]);
    await db.updateTable('emails').set({ address: 'kj@wallops.example' }).where('id', '=', emailId).execute();
    expect(await found('langley')).toEqual([]);
    expect(await found('wallops')).toEqual([ids.grace]);
    await db.deleteFrom('emails').where('id', '=', emailId).execute();
    expect(await found('wallops')).toEqual([]);
    expect(await found('hopper')).toEqual([ids.grace]);

    const [newcomer] = await people.mergePeople(db, [
      { email: 'radia@spanning.example', givenName: 'Radia', familyName: 'Perlman' },
    ]);
    expect(await found('perlm')).toEqual([newcomer!.personId]);
    expect(await found('spanning')).toEqual([newcomer!.personId]);

    await people.erasePerson(db, ids.ada!);
    expect(await found('lovelace')).toEqual([]);
    expect(await found('analytical')).toEqual([]);

    await db.deleteFrom('emails').where('person_id', '=', newcomer!.personId).execute();
    await db.deleteFrom('people').where('id', '=', newcomer!.personId).execute();
    expect(await found('perlm')).toEqual([]);

    for (const q of ['ing', 'example', 'kay', 'ada', 'er@'])
      expect(await found(q), q).toEqual(await expected(q));
  });
});

describe('looking up people by exact address', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t?.close();
  });

  // On PostgreSQL the trigram index once answered `address = …` too, and the planner took it for
  // the merge's lookup of a batch by exact address: 12 s for 2,500 addresses (migration 0018).
  it.runIf(process.env.DATABASE_URL)(
    'looks up a batch of exact addresses through the unique index, never the trigram index',
    async () => {
      // As in an import: a table of a few thousand addresses, then a batch of new ones.
      await t.services.people.mergePeople(
        t.ctx.db,
        Array.from({ length: 5000 }, (_, i) => ({ email: `earlier${i}@lookup.example` })),
      );
      const addresses = Array.from({ length: 2500 }, (_, i) => `batch${i}@lookup.example`);
      const plan = await sql<{ 'QUERY PLAN': string }>`explain select id, person_id, address, status
        from emails where address in (${sql.join(addresses)})`.execute(t.ctx.db);
      const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(text).not.toMatch(/trgm/);
      const merged = await t.services.people.mergePeople(
        t.ctx.db,
        addresses.map((email) => ({ email })),
      );
      expect(merged.filter((r) => r.created)).toHaveLength(2500);
      const page = await t.services.people.searchPeople({ q: 'batch1499@lookup' });
      expect(page.people.map((p) => p.email)).toEqual(['batch1499@lookup.example']);
    },
  );
});
