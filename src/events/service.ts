import type { AppContext } from '../context.ts';
import type { Executor, Trx } from '../db/index.ts';
import { isUniqueViolation } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { enqueueJob } from '../jobs/index.ts';
import type { MailService } from '../mail/index.ts';
import type { PeopleService } from '../people/index.ts';
import { PublicFormLimits } from '../web/form-limits.ts';
import { eventIcs } from './ics.ts';
import { eventMessages } from './i18n.ts';
import * as store from './store.ts';
import type { EventRow, RsvpRow, RsvpStatus } from './tables.ts';
import { formatEventTime, isTimeZone, utcToZonedLocal, zonedLocalToUtc } from './time.ts';
import { makeRsvpToken, verifyRsvpToken } from './tokens.ts';

export const REMINDER_QUEUE = 'events.reminders';
const DAY_MS = 24 * 3600_000;
const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const emailPattern = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

export interface EventInput {
  slug?: string | null;
  title: string;
  description?: string | null;
  /** Wall-clock "YYYY-MM-DDTHH:mm" in `timeZone`. */
  startsLocal: string;
  endsLocal: string;
  timeZone: string;
  place?: string | null;
  onlineUrl?: string | null;
  capacity?: number | string | null;
  groupId?: string | null;
  status?: 'published' | 'cancelled';
}

export interface RsvpInput {
  email: string;
  givenName?: string | null;
  familyName?: string | null;
  postalCode?: string | null;
  subscribe?: boolean;
  language?: string | null;
}

export interface RequestMeta {
  ip: string | null;
  userAgent?: string | null;
}

export type RsvpOutcome =
  | { status: 'going' | 'waitlist'; rsvpId: string; created: boolean }
  | { status: 'already_going' | 'already_waitlist'; rsvpId: string; created: false };

export interface EventCounts {
  going: number;
  waitlist: number;
  cancelled: number;
  checkedIn: number;
  /** null when the event has no capacity limit. */
  spacesLeft: number | null;
}

export interface EventsDeps {
  people: PeopleService;
  mail: MailService;
}

/** Called inside the RSVP's transaction when someone RSVPs to a group's event (they join the group). */
export type GroupRsvpHook = (executor: Executor, groupId: string, personId: string) => Promise<void>;

function text(value: string | null | undefined, max: number): string | null {
  const trimmed = (value ?? '').trim();
  return trimmed ? trimmed.slice(0, max) : null;
}

function slugify(title: string): string {
  return (
    title
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60)
      .replace(/-+$/g, '') || 'event'
  );
}

function validateEvent(input: EventInput) {
  const title = (input.title ?? '').trim();
  if (!title || title.length > 200)
    throw new AppError('invalid', 'The title is required (up to 200 characters).');
  const timeZone = (input.timeZone ?? '').trim();
  if (!isTimeZone(timeZone)) {
    throw new AppError(
      'invalid',
      'The time zone must be an IANA zone such as "America/Los_Angeles" or "UTC".',
    );
  }
  const starts = zonedLocalToUtc(input.startsLocal ?? '', timeZone);
  if (!starts) throw new AppError('invalid', 'The start must be a date and time like 2026-12-01T18:30.');
  const ends = zonedLocalToUtc(input.endsLocal ?? '', timeZone);
  if (!ends) throw new AppError('invalid', 'The end must be a date and time like 2026-12-01T20:00.');
  if (ends.getTime() <= starts.getTime())
    throw new AppError('invalid', 'The event must end after it starts.');
  let capacity: number | null = null;
  const capacityText = String(input.capacity ?? '').trim();
  if (capacityText) {
    capacity = Number(capacityText);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1_000_000) {
      throw new AppError(
        'invalid',
        'The capacity must be a whole number of at least 1, or empty for no limit.',
      );
    }
  }
  let onlineUrl = text(input.onlineUrl, 2000);
  if (onlineUrl) {
    let url: URL;
    try {
      url = new URL(onlineUrl);
    } catch {
      throw new AppError('invalid', 'The online link must be a full web address starting with https://.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AppError('invalid', 'The online link must start with https:// or http://.');
    }
    onlineUrl = url.toString();
  }
  const place = text(input.place, 500);
  if (!place && !onlineUrl) throw new AppError('invalid', 'Give a place, an online link, or both.');
  const slugText = (input.slug ?? '').trim().toLowerCase();
  if (slugText && (!slugPattern.test(slugText) || slugText.length > 80)) {
    throw new AppError('invalid', 'The address must be lower-case letters, digits and single dashes.');
  }
  return {
    slug: slugText || null,
    row: {
      title,
      description: (input.description ?? '').trim().slice(0, 20_000),
      starts_at: starts.toISOString(),
      ends_at: ends.toISOString(),
      time_zone: timeZone,
      place,
      online_url: onlineUrl,
      capacity,
      group_id: text(input.groupId, 64),
      status: input.status === 'cancelled' ? 'cancelled' : 'published',
    },
  };
}

