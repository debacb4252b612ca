import { sql, type Updateable } from 'kysely';
import type { Executor } from '../db/index.ts';
import type { EventRow, EventsTable, NewEventRow, RsvpRow, RsvpStatus, RsvpsTable } from './tables.ts';

/* Every SQL statement about events and RSVPs. */

export async function insertEvent(db: Executor, row: NewEventRow): Promise<void> {
  await db.insertInto('events').values(row).execute();
}

export async function updateEvent(db: Executor, id: string, changes: Updateable<EventsTable>): Promise<void> {
  await db.updateTable('events').set(changes).where('id', '=', id).execute();
}

/**
 * Touches the event row inside a transaction: a row lock on PostgreSQL and the write lock on
 * SQLite, so concurrent RSVPs for one event count places one after another.
 */
export async function lockEvent(db: Executor, id: string, now: string): Promise<void> {
  await db.updateTable('events').set({ updated_at: now }).where('id', '=', id).execute();
}

export function findEventById(db: Executor, id: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findEventBySlug(db: Executor, slug: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export function listEvents(
  db: Executor,
  filter: { groupIds?: readonly string[]; upcomingAfter?: string; status?: string; limit?: number },
): Promise<EventRow[]> {
  let query = db.selectFrom('events').selectAll();
  if (filter.groupIds) {
    if (filter.groupIds.length === 0) return Promise.resolve([]);
    query = query.where('group_id', 'in', filter.groupIds);
  }
  if (filter.upcomingAfter) query = query.where('ends_at', '>=', filter.upcomingAfter);
  if (filter.status) query = query.where('status', '=', filter.status);
  return query
    .orderBy('starts_at')
    .orderBy('id')
    .limit(filter.limit ?? 500)
    .execute();
}

/** One page of all events in start order, with the total (the API's events collection). */
export async function listEventsPage(
  db: Executor,
  page: { offset: number; limit: number },
): Promise<{ rows: EventRow[]; total: number }> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .orderBy('starts_at')
    .orderBy('id')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const count = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { rows, total: Number(count.n) };
}

/** One page of an event's RSVPs in id order, with the total. */
export async function listRsvpsPage(
  db: Executor,
  eventId: string,
  page: { offset: number; limit: number },
): Promise<{ rows: RsvpRow[]; total: number }> {
  const rows = await db
    .selectFrom('rsvps')
    .selectAll()
    .where('event_id', '=', eventId)
    .orderBy('id')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const count = await db
    .selectFrom('rsvps')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow();
  return { rows, total: Number(count.n) };
}

/** Events whose reminders are due (start within `until`) and not over yet. */
export function listEventsStartingBetween(db: Executor, from: string, until: string): Promise<EventRow[]> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('status', '=', 'published')
    .where('starts_at', '>', from)
    .where('starts_at', '<=', until)
    .execute();
}

export function findRsvp(db: Executor, eventId: string, personId: string): Promise<RsvpRow | undefined> {
  return db
    .selectFrom('rsvps')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('person_id', '=', personId)
    .executeTakeFirst();
}

export function findRsvpById(db: Executor, id: string): Promise<RsvpRow | undefined> {
  return db.selectFrom('rsvps').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertRsvp(db: Executor, row: RsvpRow): Promise<void> {
  await db.insertInto('rsvps').values(row).execute();
}

export async function updateRsvp(db: Executor, id: string, changes: Updateable<RsvpsTable>): Promise<void> {
  await db.updateTable('rsvps').set(changes).where('id', '=', id).execute();
}

/** Sets the check-in time only when it changes the state; true when a row changed. */
export async function setCheckedIn(db: Executor, eventId: string, rsvpId: string, at: string | null) {
  const result = await db
    .updateTable('rsvps')
    .set({ checked_in_at: at })
    .where('id', '=', rsvpId)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function countRsvpsByStatus(db: Executor, eventId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('rsvps')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('event_id', '=', eventId)
    .groupBy('status')
    .execute();
  const out: Record<string, number> = {};
  for (const row of rows) out[row.status] = Number(row.n);
  return out;
}

export async function countCheckedIn(db: Executor, eventId: string): Promise<number> {
  const row = await db
    .selectFrom('rsvps')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('event_id', '=', eventId)
    .where('checked_in_at', 'is not', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** RSVPs of an event: going first, then the waitlist in arrival order, then cancelled. */
export function listRsvps(
  db: Executor,
  eventId: string,
  statuses?: readonly RsvpStatus[],
): Promise<RsvpRow[]> {
  let query = db.selectFrom('rsvps').selectAll().where('event_id', '=', eventId);
  if (statuses) query = query.where('status', 'in', statuses);
  return query
    .orderBy(sql`case status when 'going' then 0 when 'waitlist' then 1 else 2 end`)
    .orderBy('family_name')
    .orderBy('given_name')
    .orderBy('id')
    .execute();
}

/** Keyset page of an event's RSVPs in id order, for streaming exports. */
export function listRsvpsAfter(db: Executor, eventId: string, afterId: string | null, limit: number) {
  let query = db.selectFrom('rsvps').selectAll().where('event_id', '=', eventId);
  if (afterId !== null) query = query.where('id', '>', afterId);
  return query.orderBy('id').limit(limit).execute();
}

/** The earliest waitlisted RSVPs (arrival order). */
export function listWaitlistHead(db: Executor, eventId: string, limit: number): Promise<RsvpRow[]> {
  return db
    .selectFrom('rsvps')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('status', '=', 'waitlist')
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export function listRsvpsToRemind(db: Executor, eventId: string): Promise<RsvpRow[]> {
  return db
    .selectFrom('rsvps')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('status', '=', 'going')
    .where('reminded_at', 'is', null)
    .orderBy('id')
    .execute();
}

/** Marks one RSVP reminded; false when another run did it first (so nobody is reminded twice). */
export async function claimReminder(db: Executor, rsvpId: string, at: string): Promise<boolean> {
  const result = await db
    .updateTable('rsvps')
    .set({ reminded_at: at })
    .where('id', '=', rsvpId)
    .where('reminded_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export function listRsvpsOfPerson(db: Executor, personId: string) {
  return db
    .selectFrom('rsvps')
    .innerJoin('events', 'events.id', 'rsvps.event_id')
    .select([
      'rsvps.id',
      'rsvps.status',
      'rsvps.email',
      'rsvps.checked_in_at',
      'rsvps.created_at',
      'events.title',
      'events.slug',
      'events.starts_at',
    ])
    .where('rsvps.person_id', '=', personId)
    .orderBy('rsvps.id')
    .execute();
}

/** Replaces the personal details copied onto a person's RSVPs (erasure). */
export async function anonymiseRsvpsOfPerson(db: Executor, personId: string, email: string): Promise<void> {
  await db
    .updateTable('rsvps')
    .set({ email, given_name: null, family_name: null })
    .where('person_id', '=', personId)
    .execute();
}

/** Number of RSVPs (going) per event group, for dashboards. */
export async function countUpcomingEvents(db: Executor, after: string): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'published')
    .where('ends_at', '>=', after)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Person ids with an active RSVP to an event, for audiences. */
export function attendeeIdsSubquery(db: Executor, eventId: string) {
  return db
    .selectFrom('rsvps')
    .select('rsvps.person_id')
    .where('rsvps.event_id', '=', eventId)
    .where('rsvps.status', '=', 'going');
}
