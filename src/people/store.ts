import { sql, type Expression, type ExpressionBuilder, type Insertable, type SqlBool } from 'kysely';
import {
  likeEscape,
  type ActivityRow,
  type ActivityTable,
  type AddressRow,
  type AddressesTable,
  type ConsentsTable,
  type Database,
  type EmailRow,
  type EmailsTable,
  type Executor,
  type ListMembersTable,
  type PeopleTable,
  type PersonRow,
  type PersonUpdate,
  type PhoneRow,
  type PhonesTable,
  type TaggingsTable,
} from '../db/index.ts';
import { newId } from '../ids.ts';

/*
 * Every SQL statement about people. Multi-row inserts are split so that one statement stays under
 * SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
 */

const maxParams = 30_000;

function chunks<T>(rows: readonly T[], columns: number): T[][] {
  const size = Math.max(1, Math.min(1000, Math.floor(maxParams / columns)));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

// ---- transactions ----------------------------------------------------------------------------

/** Savepoints let a merge retry after a unique violation without aborting the caller's transaction. */
export async function savepoint(trx: Executor, name: string): Promise<void> {
  await sql`savepoint ${sql.id(name)}`.execute(trx);
}
export async function releaseSavepoint(trx: Executor, name: string): Promise<void> {
  await sql`release savepoint ${sql.id(name)}`.execute(trx);
}
export async function rollbackToSavepoint(trx: Executor, name: string): Promise<void> {
  await sql`rollback to savepoint ${sql.id(name)}`.execute(trx);
}

// ---- lookups used by the merge -----------------------------------------------------------------

export function findEmailsByAddresses(
  db: Executor,
  addresses: readonly string[],
): Promise<Pick<EmailRow, 'id' | 'person_id' | 'address' | 'status'>[]> {
  if (addresses.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('emails')
    .select(['id', 'person_id', 'address', 'status'])
    .where('address', 'in', addresses)
    .execute();
}

export function findPeopleByIds(db: Executor, ids: readonly string[]): Promise<PersonRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('people').selectAll().where('id', 'in', ids).execute();
}

export function findAddressesByPersonIds(db: Executor, ids: readonly string[]): Promise<AddressRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('addresses')
    .selectAll()
    .where('person_id', 'in', ids)
    .orderBy('is_primary', 'desc')
    .orderBy('id')
    .execute();
}

export function findPhonesByPersonIds(db: Executor, ids: readonly string[]): Promise<PhoneRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('phones')
    .selectAll()
    .where('person_id', 'in', ids)
    .orderBy('is_primary', 'desc')
    .orderBy('id')
    .execute();
}

export function findTaggingsByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; tag_id: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('taggings').select(['person_id', 'tag_id']).where('person_id', 'in', ids).execute();
}

export function findListMembershipsByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; list_id: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('list_members')
    .select(['person_id', 'list_id'])
    .where('person_id', 'in', ids)
    .execute();
}

/** Ids of the named tags, creating the missing ones (safe against a concurrent creator). */
export async function ensureTags(
  db: Executor,
  names: readonly string[],
  now: string,
): Promise<Map<string, string>> {
  return ensureNamed(db, 'tags', names, now);
}

export async function ensureLists(
  db: Executor,
  names: readonly string[],
  now: string,
): Promise<Map<string, string>> {
  return ensureNamed(db, 'lists', names, now);
}

async function ensureNamed(
  db: Executor,
  table: 'tags' | 'lists',
  names: readonly string[],
  now: string,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  if (names.length === 0) return ids;
  const select = () =>
    db
      .selectFrom(table)
      .select(['id', 'name'])
      .where('name', 'in', [...names])
      .execute();
  for (const row of await select()) ids.set(row.name, row.id);
  const missing = names.filter((name) => !ids.has(name));
  if (missing.length === 0) return ids;
  await db
    .insertInto(table)
    .values(missing.map((name) => ({ id: newId(), name, created_at: now })))
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  for (const row of await select()) ids.set(row.name, row.id);
  return ids;
}

