import { sql, type Expression, type SelectQueryBuilder } from 'kysely';
import type { Database, Executor } from '../../db/index.ts';
import { likeEscape } from '../../db/index.ts';

/**
 * People-side SQL for mail audiences: who is reachable, narrowed by lists, tags, postal codes,
 * districts and language. Other capabilities embed these as subqueries and never read the people
 * tables themselves.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PersonIdSubquery = SelectQueryBuilder<any, any, { person_id: string }>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AddressSubquery = SelectQueryBuilder<any, any, { address: string }>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PostalCodeSubquery = SelectQueryBuilder<any, any, { postal_code: string }>;

/**
 * A set of people given two ways: all of them, and the rows of one person (`personId`, a column of
 * the audience query), which an audience asks per candidate when few candidates lead.
 */
export interface PersonSet {
  all: PersonIdSubquery;
  ofPerson(personId: Expression<string>): PersonIdSubquery;
}

function isPersonSet(set: PersonIdSubquery | PersonSet): set is PersonSet {
  return 'ofPerson' in set;
}

export interface PeopleAudienceFilter {
  /** Member of any of these lists (by name). */
  lists?: readonly string[];
  /** Has any of these tags (by name). */
  tags?: readonly string[];
  /** Has none of these tags. */
  excludeTags?: readonly string[];
  /** Primary postal code starts with any of these (normalised upper-case). */
  postalCodes?: readonly string[];
  /** Any address lies in any of these districts. */
  districts?: readonly string[];
  /** Postal codes a district map puts in `districts`: an address with one of them is in too. */
  districtPostalCodes?: PostalCodeSubquery;
  /** Preferred language is any of these. */
  languages?: readonly string[];
  /** Each of these must contain the person (AND). */
  include?: readonly (PersonIdSubquery | PersonSet)[];
  /** None of these may contain the person. */
  exclude?: readonly (PersonIdSubquery | PersonSet)[];
  /** Addresses never to mail (suppressions). */
  excludeAddresses?: readonly AddressSubquery[];
}

export type ReachableEmailQuery = SelectQueryBuilder<
  Database,
  'emails',
  { person_id: string; email: string }
>;

/**
 * Subscribed addresses (bouncing, complained and unsubscribed are never reachable) of people
 * matching the filter, primary addresses first; a person with two subscribed addresses appears
 * twice, so consumers dedupe by person (insert-or-ignore, count distinct).
 */
export function selectReachableEmails(db: Executor, filter: PeopleAudienceFilter): ReachableEmailQuery {
  const select = ['emails.person_id as person_id', 'emails.address as email'] as const;
  // A district is a small part of everyone: its people lead. They are narrowed first by the person
  // sets (signers of a petition, members of groups), each probed per candidate with `exists`, and
  // only those left are looked up in `emails`: most people are subscribed, so that look-up narrows
  // least and comes last. A materialised CTE holds that order on both engines (left to itself,
  // PostgreSQL probed every candidate's emails first: one more index page per candidate, which
  // made the working set outgrow a default shared_buffers). With `in`, SQLite first copied the
  // whole set (every signer of a petition: 500,000 people) into a temporary index.
  const probe = Boolean(filter.districts?.length);
  let query: ReachableEmailQuery;
  if (probe) {
    const candidates = selectDistrictCandidates(db, filter);
    query = db
      .with(
        (cte) => cte('audience_candidates').materialized(),
        () => candidates,
      )
      .selectFrom('emails')
      .select(select)
      .where('emails.status', '=', 'subscribed')
      .where('emails.person_id', 'in', (eb) =>
        eb.selectFrom('audience_candidates').select('audience_candidates.person_id'),
      ) as unknown as ReachableEmailQuery;
  } else {
    query = db.selectFrom('emails').select(select).where('emails.status', '=', 'subscribed');
  }
  if (filter.lists?.length) {
    const names = [...filter.lists];
    query = query.where('emails.person_id', 'in', (eb) =>
      eb
        .selectFrom('list_members')
        .innerJoin('lists', 'lists.id', 'list_members.list_id')
        .select('list_members.person_id')
        .where('lists.name', 'in', names),
    );
  }
  if (filter.tags?.length) {
    const names = [...filter.tags];
    query = query.where('emails.person_id', 'in', (eb) =>
      eb
        .selectFrom('taggings')
        .innerJoin('tags', 'tags.id', 'taggings.tag_id')
        .select('taggings.person_id')
        .where('tags.name', 'in', names),
    );
  }
  if (filter.excludeTags?.length) {
    const names = [...filter.excludeTags];
    query = query.where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('taggings')
            .innerJoin('tags', 'tags.id', 'taggings.tag_id')
            .select('taggings.person_id')
            .whereRef('taggings.person_id', '=', 'emails.person_id')
            .where('tags.name', 'in', names),
        ),
      ),
    );
  }
  if (filter.postalCodes?.length) {
    const prefixes = filter.postalCodes.map((code) => code.trim().toUpperCase().replace(/\s+/g, ' '));
    query = query.where('emails.person_id', 'in', (eb) =>
      eb
        .selectFrom('addresses')
        .select('addresses.person_id')
        .where((inner) =>
          inner.or(
            prefixes.map((prefix) =>
              inner('addresses.postal_code', 'like', sql<string>`${likeEscape(prefix) + '%'} escape '\\'`),
            ),
          ),
        ),
    );
  }
  if (filter.languages?.length) {
    const languages = filter.languages.map((language) => language.toLowerCase());
    query = query.where('emails.person_id', 'in', (eb) =>
      eb.selectFrom('people').select('people.id as person_id').where('people.language', 'in', languages),
    );
  }
  if (!probe) {
    const personId = sql.ref<string>('emails.person_id');
    for (const set of filter.include ?? []) {
      query = query.where('emails.person_id', 'in', isPersonSet(set) ? set.all : set);
    }
    // `not exists` rather than `not in`: PostgreSQL runs `not in (subquery)` as a scan of the whole
    // subquery per candidate once it outgrows work_mem (an audience "not signed B" of a petition with
    // 500,000 signers ran for minutes); `not exists` is an anti-join on both engines.
    for (const set of filter.exclude ?? [])
      query = query.where((eb) => eb.not(eb.exists(ofPerson(db, set, personId))));
  }
  for (const subquery of filter.excludeAddresses ?? []) {
    query = query.where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom(subquery.as('excluded_address'))
            .select('excluded_address.address')
            .whereRef('excluded_address.address', '=', 'emails.address'),
        ),
      ),
    );
  }
  return query.orderBy('emails.person_id').orderBy('emails.is_primary', 'desc').orderBy('emails.address');
}

