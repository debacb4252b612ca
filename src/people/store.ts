import {
  CompiledQuery,
  PostgresAdapter,
  sql,
  type Expression,
  type ExpressionBuilder,
  type Insertable,
  type SelectQueryBuilder,
  type SqlBool,
} from 'kysely';
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
 * Every SQL statement about people. Multi-row inserts stay far under SQLite's 32,766 and
 * PostgreSQL's 65,535 bound parameters (at most 1,000 rows of 11 columns).
 */

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

/**
 * Pads an `in (…)` list to the next of a few sizes by repeating its last value, so batches of
 * varying size share one prepared statement instead of preparing (and holding) one per size.
 */
function padded<T>(values: readonly T[]): T[] {
  const size =
    values.length <= 16 ? values.length : values.length <= 128 ? 128 : values.length <= 1024 ? 1024 : 0;
  const out = [...values];
  while (size && out.length < size) out.push(values[values.length - 1]!);
  return out;
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
    .where('address', 'in', padded(addresses))
    .execute();
}

export function findPeopleByIds(db: Executor, ids: readonly string[]): Promise<PersonRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('people').selectAll().where('id', 'in', padded(ids)).execute();
}

export function findAddressesByPersonIds(db: Executor, ids: readonly string[]): Promise<AddressRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('addresses')
    .selectAll()
    .where('person_id', 'in', padded(ids))
    .orderBy('is_primary', 'desc')
    .orderBy('id')
    .execute();
}

export function findPhonesByPersonIds(db: Executor, ids: readonly string[]): Promise<PhoneRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('phones')
    .selectAll()
    .where('person_id', 'in', padded(ids))
    .orderBy('is_primary', 'desc')
    .orderBy('id')
    .execute();
}

export function findTaggingsByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; tag_id: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('taggings')
    .select(['person_id', 'tag_id'])
    .where('person_id', 'in', padded(ids))
    .execute();
}

export function findListMembershipsByPersonIds(
  db: Executor,
  ids: readonly string[],
): Promise<{ person_id: string; list_id: string }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('list_members')
    .select(['person_id', 'list_id'])
    .where('person_id', 'in', padded(ids))
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
    db.selectFrom(table).select(['id', 'name']).where('name', 'in', padded(names)).execute();
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

const placeholderStyle = new WeakMap<object, 'question' | 'dollar'>();

/** `?` (SQLite) or `$1` (PostgreSQL), read once per database from Kysely's own compiler. */
function styleOf(db: Executor): 'question' | 'dollar' {
  const key = db.getExecutor().adapter;
  let style = placeholderStyle.get(key);
  if (!style) {
    const probe = db.selectFrom('people').select('id').where('id', '=', '').compile().sql;
    style = probe.includes('$1') ? 'dollar' : 'question';
    placeholderStyle.set(key, style);
  }
  return style;
}

function isPostgres(db: Executor): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

const insertSqlCache = new Map<string, string>();

function insertSql(
  style: 'question' | 'dollar',
  table: string,
  columns: readonly string[],
  rows: number,
  conflict: string,
): string {
  // Only SQLite's few fixed shapes are kept; PostgreSQL's sizes vary with every batch.
  const key = `${style}|${table}|${rows}|${conflict}`;
  let text = style === 'question' ? insertSqlCache.get(key) : undefined;
  if (!text) {
    let n = 0;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      tuples.push(`(${columns.map(() => (style === 'dollar' ? `$${++n}` : '?')).join(', ')})`);
    }
    const names = columns.map((c) => `"${c}"`).join(', ');
    text = `insert into "${table}" (${names}) values ${tuples.join(', ')}${conflict}`;
    if (style === 'question') insertSqlCache.set(key, text);
  }
  return text;
}