// ---- multi-row inserts ----------------------------------------------------------------------

export async function insertPeople(db: Executor, rows: readonly Insertable<PeopleTable>[]): Promise<void> {
  for (const part of chunks(rows, 8)) await db.insertInto('people').values(part).execute();
}

export async function insertEmails(db: Executor, rows: readonly Insertable<EmailsTable>[]): Promise<void> {
  for (const part of chunks(rows, 7)) await db.insertInto('emails').values(part).execute();
}

export async function insertAddresses(
  db: Executor,
  rows: readonly Insertable<AddressesTable>[],
): Promise<void> {
  for (const part of chunks(rows, 11)) await db.insertInto('addresses').values(part).execute();
}

export async function insertPhones(db: Executor, rows: readonly Insertable<PhonesTable>[]): Promise<void> {
  for (const part of chunks(rows, 5)) await db.insertInto('phones').values(part).execute();
}

export async function insertTaggings(
  db: Executor,
  rows: readonly Insertable<TaggingsTable>[],
): Promise<void> {
  for (const part of chunks(rows, 3)) {
    await db
      .insertInto('taggings')
      .values(part)
      .onConflict((oc) => oc.columns(['tag_id', 'person_id']).doNothing())
      .execute();
  }
}

export async function insertListMembers(
  db: Executor,
  rows: readonly Insertable<ListMembersTable>[],
): Promise<void> {
  for (const part of chunks(rows, 3)) {
    await db
      .insertInto('list_members')
      .values(part)
      .onConflict((oc) => oc.columns(['list_id', 'person_id']).doNothing())
      .execute();
  }
}

export async function insertConsents(
  db: Executor,
  rows: readonly Insertable<ConsentsTable>[],
): Promise<void> {
  for (const part of chunks(rows, 8)) await db.insertInto('consents').values(part).execute();
}

export async function insertActivities(
  db: Executor,
  rows: readonly Insertable<ActivityTable>[],
): Promise<void> {
  for (const part of chunks(rows, 6)) await db.insertInto('activity').values(part).execute();
}

// ---- updates --------------------------------------------------------------------------------

export async function updatePerson(db: Executor, id: string, patch: PersonUpdate): Promise<void> {
  await db.updateTable('people').set(patch).where('id', '=', id).execute();
}

export async function updateAddress(
  db: Executor,
  id: string,
  patch: Partial<
    Pick<AddressRow, 'street' | 'locality' | 'region' | 'postal_code' | 'country' | 'updated_at'>
  >,
): Promise<void> {
  await db.updateTable('addresses').set(patch).where('id', '=', id).execute();
}

export async function updateEmailStatus(
  db: Executor,
  id: string,
  status: string,
  now: string,
): Promise<void> {
  await db.updateTable('emails').set({ status, updated_at: now }).where('id', '=', id).execute();
}

// ---- search ---------------------------------------------------------------------------------

export interface PeopleFilterValues {
  /** Lower-cased text to find in the name or an email address. */
  q?: string | undefined;
  /** A normalised email address. */
  email?: string | undefined;
  tag?: string | undefined;
  /** Normalised postal code prefix. */
  postalCode?: string | undefined;
}