/** The rows of one person (`personId`, a column of the embedding query) in a set. */
function ofPerson(
  db: Executor,
  set: PersonIdSubquery | PersonSet,
  personId: Expression<string>,
): PersonIdSubquery {
  if (isPersonSet(set)) return set.ofPerson(personId);
  return db.selectFrom(set.as('in_set')).select('in_set.person_id').where('in_set.person_id', '=', personId);
}

/**
 * The people of the audience's districts that every included set holds and no excluded set does
 * (a person may come twice: read it with IN).
 */
function selectDistrictCandidates(db: Executor, filter: PeopleAudienceFilter): PersonIdSubquery {
  const inDistricts = selectPersonIdsInDistricts(db, filter.districts ?? [], filter.districtPostalCodes);
  const personId = sql.ref<string>('in_district.person_id');
  let candidates = db.selectFrom(inDistricts.as('in_district')).select('in_district.person_id');
  for (const set of filter.include ?? [])
    candidates = candidates.where((eb) => eb.exists(ofPerson(db, set, personId)));
  for (const set of filter.exclude ?? [])
    candidates = candidates.where((eb) => eb.not(eb.exists(ofPerson(db, set, personId))));
  return candidates;
}

/** Merge fields of one batch of recipients, keyed by person id. */
export interface MergeFieldsRow {
  person_id: string;
  given_name: string | null;
  family_name: string | null;
  language: string | null;
  postal_code: string | null;
  locality: string | null;
}

export async function listMergeFields(db: Executor, personIds: readonly string[]): Promise<MergeFieldsRow[]> {
  if (personIds.length === 0) return [];
  return db
    .selectFrom('people')
    .leftJoin('addresses', (join) =>
      join.onRef('addresses.person_id', '=', 'people.id').on('addresses.is_primary', '=', 1),
    )
    .select([
      'people.id as person_id',
      'people.given_name',
      'people.family_name',
      'people.language',
      'addresses.postal_code',
      'addresses.locality',
    ])
    .where('people.id', 'in', [...personIds])
    .execute();
}

/** Of these people, those whose address is no longer subscribed (unsubscribed, bouncing, complained). */
export async function listNoLongerSubscribed(
  db: Executor,
  recipients: ReadonlyArray<{ personId: string; email: string }>,
): Promise<Set<string>> {
  if (recipients.length === 0) return new Set();
  const rows = await db
    .selectFrom('emails')
    .select(['person_id', 'address'])
    .where(
      'address',
      'in',
      recipients.map((r) => r.email),
    )
    .where('status', '!=', 'subscribed')
    .execute();
  return new Set(rows.map((row) => row.person_id));
}

