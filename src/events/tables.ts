import type { Insertable, Selectable } from 'kysely';

/** Event tables (migration 0007-groups-events), merged into the app's Database type. */
export interface EventsTable {
  id: string;
  slug: string;
  title: string;
  description: string;
  /** UTC ISO instants; `time_zone` is the IANA zone the event is shown in. */
  starts_at: string;
  ends_at: string;
  time_zone: string;
  place: string | null;
  online_url: string | null;
  /** null: no limit. */
  capacity: number | null;
  group_id: string | null;
  /** published | cancelled */
  status: string;
  created_at: string;
  updated_at: string;
}

export interface RsvpsTable {
  id: string;
  event_id: string;
  person_id: string;
  email: string;
  given_name: string | null;
  family_name: string | null;
  /** going | waitlist | cancelled */
  status: string;
  checked_in_at: string | null;
  reminded_at: string | null;
  created_at: string;
  updated_at: string;
}

declare module '../db/database.ts' {
  interface Database {
    events: EventsTable;
    rsvps: RsvpsTable;
  }
}

export type EventRow = Selectable<EventsTable>;
export type NewEventRow = Insertable<EventsTable>;
export type RsvpRow = Selectable<RsvpsTable>;
export type RsvpStatus = 'going' | 'waitlist' | 'cancelled';
