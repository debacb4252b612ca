import { PostgresAdapter, sql } from 'kysely';
import type { PersonIdSubquery } from '../../people/audience/index.ts';
import type { Executor } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type {
  MailEventKind,
  MailingRecipientRow,
  MailingRow,
  NewMailingRow,
  RecipientState,
  SuppressionRow,
} from './tables.ts';

export async function insertMailing(db: Executor, row: NewMailingRow): Promise<void> {
  await db.insertInto('mailings').values(row).execute();
}

export async function updateMailing(
  db: Executor,
  id: string,
  changes: Partial<Omit<MailingRow, 'id' | 'created_at'>>,
  onlyIfStatus?: readonly string[],
): Promise<boolean> {
  let query = db.updateTable('mailings').set(changes).where('id', '=', id);
  if (onlyIfStatus) query = query.where('status', 'in', [...onlyIfStatus]);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function findMailing(db: Executor, id: string): Promise<MailingRow | undefined> {
  return db.selectFrom('mailings').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listMailings(db: Executor, limit = 200): Promise<MailingRow[]> {
  return db.selectFrom('mailings').selectAll().orderBy('id', 'desc').limit(limit).execute();
}

/** Mailings that finished sending in [since, until), in id order (the webhook change feed). */
export function listMailingsSentBetween(
  db: Executor,
  range: { since: string; until: string },
  limit: number,
  offset: number,
): Promise<MailingRow[]> {
  return db
    .selectFrom('mailings')
    .selectAll()
    .where('status', '=', 'sent')
    .where('finished_at', '>=', range.since)
    .where('finished_at', '<', range.until)
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
}

/** One page of all mailings, oldest first (stable for paging), with the total. */
export async function listMailingsPage(
  db: Executor,
  page: { offset: number; limit: number },
): Promise<{ rows: MailingRow[]; total: number }> {
  const rows = await db
    .selectFrom('mailings')
    .selectAll()
    .orderBy('id')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const count = await db
    .selectFrom('mailings')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { rows, total: Number(count.n) };
}

/** Scheduled mailings whose time has come. */
export async function listDueMailings(db: Executor, now: string): Promise<MailingRow[]> {
  return db
    .selectFrom('mailings')
    .selectAll()
    .where('status', '=', 'scheduled')
    .where('scheduled_at', '<=', now)
    .orderBy('scheduled_at')
    .limit(50)
    .execute();
}

/**
 * Takes sender slot `slot` of a mailing until `until`, when nobody holds it (or its holder's lease
 * ran out: a crashed sender). True when this caller holds it now.
 */
export async function takeSenderSlot(
  db: Executor,
  mailingId: string,
  slot: number,
  until: string,
  now: string,
): Promise<boolean> {
  await db
    .insertInto('mailing_senders')
    .values({ mailing_id: mailingId, slot, lease_until: null })
    .onConflict((oc) => oc.columns(['mailing_id', 'slot']).doNothing())
    .execute();
  const result = await db
    .updateTable('mailing_senders')
    .set({ lease_until: until })
    .where('mailing_id', '=', mailingId)
    .where('slot', '=', slot)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function extendSenderSlot(
  db: Executor,
  mailingId: string,
  slot: number,
  until: string,
): Promise<void> {
  await db
    .updateTable('mailing_senders')
    .set({ lease_until: until })
    .where('mailing_id', '=', mailingId)
    .where('slot', '=', slot)
    .execute();
}

export async function releaseSenderSlot(db: Executor, mailingId: string, slot: number): Promise<void> {
  await db
    .updateTable('mailing_senders')
    .set({ lease_until: null })
    .where('mailing_id', '=', mailingId)
    .where('slot', '=', slot)
    .execute();
}

export async function findSenderSlotLease(
  db: Executor,
  mailingId: string,
  slot: number,
): Promise<string | null> {
  const row = await db
    .selectFrom('mailing_senders')
    .select('lease_until')
    .where('mailing_id', '=', mailingId)
    .where('slot', '=', slot)
    .executeTakeFirst();
  return row?.lease_until ?? null;
}

/** Sender slots of a mailing at work now (their lease has not run out). */
export async function countLiveSenderSlots(db: Executor, mailingId: string, now: string): Promise<number> {
  const row = await db
    .selectFrom('mailing_senders')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('mailing_id', '=', mailingId)
    .where('lease_until', '>=', now)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Claims for `senderId` until `until` the first `limit` queued recipients, in person-id order, that
 * are due now and claimed by nobody (or by a sender whose claim ran out). On PostgreSQL rows another
 * sender is claiming at the same moment are passed over (SKIP LOCKED); SQLite has one writer.
 */
export async function claimQueuedRecipients(
  db: Executor,
  mailingId: string,
  senderId: string,
  limit: number,
  now: string,
  until: string,
): Promise<MailingRecipientRow[]> {
  return db.transaction().execute(async (trx) => {
    let select = trx
      .selectFrom('mailing_recipients')
      .select('person_id')
      .where('mailing_id', '=', mailingId)
      .where('state', '=', 'queued')
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('person_id')
      .limit(limit);
    if (isPostgres(trx)) select = select.forUpdate().skipLocked();
    const ids = (await select.execute()).map((row) => row.person_id);
    if (ids.length === 0) return [];
    const rows = await trx
      .updateTable('mailing_recipients')
      .set({ claimed_by: senderId, claimed_until: until })
      .where('mailing_id', '=', mailingId)
      .where('person_id', 'in', ids)
      .returningAll()
      .execute();
    return rows.sort((a, b) => (a.person_id < b.person_id ? -1 : a.person_id > b.person_id ? 1 : 0));
  });
}

/** Keeps a sender's claims on the recipients it has not finished with. */
export async function extendRecipientClaims(
  db: Executor,
  mailingId: string,
  senderId: string,
  until: string,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set({ claimed_until: until })
    .where('mailing_id', '=', mailingId)
    .where('claimed_by', '=', senderId)
    .where('state', '=', 'queued')
    .execute();
}

/** A sender stopping gives back the recipients it claimed and did not finish (they stay queued). */
export async function releaseRecipientClaims(
  db: Executor,
  mailingId: string,
  senderId: string,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set({ claimed_by: null, claimed_until: null })
    .where('mailing_id', '=', mailingId)
    .where('claimed_by', '=', senderId)
    .where('state', '=', 'queued')
    .execute();
}

/** When the earliest live claim of another sender on a queued recipient runs out, if any. */
export async function findEarliestClaimEnd(
  db: Executor,
  mailingId: string,
  now: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('mailing_recipients')
    .select((eb) => eb.fn.min<string>('claimed_until').as('at'))
    .where('mailing_id', '=', mailingId)
    .where('state', '=', 'queued')
    .where('claimed_until', '>=', now)
    .executeTakeFirst();
  return row?.at ?? null;
}

/** Earliest retry time among queued recipients nobody is working on (waiting for a backoff), if any. */
export async function findNextRetryAt(db: Executor, mailingId: string, now: string): Promise<string | null> {
  const row = await db
    .selectFrom('mailing_recipients')
    .select((eb) => eb.fn.min<string>('next_attempt_at').as('at'))
    .where('mailing_id', '=', mailingId)
    .where('state', '=', 'queued')
    // Recipients another sender is working on are its business (see findEarliestClaimEnd).
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .executeTakeFirst();
  return row?.at ?? null;
}

export async function countRecipientsInState(
  db: Executor,
  mailingId: string,
  states: readonly RecipientState[],
): Promise<number> {
  const row = await db
    .selectFrom('mailing_recipients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('mailing_id', '=', mailingId)
    .where('state', 'in', [...states])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countRecipientsByState(
  db: Executor,
  mailingId: string,
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('mailing_recipients')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('mailing_id', '=', mailingId)
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/**
 * Marks several accepted messages sent in one statement (group commit). Their Message-IDs follow
 * the sender's fixed form `<m.{mailing}.{person}@{domain}>`, so they are written by SQL.
 */
export async function markRecipientsSent(
  db: Executor,
  mailingId: string,
  personIds: readonly string[],
  messageIdDomain: string,
  at: string,
): Promise<void> {
  if (personIds.length === 0) return;
  await db
    .updateTable('mailing_recipients')
    .set((eb) => ({
      state: 'sent',
      sent_at: at,
      message_id: sql<string>`'<m.' || mailing_id || '.' || person_id || '@' || cast(${messageIdDomain} as text) || '>'`,
      last_error: null,
      attempts: eb('attempts', '+', 1),
    }))
    .where('mailing_id', '=', mailingId)
    .where('person_id', 'in', [...personIds])
    .execute();
}

export async function markRecipientsSkipped(
  db: Executor,
  mailingId: string,
  personIds: readonly string[],
  reason: string,
): Promise<void> {
  if (personIds.length === 0) return;
  await db
    .updateTable('mailing_recipients')
    .set({ state: 'skipped', last_error: reason })
    .where('mailing_id', '=', mailingId)
    .where('person_id', 'in', [...personIds])
    .where('state', '=', 'queued')
    .execute();
}

export async function markRecipientFinal(
  db: Executor,
  mailingId: string,
  personId: string,
  state: 'failed' | 'bounced',
  error: string,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set((eb) => ({ state, last_error: error.slice(0, 1000), attempts: eb('attempts', '+', 1) }))
    .where('mailing_id', '=', mailingId)
    .where('person_id', '=', personId)
    .execute();
}

/** Keeps the recipient queued, to be tried again at `retryAt`. */
export async function deferRecipient(
  db: Executor,
  mailingId: string,
  personId: string,
  retryAt: string,
  error: string,
  countAttempt: boolean,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set((eb) => ({
      next_attempt_at: retryAt,
      last_error: error.slice(0, 1000),
      attempts: countAttempt ? eb('attempts', '+', 1) : eb.ref('attempts'),
    }))
    .where('mailing_id', '=', mailingId)
    .where('person_id', '=', personId)
    .execute();
}

/** A/B: the recipients whose person id ends in one of these hex digits get variant B. */
export async function assignVariantByLastDigit(
  db: Executor,
  mailingId: string,
  digits: readonly string[],
  variant: string,
): Promise<void> {
  if (digits.length === 0) return;
  await db
    .updateTable('mailing_recipients')
    .set({ variant })
    .where('mailing_id', '=', mailingId)
    .where(sql<string>`lower(substr(person_id, length(person_id), 1))`, 'in', [...digits])
    .execute();
}

/** Queues the held-back rest of an A/B test (or all held) with the winning variant. */
export async function releaseHeldRecipients(
  db: Executor,
  mailingId: string,
  variant: string,
): Promise<number> {
  const result = await db
    .updateTable('mailing_recipients')
    .set({ state: 'queued', variant })
    .where('mailing_id', '=', mailingId)
    .where('state', '=', 'held')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function queueRecipientsByLastDigit(
  db: Executor,
  mailingId: string,
  digits: readonly string[],
): Promise<void> {
  if (digits.length === 0) return;
  await db
    .updateTable('mailing_recipients')
    .set({ state: 'queued' })
    .where('mailing_id', '=', mailingId)
    .where('state', '=', 'held')
    .where(sql<string>`lower(substr(person_id, length(person_id), 1))`, 'in', [...digits])
    .execute();
}

export async function findRecipient(
  db: Executor,
  mailingId: string,
  personId: string,
): Promise<MailingRecipientRow | undefined> {
  return db
    .selectFrom('mailing_recipients')
    .selectAll()
    .where('mailing_id', '=', mailingId)
    .where('person_id', '=', personId)
    .executeTakeFirst();
}

export async function markRecipientBounced(
  db: Executor,
  mailingId: string,
  personId: string,
  error: string,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set({ state: 'bounced', last_error: error.slice(0, 1000) })
    .where('mailing_id', '=', mailingId)
    .where('person_id', '=', personId)
    .execute();
}

export async function insertMailEvent(
  db: Executor,
  event: {
    mailingId: string | null;
    personId: string | null;
    email?: string | null;
    kind: MailEventKind;
    url?: string | null;
    details?: string | null;
    at: string;
  },
): Promise<void> {
  await db
    .insertInto('mail_events')
    .values({
      id: newId(),
      mailing_id: event.mailingId,
      person_id: event.personId,
      email: event.email ?? null,
      kind: event.kind,
      url: event.url ?? null,
      details: event.details ?? null,
      created_at: event.at,
    })
    .execute();
}

/** Distinct people per event kind for one mailing (opens, clicks, …), optionally per variant. */
export async function countEventPeople(
  db: Executor,
  mailingId: string,
): Promise<Array<{ kind: string; variant: string; n: number }>> {
  const rows = await db
    .selectFrom('mail_events')
    .innerJoin('mailing_recipients', (join) =>
      join
        .onRef('mailing_recipients.mailing_id', '=', 'mail_events.mailing_id')
        .onRef('mailing_recipients.person_id', '=', 'mail_events.person_id'),
    )
    .select([
      'mail_events.kind as kind',
      'mailing_recipients.variant as variant',
      (eb) => eb.fn.count<number>('mail_events.person_id').distinct().as('n'),
    ])
    .where('mail_events.mailing_id', '=', mailingId)
    .groupBy(['mail_events.kind', 'mailing_recipients.variant'])
    .execute();
  return rows.map((r) => ({ kind: r.kind, variant: r.variant, n: Number(r.n) }));
}

export async function countSentByVariant(db: Executor, mailingId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('mailing_recipients')
    .select(['variant', (eb) => eb.fn.countAll<number>().as('n')])
    .where('mailing_id', '=', mailingId)
    .where('state', 'in', ['sent', 'bounced'])
    .groupBy('variant')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.variant, Number(r.n)]));
}

export async function listMailEvents(
  db: Executor,
  mailingId: string,
  kind?: MailEventKind,
): Promise<Array<{ person_id: string | null; kind: string; url: string | null; created_at: string }>> {
  let query = db
    .selectFrom('mail_events')
    .select(['person_id', 'kind', 'url', 'created_at'])
    .where('mailing_id', '=', mailingId);
  if (kind) query = query.where('kind', '=', kind);
  return query.orderBy('id').limit(10_000).execute();
}

/** Adds (or keeps) a suppression; returns true when it is new. */
export async function insertSuppression(
  db: Executor,
  address: string,
  reason: string,
  details: string | null,
  at: string,
): Promise<boolean> {
  const result = await db
    .insertInto('suppressions')
    .values({ address, reason, details, created_at: at })
    .onConflict((oc) => oc.column('address').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findSuppression(db: Executor, address: string): Promise<SuppressionRow | undefined> {
  return db.selectFrom('suppressions').selectAll().where('address', '=', address).executeTakeFirst();
}

export async function listSuppressedAmong(db: Executor, addresses: readonly string[]): Promise<Set<string>> {
  if (addresses.length === 0) return new Set();
  const rows = await db
    .selectFrom('suppressions')
    .select('address')
    .where('address', 'in', [...addresses])
    .execute();
  return new Set(rows.map((r) => r.address));
}

export async function findDomainThrottle(
  db: Executor,
  domain: string,
): Promise<{ paused_until: string; strikes: number } | undefined> {
  return db
    .selectFrom('mail_domain_throttles')
    .select(['paused_until', 'strikes'])
    .where('domain', '=', domain)
    .executeTakeFirst();
}

export async function listThrottledDomains(db: Executor, now: string): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('mail_domain_throttles')
    .select(['domain', 'paused_until'])
    .where('paused_until', '>', now)
    .execute();
  return new Map(rows.map((r) => [r.domain, r.paused_until]));
}

export async function upsertDomainThrottle(
  db: Executor,
  domain: string,
  pausedUntil: string,
  strikes: number,
  error: string,
  at: string,
): Promise<void> {
  await db
    .insertInto('mail_domain_throttles')
    .values({ domain, paused_until: pausedUntil, strikes, last_error: error.slice(0, 500), updated_at: at })
    .onConflict((oc) =>
      oc
        .column('domain')
        .doUpdateSet({ paused_until: pausedUntil, strikes, last_error: error.slice(0, 500), updated_at: at }),
    )
    .execute();
}

/** Which of these people the subquery contains (action-aware re-check of one batch). */
export async function listPeopleAmong(
  db: Executor,
  subquery: PersonIdSubquery,
  personIds: readonly string[],
): Promise<Set<string>> {
  if (personIds.length === 0) return new Set();
  const rows = await db
    .selectFrom(subquery.as('matched'))
    .select('matched.person_id')
    .where('matched.person_id', 'in', [...personIds])
    .execute();
  return new Set(rows.map((r) => r.person_id));
}

/** Recipients of a mailing that the subquery contains, per variant (e.g. signatures from it). */
export async function countRecipientsAmong(
  db: Executor,
  mailingId: string,
  subquery: PersonIdSubquery,
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('mailing_recipients')
    .select(['variant', (eb) => eb.fn.countAll<number>().as('n')])
    .where('mailing_id', '=', mailingId)
    .where('person_id', 'in', subquery)
    .groupBy('variant')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.variant, Number(r.n)]));
}

/** The last mailing sent to this person at this address (for reports that name only an address). */
export async function findLatestSentRecipient(
  db: Executor,
  personId: string,
  email: string,
): Promise<MailingRecipientRow | undefined> {
  return db
    .selectFrom('mailing_recipients')
    .selectAll()
    .where('person_id', '=', personId)
    .where('email', '=', email)
    .where('state', 'in', ['sent', 'bounced'])
    .orderBy('sent_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export interface HourlyRow {
  hour: string;
  sent: number;
  open: number;
  click: number;
  unsubscribe: number;
  bounce: number;
  complaint: number;
  /** Signatures that came from this mailing. */
  signatures: number;
}

/** Sent messages, events and signatures per hour (UTC, "YYYY-MM-DDTHH"), oldest first. */
export async function countActivityByHour(
  db: Executor,
  mailingId: string,
  signaturesByHour: ReadonlyArray<{ hour: string; n: number }> = [],
): Promise<HourlyRow[]> {
  const sentHour = sql<string>`substr(sent_at, 1, 13)`;
  const eventHour = sql<string>`substr(created_at, 1, 13)`;
  const sent = await db
    .selectFrom('mailing_recipients')
    .select([sentHour.as('hour'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('mailing_id', '=', mailingId)
    .where('sent_at', 'is not', null)
    .groupBy(sentHour)
    .execute();
  const events = await db
    .selectFrom('mail_events')
    .select([eventHour.as('hour'), 'kind', (eb) => eb.fn.countAll<number>().as('n')])
    .where('mailing_id', '=', mailingId)
    .groupBy([eventHour, 'kind'])
    .execute();
  const rows = new Map<string, HourlyRow>();
  const rowOf = (hour: string) => {
    let row = rows.get(hour);
    if (!row) {
      row = { hour, sent: 0, open: 0, click: 0, unsubscribe: 0, bounce: 0, complaint: 0, signatures: 0 };
      rows.set(hour, row);
    }
    return row;
  };
  for (const r of sent) rowOf(r.hour).sent = Number(r.n);
  for (const r of signaturesByHour) rowOf(r.hour).signatures = r.n;
  for (const r of events) {
    const row = rowOf(r.hour);
    if (r.kind in row && r.kind !== 'hour') (row as unknown as Record<string, number>)[r.kind] = Number(r.n);
  }
  return [...rows.values()].sort((a, b) => (a.hour < b.hour ? -1 : 1));
}

/**
 * Erasure: the person's recipient rows and mail events stay (so reports count right) with a
 * placeholder address; a message not sent yet never will be.
 */
export async function anonymiseRecipientOf(
  db: Executor,
  personId: string,
  addresses: readonly string[],
  placeholder: string,
): Promise<void> {
  await db
    .updateTable('mailing_recipients')
    .set({ state: 'skipped', last_error: 'erased' })
    .where('person_id', '=', personId)
    .where('state', 'in', ['queued', 'held'])
    .execute();
  await db
    .updateTable('mailing_recipients')
    .set({ email: placeholder })
    .where('person_id', '=', personId)
    .execute();
  await db
    .updateTable('mail_events')
    // Bounce details quote the address back; they go with it.
    .set({ email: placeholder, details: null })
    .where((eb) =>
      addresses.length
        ? eb.or([eb('person_id', '=', personId), eb('email', 'in', [...addresses])])
        : eb('person_id', '=', personId),
    )
    .execute();
}

function isPostgres(db: Executor): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