/** Sets one address's status (unsubscribe, bounce, complaint); returns the owner's person id. */
export async function updateEmailStatus(
  db: Executor,
  address: string,
  status: 'unsubscribed' | 'bouncing' | 'complained',
  at: string,
): Promise<string | null> {
  const row = await db
    .updateTable('emails')
    .set({ status, updated_at: at })
    .where('address', '=', address.trim().toLowerCase())
    .returning('person_id')
    .executeTakeFirst();
  return row?.person_id ?? null;
}

export async function findEmailStatus(
  db: Executor,
  address: string,
): Promise<{ person_id: string; status: string } | undefined> {
  return db
    .selectFrom('emails')
    .select(['person_id', 'status'])
    .where('address', '=', address.trim().toLowerCase())
    .executeTakeFirst();
}

/** Removes a person from one list (by list id), for the "unsubscribe from this list" preference. */
export async function removeFromList(db: Executor, personId: string, listId: string): Promise<void> {
  await db
    .deleteFrom('list_members')
    .where('person_id', '=', personId)
    .where('list_id', '=', listId)
    .execute();
}

export async function listListsOfPerson(
  db: Executor,
  personId: string,
): Promise<Array<{ id: string; name: string }>> {
  return db
    .selectFrom('list_members')
    .innerJoin('lists', 'lists.id', 'list_members.list_id')
    .select(['lists.id', 'lists.name'])
    .where('list_members.person_id', '=', personId)
    .orderBy('lists.name')
    .execute();
}

export async function listAllTagAndListNames(db: Executor): Promise<{ tags: string[]; lists: string[] }> {
  const tags = await db.selectFrom('tags').select('name').orderBy('name').limit(500).execute();
  const lists = await db.selectFrom('lists').select('name').orderBy('name').limit(500).execute();
  return { tags: tags.map((t) => t.name), lists: lists.map((l) => l.name) };
}

/**
 * Person ids with an address whose postal code starts with any of `postalPrefixes` or that lies in
 * any of `districts` (group membership rules), whatever their subscription status.
 */
export function selectPersonIdsByAddress(
  db: Executor,
  rule: {
    postalPrefixes?: readonly string[];
    districts?: readonly string[];
    districtPostalCodes?: PostalCodeSubquery;
  },
): PersonIdSubquery {
  const prefixes = (rule.postalPrefixes ?? []).map((code) => code.trim().toUpperCase().replace(/\s+/g, ' '));
  const byPrefix = db
    .selectFrom('addresses')
    .select('addresses.person_id')
    .where((eb) =>
      eb.or(
        prefixes.map((prefix) =>
          eb('addresses.postal_code', 'like', sql<string>`${likeEscape(prefix) + '%'} escape '\\'`),
        ),
      ),
    );
  if (!rule.districts?.length) return byPrefix;
  const inDistricts = selectPersonIdsInDistricts(db, rule.districts, rule.districtPostalCodes);
  return prefixes.length ? byPrefix.unionAll(inDistricts) : inDistricts;
}

/**
 * Person ids with an address in any of `districts`: its postal code is one the district map puts
 * there, or its own district list names one. Two parts read from the selective side each (the
 * postal-code index; the partial index of the few addresses with a district list), instead of one
 * OR that read every address. A person may come twice: read it with IN, EXISTS or count distinct.
 */
function selectPersonIdsInDistricts(
  db: Executor,
  districts: readonly string[],
  districtPostalCodes: PostalCodeSubquery | undefined,
): PersonIdSubquery {
  // district_ids is a list ("a,b" or a JSON array); normalise it to ",a,b," and look for ",id,".
  const normalised = sql<string>`(',' || replace(replace(replace(replace(coalesce(addresses.district_ids, ''), '[', ''), ']', ''), '"', ''), ' ', '') || ',')`;
  const byList = db
    .selectFrom('addresses')
    .select('addresses.person_id')
    .where('addresses.district_ids', 'is not', null)
    .where((eb) =>
      eb.or(
        districts.map(
          (district) => sql<boolean>`${normalised} like ${'%,' + likeEscape(district) + ',%'} escape '\\'`,
        ),
      ),
    );
  if (!districtPostalCodes) return byList;
  return db
    .selectFrom('addresses')
    .select('addresses.person_id')
    .where('addresses.postal_code', 'in', districtPostalCodes)
    .unionAll(byList);
}