// SQLite: rows go in statements of these sizes only, so the few distinct statements stay prepared
// (see db/connect.ts) instead of one new statement per batch size. PostgreSQL parses every
// statement anyway, and each one is a round trip: there, one statement takes up to 1,000 rows.
const sqliteStatementSizes = [64, 16, 4, 1];
const postgresStatementRows = 1000;

function flatten<Row extends object>(
  rows: readonly Row[],
  at: number,
  size: number,
  columns: readonly (keyof Row & string)[],
): unknown[] {
  const parameters = new Array<unknown>(size * columns.length);
  let p = 0;
  for (let r = at; r < at + size; r++) {
    const row = rows[r]!;
    for (let c = 0; c < columns.length; c++) parameters[p++] = row[columns[c]!] ?? null;
  }
  return parameters;
}

/**
 * Multi-row insert of plain rows. The hot path of imports: it skips the query builder (whose
 * per-value parsing cost more than the insert itself) for SQL made once per shape.
 */
async function insertRows<Row extends object>(
  db: Executor,
  table: string,
  columns: readonly (keyof Row & string)[],
  rows: readonly Row[],
  conflict = '',
): Promise<void> {
  if (rows.length === 0) return;
  const style = styleOf(db);
  let at = 0;
  if (style === 'dollar') {
    while (at < rows.length) {
      const size = Math.min(postgresStatementRows, rows.length - at);
      const parameters = flatten(rows, at, size, columns);
      await db.executeQuery(CompiledQuery.raw(insertSql(style, table, columns, size, conflict), parameters));
      at += size;
    }
    return;
  }
  for (const size of sqliteStatementSizes) {
    while (rows.length - at >= size) {
      const parameters = flatten(rows, at, size, columns);
      const query = CompiledQuery.raw(insertSql(style, table, columns, size, conflict), parameters);
      await db.executeQuery(query);
      at += size;
    }
  }
}

/** A row with every column given (null where empty). */
export type FullRow<T> = Required<Insertable<T>>;

export function insertPeople(db: Executor, rows: readonly FullRow<PeopleTable>[]): Promise<void> {
  return insertRows(
    db,
    'people',
    ['id', 'given_name', 'family_name', 'language', 'source', 'custom_fields', 'created_at', 'updated_at'],
    rows,
  );
}

export function insertEmails(db: Executor, rows: readonly FullRow<EmailsTable>[]): Promise<void> {
  return insertRows(
    db,
    'emails',
    ['id', 'person_id', 'address', 'status', 'is_primary', 'created_at', 'updated_at'],
    rows,
  );
}

export function insertAddresses(db: Executor, rows: readonly FullRow<AddressesTable>[]): Promise<void> {
  return insertRows(
    db,
    'addresses',
    [
      'id',
      'person_id',
      'street',
      'locality',
      'region',
      'postal_code',
      'country',
      'district_ids',
      'is_primary',
      'created_at',
      'updated_at',
    ],
    rows,
  );
}

export function insertPhones(db: Executor, rows: readonly FullRow<PhonesTable>[]): Promise<void> {
  return insertRows(db, 'phones', ['id', 'person_id', 'number', 'is_primary', 'created_at'], rows);
}

export function insertTaggings(db: Executor, rows: readonly FullRow<TaggingsTable>[]): Promise<void> {
  return insertRows(
    db,
    'taggings',
    ['tag_id', 'person_id', 'created_at'],
    rows,
    ' on conflict ("tag_id", "person_id") do nothing',
  );
}

export function insertListMembers(db: Executor, rows: readonly FullRow<ListMembersTable>[]): Promise<void> {
  return insertRows(
    db,
    'list_members',
    ['list_id', 'person_id', 'created_at'],
    rows,
    ' on conflict ("list_id", "person_id") do nothing',
  );
}

export function insertConsents(db: Executor, rows: readonly FullRow<ConsentsTable>[]): Promise<void> {
  return insertRows(
    db,
    'consents',
    ['id', 'person_id', 'email_id', 'what', 'granted', 'source', 'ip', 'created_at'],
    rows,
  );
}

