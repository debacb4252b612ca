import type { Insertable, Selectable } from 'kysely';

/** Table types for bulk email (migration 0005-mailings). */

export type MailingStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
export type MailingFormat = 'markdown' | 'html';
/** held: kept back during an A/B test, sent the winning subject later. */
export type RecipientState = 'queued' | 'held' | 'sent' | 'failed' | 'skipped' | 'bounced';
export type MailEventKind = 'open' | 'click' | 'bounce' | 'complaint' | 'unsubscribe' | 'delivered';

export interface MailingsTable {
  id: string;
  name: string;
  from_name: string;
  from_address: string;
  reply_to: string | null;
  subject: string;
  subject_b: string | null;
  ab_test_percent: number;
  ab_winner: string | null;
  preheader: string | null;
  body: string;
  format: string;
  layout: string;
  audience: string;
  petition_id: string | null;
  tracking: number;
  status: string;
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  rate: number;
  pause_reason: string | null;
  /** Unused since migration 0017 (sender slots in mailing_senders). */
  lease_until: string | null;
  created_by: string | null;
  /** JSON array of group ids the mailing is limited to (a leader's), or null for everyone. */
  scope_group_ids: string | null;
  created_at: string;
  updated_at: string;
}

export interface MailingRecipientsTable {
  mailing_id: string;
  person_id: string;
  email: string;
  variant: string;
  state: string;
  attempts: number;
  next_attempt_at: string | null;
  sent_at: string | null;
  message_id: string | null;
  last_error: string | null;
  /** The sender working on this recipient, until `claimed_until` (migration 0017). */
  claimed_by: string | null;
  claimed_until: string | null;
}

/** A mailing's sender slots: each held by one sender at a time, under a lease (migration 0017). */
export interface MailingSendersTable {
  mailing_id: string;
  slot: number;
  lease_until: string | null;
}

export interface MailEventsTable {
  id: string;
  mailing_id: string | null;
  person_id: string | null;
  email: string | null;
  kind: string;
  url: string | null;
  details: string | null;
  created_at: string;
}

export interface SuppressionsTable {
  address: string;
  reason: string;
  details: string | null;
  created_at: string;
}

export interface MailDomainThrottlesTable {
  domain: string;
  paused_until: string;
  strikes: number;
  last_error: string | null;
  updated_at: string;
}

declare module '../../db/database.ts' {
  interface Database {
    mailings: MailingsTable;
    mailing_recipients: MailingRecipientsTable;
    mailing_senders: MailingSendersTable;
    mail_events: MailEventsTable;
    suppressions: SuppressionsTable;
    mail_domain_throttles: MailDomainThrottlesTable;
  }
}

export type MailingRow = Selectable<MailingsTable>;
export type NewMailingRow = Insertable<MailingsTable>;
export type MailingRecipientRow = Selectable<MailingRecipientsTable>;
export type MailEventRow = Selectable<MailEventsTable>;
export type SuppressionRow = Selectable<SuppressionsTable>;
