import { sql, type Expression } from 'kysely';
import type { DialectName, Executor } from '../db/index.ts';
import { likeEscape } from '../db/index.ts';
import { newId, nowIso } from '../ids.ts';
import type {
  IntakeRow,
  NewIntakeRow,
  NewPetitionRow,
  NewSignatureRow,
  PetitionRow,
  PetitionTargetRow,
  PetitionTranslationRow,
  SignatureRow,
} from './tables.ts';

/* All petition SQL. Functions take the database or an open transaction. */

export async function insertPetition(db: Executor, row: NewPetitionRow): Promise<void> {
  await db.insertInto('petitions').values(row).execute();
}

export async function updatePetition(
  db: Executor,
  id: string,
  changes: Partial<Omit<PetitionRow, 'id' | 'created_at'>>,
): Promise<void> {
  await db
    .updateTable('petitions')
    .set({ ...changes, updated_at: nowIso() })
    .where('id', '=', id)
    .execute();
}

export async function findPetitionById(db: Executor, id: string): Promise<PetitionRow | undefined> {
  return db.selectFrom('petitions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findPetitionBySlug(db: Executor, slug: string): Promise<PetitionRow | undefined> {
  return db.selectFrom('petitions').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export async function listPetitions(db: Executor): Promise<PetitionRow[]> {
  return db.selectFrom('petitions').selectAll().orderBy('id', 'desc').limit(500).execute();
}

/** The newest open petitions (uses the status index). */
export async function listOpenPetitions(db: Executor, limit: number): Promise<PetitionRow[]> {
  return db
    .selectFrom('petitions')
    .selectAll()
    .where('status', '=', 'open')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

export async function listTargets(db: Executor, petitionId: string): Promise<PetitionTargetRow[]> {
  return db
    .selectFrom('petition_targets')
    .selectAll()
    .where('petition_id', '=', petitionId)
    .orderBy('position')
    .execute();
}

export async function replaceTargets(
  db: Executor,
  petitionId: string,
  targets: ReadonlyArray<{
    name: string;
    title: string | null;
    district: string | null;
    email: string | null;
  }>,
): Promise<void> {
  await db.deleteFrom('petition_targets').where('petition_id', '=', petitionId).execute();
  if (targets.length === 0) return;
  await db
    .insertInto('petition_targets')
    .values(targets.map((t, position) => ({ id: newId(), petition_id: petitionId, position, ...t })))
    .execute();
}

export async function listTranslations(db: Executor, petitionId: string): Promise<PetitionTranslationRow[]> {
  return db
    .selectFrom('petition_translations')
    .selectAll()
    .where('petition_id', '=', petitionId)
    .orderBy('language')
    .execute();
}

export async function upsertTranslation(db: Executor, row: PetitionTranslationRow): Promise<void> {
  await db
    .insertInto('petition_translations')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['petition_id', 'language']).doUpdateSet({
        title: row.title,
        summary: row.summary,
        body: row.body,
        thank_you_message: row.thank_you_message,
      }),
    )
    .execute();
}

export async function deleteTranslation(db: Executor, petitionId: string, language: string): Promise<void> {
  await db
    .deleteFrom('petition_translations')
    .where('petition_id', '=', petitionId)
    .where('language', '=', language)
    .execute();
}

/* Signatures */

/** Inserts the rows whose (petition, person) has not signed yet; returns the ids written. */
export async function insertSignaturesIfNew(
  db: Executor,
  rows: readonly NewSignatureRow[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const written = await db
    .insertInto('signatures')
    .values([...rows])
    .onConflict((oc) => oc.columns(['petition_id', 'person_id']).doNothing())
    .returning('id')
    .execute();
  return written.map((row) => row.id);
}

export async function findSignaturesByPeople(
  db: Executor,
  petitionId: string,
  personIds: readonly string[],
): Promise<SignatureRow[]> {
  if (personIds.length === 0) return [];
  return db
    .selectFrom('signatures')
    .selectAll()
    .where('petition_id', '=', petitionId)
    .where('person_id', 'in', [...personIds])
    .execute();
}

export async function findSignatureById(db: Executor, id: string): Promise<SignatureRow | undefined> {
  return db.selectFrom('signatures').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findSignatureByReferralCode(
  db: Executor,
  code: string,
): Promise<SignatureRow | undefined> {
  return db.selectFrom('signatures').selectAll().where('referral_code', '=', code).executeTakeFirst();
}

/** Sets confirmed_at once; returns true only for the call that confirmed it. */
export async function markSignatureConfirmed(db: Executor, id: string, at: string): Promise<boolean> {
  const result = await db
    .updateTable('signatures')
    .set({ confirmed_at: at })
    .where('id', '=', id)
    .where('confirmed_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function markConfirmationSent(db: Executor, id: string, at: string): Promise<void> {
  await db.updateTable('signatures').set({ confirmation_sent_at: at }).where('id', '=', id).execute();
}

export async function setCommentStatus(
  db: Executor,
  petitionId: string,
  signatureId: string,
  status: string,
): Promise<boolean> {
  const result = await db
    .updateTable('signatures')
    .set({ comment_status: status })
    .where('id', '=', signatureId)
    .where('petition_id', '=', petitionId)
    .where('comment_status', '!=', 'none')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export interface CommentRow {
  id: string;
  signer_name: string;
  locality: string | null;
  comment: string | null;
  comment_status: string;
  created_at: string;
}

export async function listComments(
  db: Executor,
  petitionId: string,
  statuses: readonly string[],
  limit: number,
  requireConfirmed: boolean,
): Promise<CommentRow[]> {
  let query = db
    .selectFrom('signatures')
    .select(['id', 'signer_name', 'locality', 'comment', 'comment_status', 'created_at'])
    .where('petition_id', '=', petitionId)
    .where('comment_status', 'in', statuses);
  if (requireConfirmed) query = query.where('confirmed_at', 'is not', null);
  return query.orderBy('id', 'desc').limit(limit).execute();
}

export interface ExactCounts {
  total: number;
  confirmed: number;
}

/** Exact counts from the (petition_id, confirmed_at) index: dashboards and counter reconciliation. */
export async function countSignatures(db: Executor, petitionId: string): Promise<ExactCounts> {
  const row = await db
    .selectFrom('signatures')
    .select((eb) => [
      eb.fn.countAll<number>().as('total'),
      eb.fn.count<number>('confirmed_at').as('confirmed'),
    ])
    .where('petition_id', '=', petitionId)
    .executeTakeFirstOrThrow();
  return { total: Number(row.total), confirmed: Number(row.confirmed) };
}

export async function countSignaturesByDistrict(
  db: Executor,
  petitionId: string,
): Promise<Array<{ district: string; total: number; confirmed: number }>> {
  const rows = await db
    .selectFrom('signatures')
    .select((eb) => [
      'district',
      eb.fn.countAll<number>().as('total'),
      eb.fn.count<number>('confirmed_at').as('confirmed'),
    ])
    .where('petition_id', '=', petitionId)
    .groupBy('district')
    .execute();
  return rows.map((r) => ({
    district: r.district ?? '',
    total: Number(r.total),
    confirmed: Number(r.confirmed),
  }));
}

export async function countSignaturesBySource(
  db: Executor,
  petitionId: string,
): Promise<Array<{ source: string | null; total: number }>> {
  const rows = await db
    .selectFrom('signatures')
    .select((eb) => ['source', eb.fn.countAll<number>().as('total')])
    .where('petition_id', '=', petitionId)
    .groupBy('source')
    .orderBy('total', 'desc')
    .limit(50)
    .execute();
  return rows.map((r) => ({ source: r.source, total: Number(r.total) }));
}

export async function countSignaturesByReferrer(
  db: Executor,
  petitionId: string,
  limit: number,
): Promise<Array<{ referrer_code: string; signer_name: string | null; total: number }>> {
  const rows = await db
    .selectFrom('signatures as s')
    .leftJoin('signatures as r', 'r.referral_code', 's.referrer_code')
    .select((eb) => ['s.referrer_code', 'r.signer_name', eb.fn.countAll<number>().as('total')])
    .where('s.petition_id', '=', petitionId)
    .where('s.referrer_code', 'is not', null)
    .groupBy(['s.referrer_code', 'r.signer_name'])
    .orderBy('total', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    referrer_code: r.referrer_code ?? '',
    signer_name: r.signer_name,
    total: Number(r.total),
  }));
}

export async function countSignaturesByReferralCode(
  db: Executor,
  petitionId: string,
  code: string,
): Promise<number> {
  const row = await db
    .selectFrom('signatures')
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .where('petition_id', '=', petitionId)
    .where('referrer_code', '=', code)
    .executeTakeFirstOrThrow();
  return Number(row.total);
}

/** Signatures per UTC day (created_at is ISO text, so its first 10 characters are the day). */
export async function countSignaturesPerDay(
  db: Executor,
  petitionId: string,
  sinceIso: string,
): Promise<Array<{ day: string; total: number }>> {
  const day = sql<string>`substr(created_at, 1, 10)`;
  const rows = await db
    .selectFrom('signatures')
    .select((eb) => [day.as('day'), eb.fn.countAll<number>().as('total')])
    .where('petition_id', '=', petitionId)
    .where('created_at', '>=', sinceIso)
    .groupBy(day)
    .orderBy(day)
    .execute();
  return rows.map((r) => ({ day: r.day, total: Number(r.total) }));
}

export interface DeliveryRow {
  id: string;
  signer_name: string;
  locality: string | null;
  postal_code: string | null;
  district: string | null;
  comment: string | null;
  comment_status: string;
  source: string | null;
  confirmed_at: string | null;
  created_at: string;
}

/** One keyset page of signatures in id order (exports never hold all rows). */
export async function listSignaturesPage(
  db: Executor,
  petitionId: string,
  options: { afterId: string | null; limit: number; district?: string | null; confirmedOnly: boolean },
): Promise<DeliveryRow[]> {
  let query = db
    .selectFrom('signatures')
    .select([
      'id',
      'signer_name',
      'locality',
      'postal_code',
      'district',
      'comment',
      'comment_status',
      'source',
      'confirmed_at',
      'created_at',
    ])
    .where('petition_id', '=', petitionId);
  if (options.afterId) query = query.where('id', '>', options.afterId);
  if (options.district !== undefined) {
    query =
      options.district === null
        ? query.where('district', 'is', null)
        : query.where('district', '=', options.district);
  }
  if (options.confirmedOnly) query = query.where('confirmed_at', 'is not', null);
  return query.orderBy('id').limit(options.limit).execute();
}

/** Distinct districts of a petition's signatures (small: one per legislative district). */
export async function listSignatureDistricts(
  db: Executor,
  petitionId: string,
): Promise<Array<string | null>> {
  const rows = await db
    .selectFrom('signatures')
    .select('district')
    .distinct()
    .where('petition_id', '=', petitionId)
    .orderBy('district')
    .execute();
  return rows.map((r) => r.district);
}

/** Person ids of a petition's counted signers, for other capabilities' audience SQL. */
/** Counted signers of every petition owned by one of `groupIds` (one subquery, however many). */
export function signerIdsOfGroupPetitionsSubquery(db: Executor, groupIds: readonly string[]) {
  return db
    .selectFrom('signatures')
    .innerJoin('petitions', 'petitions.id', 'signatures.petition_id')
    .select('signatures.person_id as person_id')
    .where('petitions.group_id', 'in', [...groupIds])
    .where('signatures.confirmed_at', 'is not', null);
}

export function signerIdsSubquery(db: Executor, petitionId: string) {
  return db
    .selectFrom('signatures')
    .select('signatures.person_id as person_id')
    .where('signatures.petition_id', '=', petitionId)
    .where('signatures.confirmed_at', 'is not', null);
}

/**
 * The counted signatures of one person (`personId`, a column of the embedding query) on any of
 * these petitions: an audience asks it per candidate. It reads the covering index by person
 * (person_id, petition_id, confirmed_at), one page per person for every petition asked. One
 * petition is written as a range: with equality on both columns of the unique (petition_id,
 * person_id), SQLite takes that index without weighing the others and reads each signature row for
 * confirmed_at (at 1,000,000 people an audience of a district read 5 pages per candidate, not 2).
 */
export function signerIdsOfPersonSubquery(
  db: Executor,
  petitionIds: readonly string[],
  personId: Expression<string>,
) {
  const [only] = petitionIds;
  return db
    .selectFrom('signatures')
    .select('signatures.person_id as person_id')
    .where('signatures.person_id', '=', personId)
    .where((eb) =>
      petitionIds.length === 1 && only !== undefined
        ? eb.between('signatures.petition_id', only, only)
        : eb('signatures.petition_id', 'in', [...petitionIds]),
    )
    .where('signatures.confirmed_at', 'is not', null);
}

/**
 * The signature's source code starts with `prefix`, as a range of the source index (migration
 * 0015): on PostgreSQL in the byte order of the "C" collation, where a prefix is one range in any
 * database collation. LIKE read every signature (case-insensitive in SQLite; a bound pattern).
 */
function sourceStartsWith(dialect: DialectName, prefix: string) {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (!(last > 0x20 && last < 0x7f))
    return sql<boolean>`signatures.source like ${likeEscape(prefix) + '%'} escape '\\'`;
  const end = prefix.slice(0, -1) + String.fromCharCode(last + 1);
  const source = dialect === 'postgres' ? sql`(signatures.source collate "C")` : sql`signatures.source`;
  return sql<boolean>`${source} >= ${prefix} and ${source} < ${end}`;
}

/** Person ids of counted signers whose signature's source code starts with `prefix` (mail reports). */
export function signerIdsWithSourcePrefixSubquery(db: Executor, dialect: DialectName, prefix: string) {
  return db
    .selectFrom('signatures')
    .select('signatures.person_id as person_id')
    .where(sourceStartsWith(dialect, prefix))
    .where('signatures.confirmed_at', 'is not', null);
}

/** Counted signatures whose source code starts with `prefix`, per hour (UTC "YYYY-MM-DDTHH"). */
export async function countSignaturesWithSourcePrefixByHour(
  db: Executor,
  dialect: DialectName,
  prefix: string,
): Promise<Array<{ hour: string; n: number }>> {
  const hour = sql<string>`substr(signatures.created_at, 1, 13)`;
  const rows = await db
    .selectFrom('signatures')
    .select([hour.as('hour'), (eb) => eb.fn.countAll<number>().as('n')])
    .where(sourceStartsWith(dialect, prefix))
    .where('signatures.confirmed_at', 'is not', null)
    .groupBy(hour)
    .execute();
  return rows.map((r) => ({ hour: r.hour, n: Number(r.n) }));
}

/* Districts */

export async function upsertDistrictPostcodes(
  db: Executor,
  scope: string,
  rows: ReadonlyArray<{ postalCode: string; districtId: string; districtName: string }>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await db
      .insertInto('district_postcodes')
      .values(
        chunk.map((r) => ({
          scope,
          postal_code: r.postalCode,
          district_id: r.districtId,
          district_name: r.districtName,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['scope', 'postal_code']).doUpdateSet((eb) => ({
          district_id: eb.ref('excluded.district_id'),
          district_name: eb.ref('excluded.district_name'),
        })),
      )
      .execute();
  }
}

/** Postal codes that the organisation-wide map (scope '*') puts in any of these districts. */
export function selectPostalCodesInDistricts(db: Executor, districtIds: readonly string[]) {
  return db
    .selectFrom('district_postcodes')
    .select('district_postcodes.postal_code')
    .where('district_postcodes.scope', '=', '*')
    .where('district_postcodes.district_id', 'in', [...districtIds]);
}

export async function findDistrictForPostcode(
  db: Executor,
  scopes: readonly string[],
  postalCode: string,
): Promise<Array<{ scope: string; district_id: string; district_name: string }>> {
  return db
    .selectFrom('district_postcodes')
    .select(['scope', 'district_id', 'district_name'])
    .where('scope', 'in', scopes)
    .where('postal_code', '=', postalCode)
    .execute();
}

export async function listDistrictNames(
  db: Executor,
  scopes: readonly string[],
): Promise<Array<{ district_id: string; district_name: string }>> {
  return db
    .selectFrom('district_postcodes')
    .select(['district_id', 'district_name'])
    .distinct()
    .where('scope', 'in', scopes)
    .execute();
}

export async function countDistrictPostcodes(db: Executor, scope: string): Promise<number> {
  const row = await db
    .selectFrom('district_postcodes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('scope', '=', scope)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/* Counters */

export interface CounterDelta {
  petitionId: string;
  district: string;
  total: number;
  confirmed: number;
}

/** Adds batched deltas: one upsert per (petition, district) touched since the last flush. */
export async function addCounterDeltas(db: Executor, deltas: readonly CounterDelta[]): Promise<void> {
  const now = nowIso();
  for (const d of deltas) {
    await db
      .insertInto('petition_counters')
      .values({
        petition_id: d.petitionId,
        district: d.district,
        total: d.total,
        confirmed: d.confirmed,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['petition_id', 'district']).doUpdateSet((eb) => ({
          total: eb('petition_counters.total', '+', eb.ref('excluded.total')),
          confirmed: eb('petition_counters.confirmed', '+', eb.ref('excluded.confirmed')),
          updated_at: now,
        })),
      )
      .execute();
  }
}

export async function listCounters(
  db: Executor,
  petitionId: string,
): Promise<Array<{ district: string; total: number; confirmed: number }>> {
  const rows = await db
    .selectFrom('petition_counters')
    .select(['district', 'total', 'confirmed'])
    .where('petition_id', '=', petitionId)
    .execute();
  return rows.map((r) => ({ district: r.district, total: Number(r.total), confirmed: Number(r.confirmed) }));
}

/** Rewrites a petition's counters from exact counts (reconciliation after a crash lost a batch). */
export async function replaceCounters(
  db: Executor,
  petitionId: string,
  rows: ReadonlyArray<{ district: string; total: number; confirmed: number }>,
): Promise<void> {
  const now = nowIso();
  await db.deleteFrom('petition_counters').where('petition_id', '=', petitionId).execute();
  if (rows.length === 0) return;
  await db
    .insertInto('petition_counters')
    .values(rows.map((r) => ({ petition_id: petitionId, ...r, updated_at: now })))
    .execute();
}

/* Rejected attempts */

export interface RejectionInput {
  petitionId: string | null;
  reason: string;
  ip: string | null;
  emailHash: string | null;
  userAgent: string | null;
  at: string;
}

export async function insertRejections(db: Executor, rows: readonly RejectionInput[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('signing_rejections')
      .values(
        rows.slice(i, i + 200).map((r) => ({
          id: newId(),
          petition_id: r.petitionId,
          reason: r.reason,
          ip: r.ip,
          email_hash: r.emailHash,
          user_agent: r.userAgent,
          created_at: r.at,
        })),
      )
      .execute();
  }
}

export async function countRejectionsByReason(
  db: Executor,
  petitionId: string,
): Promise<Array<{ reason: string; total: number }>> {
  const rows = await db
    .selectFrom('signing_rejections')
    .select((eb) => ['reason', eb.fn.countAll<number>().as('total')])
    .where('petition_id', '=', petitionId)
    .groupBy('reason')
    .execute();
  return rows.map((r) => ({ reason: r.reason, total: Number(r.total) }));
}

/* API listings (OSDI signatures collections) */

/** A range on a signature's last change (confirmed_at, else created_at): since inclusive, until exclusive. */
export interface SignatureChangedRange {
  since?: string | undefined;
  until?: string | undefined;
}

function signaturesChangedQuery(db: Executor, petitionId: string | null, range: SignatureChangedRange) {
  let query = db.selectFrom('signatures');
  if (petitionId !== null) query = query.where('petition_id', '=', petitionId);
  const changed = sql<string>`coalesce(signatures.confirmed_at, signatures.created_at)`;
  if (range.since) query = query.where(changed, '>=', range.since);
  if (range.until) query = query.where(changed, '<', range.until);
  return query;
}

/** Signatures in id (creation) order, so pages stay stable while people keep signing. */
export async function listSignaturesChanged(
  db: Executor,
  petitionId: string | null,
  range: SignatureChangedRange,
  limit: number,
  offset: number,
): Promise<SignatureRow[]> {
  return signaturesChangedQuery(db, petitionId, range)
    .selectAll()
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countSignaturesChanged(
  db: Executor,
  petitionId: string | null,
  range: SignatureChangedRange,
): Promise<number> {
  const row = await signaturesChangedQuery(db, petitionId, range)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/* Organisation-wide totals and per-person data (dashboard, data export, erasure) */

export async function countAllSignaturesPerDay(
  db: Executor,
  sinceIso: string,
  untilIso?: string,
): Promise<Array<{ day: string; total: number }>> {
  const day = sql<string>`substr(created_at, 1, 10)`;
  let query = db
    .selectFrom('signatures')
    .select((eb) => [day.as('day'), eb.fn.countAll<number>().as('total')])
    .where('created_at', '>=', sinceIso);
  if (untilIso) query = query.where('created_at', '<', untilIso);
  const rows = await query.groupBy(day).orderBy(day).execute();
  return rows.map((r) => ({ day: r.day, total: Number(r.total) }));
}

/**
 * Totals per petition from the counters (the numbers the public pages show): reading them costs a
 * row per petition and district, where counting signatures would read every signature.
 */
export async function countSignaturesPerPetition(
  db: Executor,
): Promise<Array<{ petitionId: string; slug: string; title: string; total: number; confirmed: number }>> {
  const rows = await db
    .selectFrom('petition_counters')
    .innerJoin('petitions', 'petitions.id', 'petition_counters.petition_id')
    .select((eb) => [
      'petitions.id',
      'petitions.slug',
      'petitions.title',
      eb.fn.sum<number>('petition_counters.total').as('total'),
      eb.fn.sum<number>('petition_counters.confirmed').as('confirmed'),
    ])
    .groupBy(['petitions.id', 'petitions.slug', 'petitions.title'])
    .orderBy('total', 'desc')
    .execute();
  return rows
    .map((r) => ({
      petitionId: r.id,
      slug: r.slug,
      title: r.title,
      total: Number(r.total),
      confirmed: Number(r.confirmed),
    }))
    .filter((r) => r.total > 0);
}

/**
 * Signatures since `sinceIso` (until `untilIso`) per source code, most first (no source: null). Grouped by an
 * expression so that SQLite reads the window's range of the (created_at, source) index: grouped
 * by the column, it read every signature in the order of the index on source to save a sort.
 */
export async function countAllSignaturesBySource(
  db: Executor,
  sinceIso: string,
  limit: number,
  untilIso?: string,
): Promise<Array<{ source: string | null; total: number }>> {
  const source = sql<string>`coalesce(source, '')`;
  let query = db
    .selectFrom('signatures')
    .select((eb) => [source.as('source'), eb.fn.countAll<number>().as('total')])
    .where('created_at', '>=', sinceIso);
  if (untilIso) query = query.where('created_at', '<', untilIso);
  const rows = await query.groupBy(source).orderBy('total', 'desc').limit(limit).execute();
  return rows.map((r) => ({ source: r.source || null, total: Number(r.total) }));
}

export function listSignaturesOfPerson(db: Executor, personId: string) {
  return db
    .selectFrom('signatures')
    .innerJoin('petitions', 'petitions.id', 'signatures.petition_id')
    .select([
      'signatures.id',
      'petitions.slug',
      'petitions.title',
      'signatures.signer_name',
      'signatures.locality',
      'signatures.postal_code',
      'signatures.comment',
      'signatures.source',
      'signatures.confirmed_at',
      'signatures.created_at',
    ])
    .where('signatures.person_id', '=', personId)
    .orderBy('signatures.id')
    .execute();
}

export async function anonymiseSignaturesOfPerson(db: Executor, personId: string): Promise<void> {
  await db
    .updateTable('signatures')
    .set({
      signer_name: 'Erased',
      locality: null,
      postal_code: null,
      comment: null,
      comment_status: 'hidden',
      answers: '{}',
      ip: null,
      user_agent: null,
    })
    .where('person_id', '=', personId)
    .execute();
}

/* Signature intake */

/**
 * PostgreSQL (SQLite keeps no unique index here; see intake-sqlite.ts): inserts the rows whose
 * (petition, email) was not taken in yet; returns the ids written. The rows travel as one JSON
 * parameter, so the statement text is the same for every batch (prepared once) and no per-row SQL
 * is built: this insert is all a signing answer waits for.
 */
export async function insertIntakeIfNew(db: Executor, rows: readonly NewIntakeRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const json = JSON.stringify(
    rows.map((r) => ({ i: r.id, p: r.petition_id, k: r.email_key, d: r.payload, t: r.created_at })),
  );
  const written = await sql<{ id: string }>`
    insert into signature_intake (id, petition_id, email_key, status, payload, created_at)
    select r.i, r.p, r.k, 'pending', r.d, r.t
    from json_to_recordset(${json}::json) as r(i text, p text, k text, d text, t text)
    on conflict (petition_id, email_key) do nothing
    returning id`.execute(db);
  return written.rows.map((row) => row.id);
}

/**
 * Processed rows (signed or repeat) of these email keys: the signings a new one repeats.
 * PostgreSQL; SQLite has its own (intake-sqlite.ts).
 */
export async function findProcessedIntakeByKeys(
  db: Executor,
  petitionId: string,
  emailKeys: readonly string[],
): Promise<IntakeRow[]> {
  if (emailKeys.length === 0) return [];
  return db
    .selectFrom('signature_intake')
    .selectAll()
    .where('petition_id', '=', petitionId)
    .where('email_key', 'in', [...emailKeys])
    .where('status', '<>', 'pending')
    .execute();
}

export async function findIntakeByIds(db: Executor, ids: readonly string[]): Promise<IntakeRow[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('signature_intake')
    .selectAll()
    .where('id', 'in', [...ids])
    .execute();
}

export async function findIntakeByKeys(
  db: Executor,
  petitionId: string,
  emailKeys: readonly string[],
): Promise<IntakeRow[]> {
  if (emailKeys.length === 0) return [];
  return db
    .selectFrom('signature_intake')
    .selectAll()
    .where('petition_id', '=', petitionId)
    .where('email_key', 'in', [...emailKeys])
    .execute();
}

/**
 * The pending rows among `ids`, locked on PostgreSQL so that two processors never take the same
 * row (the second waits, then sees it processed). SQLite has one writer at a time anyway.
 */
export async function claimPendingIntake(
  db: Executor,
  dialect: DialectName,
  ids: readonly string[],
): Promise<IntakeRow[]> {
  if (ids.length === 0) return [];
  let select = db
    .selectFrom('signature_intake')
    .selectAll()
    .where('id', 'in', [...ids])
    .where('status', '=', 'pending')
    .orderBy('id');
  if (dialect === 'postgres') select = select.forUpdate();
  return select.execute();
}

export async function listIntakePetitionIds(db: Executor, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('signature_intake')
    .select('petition_id')
    .distinct()
    .where('id', 'in', [...ids])
    .execute();
  return rows.map((row) => row.petition_id);
}

/** Marks processed rows: each becomes (or matched) a signature; what was typed is dropped. */
export async function markIntakeProcessed(
  db: Executor,
  results: ReadonlyArray<{ id: string; status: 'signed' | 'repeat'; signatureId: string }>,
  at: string,
): Promise<void> {
  const signed = results.filter((r) => r.status === 'signed' && r.signatureId === r.id).map((r) => r.id);
  if (signed.length > 0) {
    await db
      .updateTable('signature_intake')
      .set((eb) => ({ status: 'signed', signature_id: eb.ref('id'), payload: null, processed_at: at }))
      .where('id', 'in', signed)
      .execute();
  }
  for (const r of results) {
    if (r.status === 'signed' && r.signatureId === r.id) continue;
    await db
      .updateTable('signature_intake')
      .set({ status: r.status, signature_id: r.signatureId, payload: null, processed_at: at })
      .where('id', '=', r.id)
      .execute();
  }
}

export async function recordIntakeFailure(db: Executor, id: string, error: string): Promise<void> {
  await db
    .updateTable('signature_intake')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error.slice(0, 500) }))
    .where('id', '=', id)
    .execute();
}

/** Ids of rows still pending, oldest first (created before `before` when given). */
export async function listPendingIntake(db: Executor, limit: number, before?: string): Promise<string[]> {
  let select = db
    .selectFrom('signature_intake')
    .select('id')
    .where('status', '=', 'pending')
    .orderBy('created_at')
    .limit(limit);
  if (before) select = select.where('created_at', '<', before);
  return (await select.execute()).map((row) => row.id);
}

export async function countIntake(db: Executor): Promise<{ total: number; pending: number }> {
  const row = await db
    .selectFrom('signature_intake')
    .select((eb) => [
      eb.fn.countAll<number>().as('total'),
      eb.fn.sum<number>(eb.case().when('status', '=', 'pending').then(1).else(0).end()).as('pending'),
    ])
    .executeTakeFirstOrThrow();
  return { total: Number(row.total), pending: Number(row.pending ?? 0) };
}

/** Forgets which emails signed (the key is derived from the address) once the person is erased. */
export async function deleteIntakeOfPerson(db: Executor, personId: string): Promise<void> {
  await db
    .deleteFrom('signature_intake')
    // Not null: what SQLite's partial index on signature_id holds (migration 0016).
    .where('signature_id', 'is not', null)
    .where('signature_id', 'in', (eb) =>
      eb.selectFrom('signatures').select('id').where('person_id', '=', personId),
    )
    .execute();
}

/** Pending (not yet processed) intake rows of these email keys: what a person typed, for their data export. */
export function listPendingIntakeByEmailKeys(
  db: Executor,
  emailKeys: readonly string[],
): Promise<Array<Pick<IntakeRow, 'id' | 'petition_id' | 'payload' | 'created_at'>>> {
  if (emailKeys.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('signature_intake')
    .select(['id', 'petition_id', 'payload', 'created_at'])
    .where('status', '=', 'pending')
    .where('email_key', 'in', [...emailKeys])
    .orderBy('created_at')
    .execute();
}

/** Erasure: deletes pending intake rows of these email keys (their job then finds nothing to do). */
export async function deletePendingIntakeByEmailKeys(
  db: Executor,
  emailKeys: readonly string[],
): Promise<number> {
  if (emailKeys.length === 0) return 0;
  const result = await db
    .deleteFrom('signature_intake')
    .where('status', '=', 'pending')
    .where('email_key', 'in', [...emailKeys])
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Erasure: rejected signing attempts stay counted, without the hash of the address they used. */
export async function clearRejectionEmailHashes(db: Executor, hashes: readonly string[]): Promise<number> {
  if (hashes.length === 0) return 0;
  const result = await db
    .updateTable('signing_rejections')
    .set({ email_hash: null })
    .where('email_hash', 'in', [...hashes])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