export function insertActivities(db: Executor, rows: readonly FullRow<ActivityTable>[]): Promise<void> {
  return insertRows(db, 'activity', ['id', 'person_id', 'kind', 'summary', 'details', 'created_at'], rows);
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
  /** Each of these subqueries of person ids must contain the person. */
  within?: readonly PersonIdSet[] | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PersonIdSet = SelectQueryBuilder<any, any, { person_id: string }>;

/**
 * Part of the name ("given family", lower-cased) or of an email address contains `q`. Planned
 * from the search indexes of migration 0014, so only the candidates are read: on PostgreSQL the
 * trigram indexes serve these very LIKEs; on SQLite the FTS5 trigram indexes of names and email
 * addresses narrow the people and the LIKEs then decide, exactly as a scan of every person would. Under three characters
 * there are no trigrams to look up, and SQLite reads everyone.
 */
function textMatches(
  eb: ExpressionBuilder<Database, 'people'>,
  q: string,
  postgres: boolean,
): Expression<SqlBool> {
  const pattern = `%${likeEscape(q)}%`;
  const nameOf = (alias: string) =>
    sql`lower(coalesce(${sql.ref(`${alias}.given_name`)}, '') || ' ' || coalesce(${sql.ref(`${alias}.family_name`)}, ''))`;
  const emailLike = sql<SqlBool>`emails.address like ${pattern} escape '\\'`;
  if (postgres) {
    // lower(address): the trigram index is on that expression, so exact lookups by address never
    // take it (see the 0018 migration); addresses are stored lower-cased, and q is too.
    return sql<SqlBool>`people.id in (
      select named.id from people named where ${nameOf('named')} like ${pattern} escape '\\'
      union select emails.person_id from emails where lower(emails.address) like ${pattern} escape '\\')`;
  }
  const exact = eb.or([
    sql<SqlBool>`${nameOf('people')} like ${pattern} escape '\\'`,
    eb.exists(
      eb
        .selectFrom('emails')
        .select(sql<number>`1`.as('one'))
        .whereRef('emails.person_id', '=', 'people.id')
        .where(emailLike),
    ),
  ]);
  const chars = [...q];
  if (chars.length < 3) return exact;
  // Every trigram of q, each a quoted FTS5 string (the indexes keep no positions, so no phrases).
  const trigrams = new Set(chars.slice(2).map((_, i) => chars.slice(i, i + 3).join('')));
  const match = [...trigrams].map((trigram) => `"${trigram.replaceAll('"', '""')}"`).join(' AND ');
  return eb.and([
    sql<SqlBool>`people.id in (
      select k.person_id from people_search_keys k
      where k.n in (select rowid from people_search where people_search match ${match})
      union all
      select e.person_id from email_search_keys k join emails e on e.id = k.email_id
      where k.n in (select rowid from email_search where email_search match ${match}))`,
    exact,
  ]);
}

function peopleWhere(
  eb: ExpressionBuilder<Database, 'people'>,
  f: PeopleFilterValues,
  postgres: boolean,
): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  if (f.q) conditions.push(textMatches(eb, f.q, postgres));
  // `id in (…)` rather than a correlated `exists`: the database reads the few matching ids from
  // an index instead of probing once per person (0.7 s → ms for an email at 300k people).
  if (f.email) {
    conditions.push(
      eb(
        'people.id',
        'in',
        eb.selectFrom('emails').select('emails.person_id').where('emails.address', '=', f.email),
      ),
    );
  }
  if (f.tag) {
    const tag = f.tag.toLowerCase();
    conditions.push(
      eb(
        'people.id',
        'in',
        eb
          .selectFrom('taggings')
          .select('taggings.person_id')
          .where(
            'taggings.tag_id',
            'in',
            eb
              .selectFrom('tags')
              .select('tags.id')
              .where(sql<SqlBool>`lower(tags.name) = ${tag}`),
          ),
      ),
    );
  }
  if (f.postalCode) {
    const pattern = `${likeEscape(f.postalCode)}%`;
    conditions.push(
      eb(
        'people.id',
        'in',
        eb
          .selectFrom('addresses')
          .select('addresses.person_id')
          .where(sql<SqlBool>`addresses.postal_code like ${pattern} escape '\\'`),
      ),
    );
  }
  for (const set of f.within ?? []) conditions.push(eb('people.id', 'in', set));
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
    .where((eb) => peopleWhere(eb, filters, isPostgres(db)))
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countPeopleMatching(db: Executor, filters: PeopleFilterValues): Promise<number> {
  const row = await db
    .selectFrom('people')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where((eb) => peopleWhere(eb, filters, isPostgres(db)))
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
    .where((eb) => peopleWhere(eb, filters, isPostgres(db)));
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
    .where('person_id', 'in', padded(ids))
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
    .where('taggings.person_id', 'in', padded(ids))
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
    .where('list_members.person_id', 'in', padded(ids))
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

// ---- API listings (OSDI collections) ----------------------------------------------------------

/** A time range on `updated_at`: `since` inclusive, `until` exclusive (ISO text, compared as text). */
export interface ChangedRange {
  since?: string | undefined;
  until?: string | undefined;
  /** Only people in this set (e.g. a group's members). */
  within?: PersonIdSet | undefined;
}

/** People whose last change falls in `range`, in creation (id) order so pages stay stable. */
export function listPeopleChanged(
  db: Executor,
  range: ChangedRange,
  limit: number,
  offset: number,
): Promise<PersonRow[]> {
  let query = db.selectFrom('people').selectAll();
  if (range.since) query = query.where('updated_at', '>=', range.since);
  if (range.until) query = query.where('updated_at', '<', range.until);
  if (range.within) query = query.where('people.id', 'in', range.within);
  return query.orderBy('id').limit(limit).offset(offset).execute();
}

export async function countPeopleChanged(db: Executor, range: ChangedRange): Promise<number> {
  let query = db.selectFrom('people').select((eb) => eb.fn.countAll<number>().as('count'));
  if (range.since) query = query.where('updated_at', '>=', range.since);
  if (range.until) query = query.where('updated_at', '<', range.until);
  if (range.within) query = query.where('people.id', 'in', range.within);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function findPersonIdByPhone(db: Executor, number: string): Promise<string | null> {
  const row = await db
    .selectFrom('phones')
    .select('person_id')
    .where('number', '=', number)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return row?.person_id ?? null;
}

export async function findPersonIdByEmail(db: Executor, address: string): Promise<string | null> {
  const row = await db
    .selectFrom('emails')
    .select('person_id')
    .where('address', '=', address)
    .executeTakeFirst();
  return row?.person_id ?? null;
}

export async function deleteTaggingsByTagNames(
  db: Executor,
  personId: string,
  names: readonly string[],
): Promise<number> {
  if (names.length === 0) return 0;
  const result = await db
    .deleteFrom('taggings')
    .where('person_id', '=', personId)
    .where('tag_id', 'in', (eb) => eb.selectFrom('tags').select('id').where('name', 'in', names))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function deleteTagging(db: Executor, tagId: string, personId: string): Promise<number> {
  const result = await db
    .deleteFrom('taggings')
    .where('tag_id', '=', tagId)
    .where('person_id', '=', personId)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export function listNamedPage(db: Executor, table: 'tags' | 'lists', limit: number, offset: number) {
  return db
    .selectFrom(table)
    .select(['id', 'name', 'created_at'])
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countNamed(db: Executor, table: 'tags' | 'lists'): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export function findNamedById(db: Executor, table: 'tags' | 'lists', id: string) {
  return db.selectFrom(table).select(['id', 'name', 'created_at']).where('id', '=', id).executeTakeFirst();
}

/** Members of a tag (taggings) or a list, in the order they were added. */
export function listMembershipPage(
  db: Executor,
  table: 'taggings' | 'list_members',
  ownerId: string,
  limit: number,
  offset: number,
): Promise<{ person_id: string; created_at: string }[]> {
  if (table === 'taggings') {
    return db
      .selectFrom('taggings')
      .select(['person_id', 'created_at'])
      .where('tag_id', '=', ownerId)
      .orderBy('created_at')
      .orderBy('person_id')
      .limit(limit)
      .offset(offset)
      .execute();
  }
  return db
    .selectFrom('list_members')
    .select(['person_id', 'created_at'])
    .where('list_id', '=', ownerId)
    .orderBy('created_at')
    .orderBy('person_id')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countMembership(
  db: Executor,
  table: 'taggings' | 'list_members',
  ownerId: string,
): Promise<number> {
  const row =
    table === 'taggings'
      ? await db
          .selectFrom('taggings')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('tag_id', '=', ownerId)
          .executeTakeFirstOrThrow()
      : await db
          .selectFrom('list_members')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('list_id', '=', ownerId)
          .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Addresses whose last change, in [since, until), was to `status`, in id order (stable pages). A new
 * address that starts in this status (updated_at = created_at) did not change to it.
 */
export function listEmailsChangedTo(
  db: Executor,
  status: string,
  range: { since: string; until: string },
  limit: number,
  offset: number,
): Promise<Pick<EmailRow, 'id' | 'person_id' | 'address' | 'updated_at'>[]> {
  return db
    .selectFrom('emails')
    .select(['id', 'person_id', 'address', 'updated_at'])
    .where('status', '=', status)
    .where('updated_at', '>=', range.since)
    .where('updated_at', '<', range.until)
    .whereRef('updated_at', '>', 'created_at')
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
}

// ---- access scope, dashboards, erasure ---------------------------------------------------------

export async function isPersonWithin(db: Executor, id: string, set: PersonIdSet): Promise<boolean> {
  const row = await db
    .selectFrom('people')
    .select('people.id')
    .where('people.id', '=', id)
    .where('people.id', 'in', set)
    .executeTakeFirst();
  return row !== undefined;
}

/** New people per UTC day (created_at is ISO text, so its first 10 characters are the day). */
export async function countPeopleCreatedPerDay(
  db: Executor,
  sinceIso: string,
): Promise<{ day: string; total: number }[]> {
  const day = sql<string>`substr(created_at, 1, 10)`;
  const rows = await db
    .selectFrom('people')
    .select((eb) => [day.as('day'), eb.fn.countAll<number>().as('total')])
    .where('created_at', '>=', sinceIso)
    .groupBy(day)
    .orderBy(day)
    .execute();
  return rows.map((r) => ({ day: r.day, total: Number(r.total) }));
}

export async function countPeopleCreatedBefore(db: Executor, iso: string): Promise<number> {
  const row = await db
    .selectFrom('people')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('created_at', '<', iso)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Removes a person's personal data but keeps the row (and so every count that includes them). */
export async function anonymisePerson(db: Executor, id: string, now: string): Promise<void> {
  await db
    .updateTable('people')
    .set({ given_name: null, family_name: null, source: null, custom_fields: '{}', updated_at: now })
    .where('id', '=', id)
    .execute();
  // Addresses stay unique: each becomes a placeholder made from its own row id.
  await db
    .updateTable('emails')
    .set({
      address: sql<string>`'erased-' || id || '@erased.invalid'`,
      status: 'unsubscribed',
      is_primary: 0,
      updated_at: now,
    })
    .where('person_id', '=', id)
    .execute();
  for (const table of ['addresses', 'phones', 'taggings', 'list_members', 'consents', 'activity'] as const) {
    await db.deleteFrom(table).where('person_id', '=', id).execute();
  }
}