export function createEventsService(ctx: AppContext, deps: EventsDeps) {
  const { db, config } = ctx;
  const { people, mail } = deps;
  const domain = new URL(config.publicUrl).hostname;
  let onGroupRsvp: GroupRsvpHook | null = null;
  // The public form is limited like signing a petition (the same settings, counted apart).
  const limits = new PublicFormLimits(
    'rsvp',
    { perIp: config.signRateIp, perEmail: config.signRateEmail },
    ctx.log,
    { db, secret: config.secretKey },
  );

  const eventUrl = (event: EventRow) => `${config.publicUrl}/events/${event.slug}`;
  const cancelUrl = (event: EventRow, rsvpId: string) =>
    `${config.publicUrl}/events/rsvp/cancel?token=${encodeURIComponent(
      makeRsvpToken(config.secretKey, rsvpId, new Date(Date.parse(event.ends_at) + 7 * DAY_MS)),
    )}`;

  async function getEvent(id: string): Promise<EventRow> {
    const event = await store.findEventById(db, id);
    if (!event) throw new AppError('not_found', 'There is no such event.');
    return event;
  }

  async function getEventBySlug(slug: string): Promise<EventRow> {
    const event = slugPattern.test(slug) ? await store.findEventBySlug(db, slug) : undefined;
    if (!event) throw new AppError('not_found', 'There is no such event.');
    return event;
  }

  async function scheduleReminder(executor: Executor, event: EventRow): Promise<void> {
    const remindAt = Date.parse(event.starts_at) - DAY_MS;
    if (Date.parse(event.starts_at) <= Date.now() || event.status !== 'published') return;
    await enqueueJob(executor, {
      queue: REMINDER_QUEUE,
      payload: { eventId: event.id },
      runAt: new Date(Math.max(remindAt, Date.now())),
    });
  }

  async function createEvent(input: EventInput): Promise<EventRow> {
    const { slug, row } = validateEvent(input);
    const now = nowIso();
    const base = slug ?? slugify(row.title);
    for (let attempt = 0; attempt < 20; attempt++) {
      const candidate = attempt === 0 ? base : `${base}-${attempt + 1}`;
      const event: EventRow = { id: newId(), slug: candidate, ...row, created_at: now, updated_at: now };
      try {
        await db.transaction().execute(async (trx) => {
          await store.insertEvent(trx, event);
          await scheduleReminder(trx, event);
        });
        return event;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        if (slug) throw new AppError('conflict', `Another event already uses the address "${slug}".`);
      }
    }
    throw new AppError('conflict', 'Choose another address for this event.');
  }

  async function updateEvent(id: string, input: EventInput): Promise<EventRow> {
    const current = await getEvent(id);
    const { slug, row } = validateEvent(input);
    const updated: EventRow = { ...current, ...row, slug: slug ?? current.slug, updated_at: nowIso() };
    try {
      await db.transaction().execute(async (trx) => {
        await store.updateEvent(trx, id, { ...row, slug: updated.slug, updated_at: updated.updated_at });
        // A moved start gets its own reminder job; the old one finds nothing due and does nothing.
        if (updated.starts_at !== current.starts_at || updated.status !== current.status) {
          await scheduleReminder(trx, updated);
        }
        if (updated.capacity !== current.capacity) await promoteFromWaitlist(trx, updated);
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('conflict', `Another event already uses the address "${slug}".`);
      throw error;
    }
    return updated;
  }

  async function countsOf(event: EventRow, executor: Executor = db): Promise<EventCounts> {
    const [byStatus, checkedIn] = [
      await store.countRsvpsByStatus(executor, event.id),
      await store.countCheckedIn(executor, event.id),
    ];
    const going = byStatus.going ?? 0;
    return {
      going,
      waitlist: byStatus.waitlist ?? 0,
      cancelled: byStatus.cancelled ?? 0,
      checkedIn,
      spacesLeft: event.capacity === null ? null : Math.max(0, event.capacity - going),
    };
  }

  function whenAndWhere(event: EventRow): string {
    const lines = [`When: ${formatEventTime(event.starts_at, event.ends_at, event.time_zone)}`];
    if (event.place) lines.push(`Where: ${event.place}`);
    if (event.online_url) lines.push(`Online: ${event.online_url}`);
    return lines.join('\n');
  }

  function greeting(rsvp: Pick<RsvpRow, 'given_name'>): string {
    return rsvp.given_name ? `Hello ${rsvp.given_name},` : 'Hello,';
  }

  function icsAttachment(event: EventRow) {
    return {
      filename: 'event.ics',
      content: eventIcs(event, { url: eventUrl(event), domain }),
      contentType: 'text/calendar; charset=utf-8; method=PUBLISH',
    };
  }

  async function queueGoingEmail(trx: Executor, event: EventRow, rsvp: RsvpRow, promoted: boolean) {
    const intro = promoted
      ? `A place opened up at ${event.title}: you are now on the list of people going.`
      : `You are going to ${event.title}. Thank you!`;
    await mail.queueTransactional(trx, {
      to: rsvp.email,
      subject: promoted
        ? `A place opened up: you're going to ${event.title}`
        : `You're going: ${event.title}`,
      text: `${greeting(rsvp)}\n\n${intro}\n\n${whenAndWhere(event)}\n\nDetails: ${eventUrl(event)}\n\nThe attached calendar file adds it to your calendar.\n\nCan't make it? Please free your place for someone else: ${cancelUrl(event, rsvp.id)}\n`,
      kind: promoted ? 'event.promoted' : 'event.rsvp',
      personId: rsvp.person_id,
      attachments: [icsAttachment(event)],
    });
  }

  async function queueWaitlistEmail(trx: Executor, event: EventRow, rsvp: RsvpRow) {
    await mail.queueTransactional(trx, {
      to: rsvp.email,
      subject: `You're on the waitlist: ${event.title}`,
      text: `${greeting(rsvp)}\n\n${event.title} is full, so you are on the waitlist. If a place opens up, you will get it in order of sign-up and we will email you.\n\n${whenAndWhere(event)}\n\nDetails: ${eventUrl(event)}\n\nTo leave the waitlist: ${cancelUrl(event, rsvp.id)}\n`,
      kind: 'event.waitlist',
      personId: rsvp.person_id,
    });
  }

  /** Moves waitlisted people into free places, in order of arrival, and tells each of them. */
  async function promoteFromWaitlist(trx: Trx, event: EventRow): Promise<RsvpRow[]> {
    if (event.status !== 'published') return [];
    const counts = await countsOf(event, trx);
    const free = counts.spacesLeft === null ? counts.waitlist : counts.spacesLeft;
    if (free <= 0) return [];
    const promoted = await store.listWaitlistHead(trx, event.id, free);
    const now = nowIso();
    for (const rsvp of promoted) {
      await store.updateRsvp(trx, rsvp.id, { status: 'going', updated_at: now });
      await queueGoingEmail(trx, event, { ...rsvp, status: 'going' }, true);
      await people.addActivity(
        trx,
        rsvp.person_id,
        'event.promoted',
        `Moved from the waitlist to going: ${event.title}`,
        {
          eventId: event.id,
        },
      );
    }
    return promoted;
  }

  /** A public RSVP: the person is merged by email, then given a place or a waitlist spot. */
  async function rsvp(slug: string, input: RsvpInput, meta: RequestMeta): Promise<RsvpOutcome> {
    const event = await getEventBySlug(slug);
    const m = eventMessages(input.language);
    if (event.status !== 'published') throw new AppError('conflict', m.errors.eventCancelled);
    if (Date.parse(event.ends_at) < Date.now()) throw new AppError('conflict', m.errors.eventOver);
    const email = (input.email ?? '').trim();
    if (!emailPattern.test(email) || email.length > 254) {
      throw new AppError('invalid', m.errors.email);
    }
    limits.check(meta, email, event, (reason, wait) => {
      const minutes = m.errors.minutes(Math.ceil(wait / 60));
      return reason === 'rate_limited_ip' ? m.errors.rateIp(minutes) : m.errors.rateEmail(minutes);
    });
    return db.transaction().execute(async (trx) => {
      const now = nowIso();
      await store.lockEvent(trx, event.id, now);
      const merged = await people.mergePersonByEmail(trx, {
        email,
        givenName: text(input.givenName, 100),
        familyName: text(input.familyName, 100),
        language: text(input.language, 10),
        address: input.postalCode ? { postalCode: text(input.postalCode, 20) } : null,
        source: `event:${event.slug}`,
        subscribe: input.subscribe === true,
        consent: input.subscribe ? { what: 'email', source: `event:${event.slug}`, ip: meta.ip } : null,
      });
      const existing = await store.findRsvp(trx, event.id, merged.personId);
      if (existing && existing.status === 'going')
        return { status: 'already_going', rsvpId: existing.id, created: false } as const;
      if (existing && existing.status === 'waitlist')
        return { status: 'already_waitlist', rsvpId: existing.id, created: false } as const;
      const counts = await countsOf(event, trx);
      // Nobody jumps the queue: with people waiting, a new RSVP waits too.
      const status: RsvpStatus =
        event.capacity === null || (counts.going < event.capacity && counts.waitlist === 0)
          ? 'going'
          : 'waitlist';
      const row: RsvpRow = {
        id: existing?.id ?? newId(),
        event_id: event.id,
        person_id: merged.personId,
        email: email.toLowerCase(),
        given_name: text(input.givenName, 100),
        family_name: text(input.familyName, 100),
        status,
        checked_in_at: null,
        reminded_at: null,
        created_at: now,
        updated_at: now,
      };
      if (existing) {
        await store.updateRsvp(trx, existing.id, {
          status,
          email: row.email,
          given_name: row.given_name ?? existing.given_name,
          family_name: row.family_name ?? existing.family_name,
          checked_in_at: null,
          reminded_at: null,
          created_at: now,
          updated_at: now,
        });
      } else {
        await store.insertRsvp(trx, row);
      }
      if (event.group_id && onGroupRsvp) await onGroupRsvp(trx, event.group_id, merged.personId);
      if (status === 'going') await queueGoingEmail(trx, event, row, false);
      else await queueWaitlistEmail(trx, event, row);
      await people.addActivity(
        trx,
        merged.personId,
        'event.rsvp',
        status === 'going' ? `RSVP: going to ${event.title}` : `RSVP: waitlisted for ${event.title}`,
        { eventId: event.id, status },
      );
      return { status, rsvpId: row.id, created: !existing } as const;
    });
  }

  /** The RSVP a cancel link points at, with its event; not_found for forged or expired links. */
  async function rsvpForToken(token: string): Promise<{ rsvp: RsvpRow; event: EventRow }> {
    const id = verifyRsvpToken(config.secretKey, token);
    const rsvp = id ? await store.findRsvpById(db, id) : undefined;
    if (!rsvp) throw new AppError('not_found', 'This link is not valid or has expired.');
    return { rsvp, event: await getEvent(rsvp.event_id) };
  }

  /** Cancels an RSVP and gives its place to the first person waiting. Cancelling twice changes nothing. */
  async function cancelRsvp(
    rsvpId: string,
  ): Promise<{ event: EventRow; promoted: RsvpRow[]; changed: boolean }> {
    return db.transaction().execute(async (trx) => {
      const rsvp = await store.findRsvpById(trx, rsvpId);
      if (!rsvp) throw new AppError('not_found', 'There is no such RSVP.');
      const event = await store.findEventById(trx, rsvp.event_id);
      if (!event) throw new AppError('not_found', 'There is no such event.');
      await store.lockEvent(trx, event.id, nowIso());
      const current = await store.findRsvpById(trx, rsvpId);
      if (!current || current.status === 'cancelled') return { event, promoted: [], changed: false };
      await store.updateRsvp(trx, rsvpId, { status: 'cancelled', updated_at: nowIso() });
      await people.addActivity(trx, rsvp.person_id, 'event.cancel', `Cancelled RSVP: ${event.title}`, {
        eventId: event.id,
      });
      const promoted = current.status === 'going' ? await promoteFromWaitlist(trx, event) : [];
      return { event, promoted, changed: true };
    });
  }

  async function cancelByToken(token: string) {
    const { rsvp } = await rsvpForToken(token);
    return cancelRsvp(rsvp.id);
  }

  async function setCheckIn(eventId: string, rsvpId: string, checkedIn: boolean): Promise<void> {
    const rsvp = await store.findRsvpById(db, rsvpId);
    if (!rsvp || rsvp.event_id !== eventId)
      throw new AppError('not_found', 'There is no such RSVP for this event.');
    await store.setCheckedIn(db, eventId, rsvpId, checkedIn ? (rsvp.checked_in_at ?? nowIso()) : null);
  }

  /**
   * Sends the day-before reminder to everyone going who has not had it. Each RSVP is claimed and its
   * email queued in one transaction, so a rerun (or a second worker) never reminds anyone twice.
   */
  async function sendReminders(eventId: string, now = new Date()): Promise<number> {
    const event = await store.findEventById(db, eventId);
    if (!event || event.status !== 'published') return 0;
    const starts = Date.parse(event.starts_at);
    // Not due (the start moved later) or already started: nothing to do.
    if (now.getTime() < starts - DAY_MS - 60_000 || now.getTime() >= starts) return 0;
    let sent = 0;
    for (const rsvp of await store.listRsvpsToRemind(db, eventId)) {
      const claimed = await db.transaction().execute(async (trx) => {
        if (!(await store.claimReminder(trx, rsvp.id, now.toISOString()))) return false;
        await mail.queueTransactional(trx, {
          to: rsvp.email,
          subject: `Reminder: ${event.title} is tomorrow`,
          text: `${greeting(rsvp)}\n\nA reminder that ${event.title} starts soon.\n\n${whenAndWhere(event)}\n\nDetails: ${eventUrl(event)}\n\nCan't make it any more? Please free your place: ${cancelUrl(event, rsvp.id)}\n`,
          kind: 'event.reminder',
          personId: rsvp.person_id,
          attachments: [icsAttachment(event)],
        });
        return true;
      });
      if (claimed) sent++;
    }
    return sent;
  }

  /** Reminders for every event starting within the next day (a safety net for the per-event jobs). */
  async function sendDueReminders(now = new Date()): Promise<number> {
    const events = await store.listEventsStartingBetween(
      db,
      now.toISOString(),
      new Date(now.getTime() + DAY_MS).toISOString(),
    );
    let sent = 0;
    for (const event of events) sent += await sendReminders(event.id, now);
    return sent;
  }

  ctx.jobs.register(REMINDER_QUEUE, async (payload) => {
    await sendReminders(String(payload.eventId));
  });

  /** Every RSVP of an event in id order, one keyset page at a time (flat memory for exports). */
  async function* streamRsvps(eventId: string, pageSize = 1000): AsyncGenerator<RsvpRow> {
    let after: string | null = null;
    for (;;) {
      const page = await store.listRsvpsAfter(db, eventId, after, pageSize);
      for (const row of page) yield row;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }

  return {
    /** People who RSVP to a group's event become members of that group (so its leaders see them). */
    useGroupMembership(hook: GroupRsvpHook) {
      onGroupRsvp = hook;
    },
    createEvent,
    updateEvent,
    getEvent,
    getEventBySlug,
    listEvents: (filter: { groupIds?: readonly string[]; upcoming?: boolean; limit?: number } = {}) =>
      store.listEvents(db, {
        ...(filter.groupIds ? { groupIds: filter.groupIds } : {}),
        ...(filter.upcoming ? { upcomingAfter: nowIso(), status: 'published' } : {}),
        ...(filter.limit ? { limit: filter.limit } : {}),
      }),
    countsOf,
    eventUrl,
    formInputOf: (event: EventRow): EventInput => ({
      slug: event.slug,
      title: event.title,
      description: event.description,
      startsLocal: utcToZonedLocal(event.starts_at, event.time_zone),
      endsLocal: utcToZonedLocal(event.ends_at, event.time_zone),
      timeZone: event.time_zone,
      place: event.place,
      onlineUrl: event.online_url,
      capacity: event.capacity,
      groupId: event.group_id,
      status: event.status === 'cancelled' ? 'cancelled' : 'published',
    }),
    rsvp,
    rsvpForToken,
    cancelRsvp,
    cancelByToken,
    cancelLink: cancelUrl,
    listRsvps: (eventId: string, statuses?: readonly RsvpStatus[]) => store.listRsvps(db, eventId, statuses),
    /** Pages for the API: every event in start order; an event's RSVPs in id order. */
    listEventsPage: (page: { offset: number; limit: number }) => store.listEventsPage(db, page),
    listRsvpsPage: (eventId: string, page: { offset: number; limit: number }) =>
      store.listRsvpsPage(db, eventId, page),
    /** One RSVP of the event, or undefined. */
    findRsvpOfEvent: async (eventId: string, rsvpId: string) => {
      const rsvp = await store.findRsvpById(db, rsvpId);
      return rsvp && rsvp.event_id === eventId ? rsvp : undefined;
    },
    streamRsvps,
    setCheckIn,
    sendReminders,
    sendDueReminders,
    rsvpsOfPerson: (personId: string) => store.listRsvpsOfPerson(db, personId),
    /** Replaces the personal details copied onto a person's RSVPs (erasure keeps the counts). */
    anonymisePerson: (executor: Executor, personId: string, email: string) =>
      store.anonymiseRsvpsOfPerson(executor, personId, email),
    countUpcomingEvents: () => store.countUpcomingEvents(db, nowIso()),
    /** Person ids going to an event, as a subquery for audiences. */
    attendeeIdsQuery: (eventId: string) => store.attendeeIdsSubquery(db, eventId),
  };
}

export type EventsService = ReturnType<typeof createEventsService>;
