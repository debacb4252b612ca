import type { Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';

/*
 * Table types. Timestamps are ISO-8601 UTC text in both engines (sortable, compared as text);
 * booleans are 0/1 integers; JSON is text. Ids are made by the application (`newId`).
 */

export interface PeopleTable {
  id: string;
  given_name: string | null;
  family_name: string | null;
  language: string | null;
  source: string | null;
  custom_fields: string;
  created_at: string;
  updated_at: string;
}

export interface EmailsTable {
  id: string;
  person_id: string;
  address: string;
  status: string;
  is_primary: number;
  created_at: string;
  updated_at: string;
}

export interface AddressesTable {
  id: string;
  person_id: string;
  street: string | null;
  locality: string | null;
  region: string | null;
  postal_code: string | null;
  country: string | null;
  district_ids: string | null;
  is_primary: number;
  created_at: string;
  updated_at: string;
}

export interface PhonesTable {
  id: string;
  person_id: string;
  number: string;
  is_primary: number;
  created_at: string;
}

export interface TagsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface TaggingsTable {
  tag_id: string;
  person_id: string;
  created_at: string;
}

export interface ListsTable {
  id: string;
  name: string;
  description: string | null;
  created_at: string;
}

export interface ListMembersTable {
  list_id: string;
  person_id: string;
  created_at: string;
}

export interface ConsentsTable {
  id: string;
  person_id: string;
  email_id: string | null;
  what: string;
  granted: number;
  source: string | null;
  ip: string | null;
  created_at: string;
}

export interface ActivityTable {
  id: string;
  person_id: string;
  kind: string;
  summary: string;
  details: string | null;
  created_at: string;
}

export interface UsersTable {
  id: string;
  email: string;
  display_name: string | null;
  password_hash: string | null;
  role: string;
  failed_logins: number;
  locked_until: string | null;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
}

export interface InvitesTable {
  id: string;
  email: string | null;
  role: string;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  key_hash: string;
  prefix: string;
  scopes: string;
  group_id: string | null;
  created_by: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AuditLogTable {
  id: string;
  user_id: string | null;
  action: string;
  subject_type: string | null;
  subject_id: string | null;
  details: string | null;
  ip: string | null;
  created_at: string;
}

export interface JobsTable {
  id: string;
  queue: string;
  payload: string;
  priority: number;
  state: string;
  attempts: number;
  max_attempts: number;
  run_at: string;
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ImportsTable {
  id: string;
  user_id: string | null;
  filename: string;
  file_path: string | null;
  status: string;
  tags: string;
  mapping: string;
  total_bytes: number;
  processed_bytes: number;
  processed_rows: number;
  created_rows: number;
  merged_rows: number;
  error_rows: number;
  errors: string;
  message: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface TransactionalEmailsTable {
  id: string;
  kind: string;
  person_id: string | null;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  attachments: string;
  status: string;
  message_id: string | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

export interface OutboxTable {
  id: string;
  message_id: string;
  from_address: string;
  to_address: string;
  subject: string;
  kind: string | null;
  raw: string;
  created_at: string;
}

export interface Database {
  transactional_emails: TransactionalEmailsTable;
  outbox: OutboxTable;
  people: PeopleTable;
  emails: EmailsTable;
  addresses: AddressesTable;
  phones: PhonesTable;
  tags: TagsTable;
  taggings: TaggingsTable;
  lists: ListsTable;
  list_members: ListMembersTable;
  consents: ConsentsTable;
  activity: ActivityTable;
  users: UsersTable;
  sessions: SessionsTable;
  invites: InvitesTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  jobs: JobsTable;
  imports: ImportsTable;
}

export type DB = Kysely<Database>;
export type Trx = Transaction<Database>;
/** Either the database or an open transaction: store functions accept both. */
export type Executor = Kysely<Database> | Transaction<Database>;

export type PersonRow = Selectable<PeopleTable>;
export type NewPersonRow = Insertable<PeopleTable>;
export type PersonUpdate = Updateable<PeopleTable>;
export type EmailRow = Selectable<EmailsTable>;
export type AddressRow = Selectable<AddressesTable>;
export type PhoneRow = Selectable<PhonesTable>;
export type ActivityRow = Selectable<ActivityTable>;
export type UserRow = Selectable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type JobRow = Selectable<JobsTable>;
export type ImportRow = Selectable<ImportsTable>;