function peopleWhere(eb: ExpressionBuilder<Database, 'people'>, f: PeopleFilterValues): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  if (f.q) {
    const pattern = `%${likeEscape(f.q)}%`;
    conditions.push(
      eb.or([
        sql<SqlBool>`lower(coalesce(people.given_name, '') || ' ' || coalesce(people.family_name, '')) like ${pattern} escape '\\'`,
        eb.exists(
          eb
            .selectFrom('emails')
            .select(sql<number>`1`.as('one'))
            .whereRef('emails.person_id', '=', 'people.id')
            .where(sql<SqlBool>`emails.address like ${pattern} escape '\\'`),
        ),
      ]),
    );
  }
  if (f.email) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('emails')
          .select(sql<number>`1`.as('one'))
          .whereRef('emails.person_id', '=', 'people.id')
          .where('emails.address', '=', f.email),
      ),
    );
  }
  if (f.tag) {
    const tag = f.tag.toLowerCase();
    conditions.push(
      eb.exists(
        eb
          .selectFrom('taggings')
          .innerJoin('tags', 'tags.id', 'taggings.tag_id')
          .select(sql<number>`1`.as('one'))
          .whereRef('taggings.person_id', '=', 'people.id')
          .where(sql<SqlBool>`lower(tags.name) = ${tag}`),
      ),
    );
  }
  if (f.postalCode) {
    const pattern = `${likeEscape(f.postalCode)}%`;
    conditions.push(
      eb.exists(
        eb
          .selectFrom('addresses')
          .select(sql<number>`1`.as('one'))
          .whereRef('addresses.person_id', '=', 'people.id')
          .where(sql<SqlBool>`addresses.postal_code like ${pattern} escape '\\'`),
      ),
    );
  }
  return eb.and(conditions);
}

/** One page of matching people, newest first (ids are time-ordered, so the order is stable). */
export function listPeoplePage(
  db: Executor,
  filters: PeopleFilterValues,
  limit: number,
  offset: number,
): Promise<PersonRow[]> {
  return db
    .selectFrom('people')
    .selectAll()
    .where((eb) => peopleWhere(eb, filters))
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countPeopleMatching(db: Executor, filters: PeopleFilterValues): Promise<number> {
  const row = await db
    .selectFrom('people')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where((eb) => peopleWhere(eb, filters))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Keyset paging in id order for streaming: the next `limit` people after `afterId`. */
export function listPeopleAfter(
  db: Executor,
  filters: PeopleFilterValues,
  afterId: string | null,
  limit: number,
): Promise<PersonRow[]> {
  let query = db
    .selectFrom('people')
    .selectAll()
    .where((eb) => peopleWhere(eb, filters));
  if (afterId !== null) query = query.where('people.id', '>', afterId);
  return query.orderBy('people.id').limit(limit).execute();
}

export async function countAllPeople(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('people')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

// ---- details --------------------------------------------------------------------------------

export function findPersonById(db: Executor, id: string): Promise<PersonRow | undefined> {
  return db.selectFrom('people').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findEmailsByPersonIds(db: Executor, ids: readonly string[]): Promise<EmailRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('emails')
    .selectAll()
    .where('person_id', 'in', ids)
    .orderBy('is_primary', 'desc')
    .orderBy('id')
    .execute();
}

export function findTagNamesByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; name: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('taggings')
    .innerJoin('tags', 'tags.id', 'taggings.tag_id')
    .select(['taggings.person_id', 'tags.name'])
    .where('taggings.person_id', 'in', ids)
    .orderBy('tags.name')
    .execute();
}

export function findListNamesByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; name: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('list_members')
    .innerJoin('lists', 'lists.id', 'list_members.list_id')
    .select(['list_members.person_id', 'lists.name'])
    .where('list_members.person_id', 'in', ids)
    .orderBy('lists.name')
    .execute();
}

export function findConsentsByPersonId(db: Executor, id: string) {
  return db
    .selectFrom('consents')
    .leftJoin('emails', 'emails.id', 'consents.email_id')
    .select([
      'consents.id',
      'consents.what',
      'consents.granted',
      'consents.source',
      'consents.ip',
      'consents.created_at',
      'emails.address',
    ])
    .where('consents.person_id', '=', id)
    .orderBy('consents.id', 'desc')
    .execute();
}

/** The timeline, newest first (ids are time-ordered). */
export function findActivityByPersonId(db: Executor, id: string, limit: number): Promise<ActivityRow[]> {
  return db
    .selectFrom('activity')
    .selectAll()
    .where('person_id', '=', id)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
