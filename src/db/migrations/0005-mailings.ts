import type { Kysely } from 'kysely';

// Bulk email: mailings, their materialised recipients, tracking/bounce events and suppressions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mailings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('from_name', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('reply_to', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('subject_b', 'text')
    // Share of the audience (percent) that receives the A/B test; the rest is held for the winner.
    .addColumn('ab_test_percent', 'integer', (c) => c.notNull().defaultTo(100))
    .addColumn('ab_winner', 'text')
    .addColumn('preheader', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('layout', 'text', (c) => c.notNull().defaultTo('default'))
    .addColumn('audience', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('petition_id', 'text')
    .addColumn('tracking', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('scheduled_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    // Messages per second; 0 means the configured default.
    .addColumn('rate', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pause_reason', 'text')
    // The sender holds this lease while it works on the mailing, so two workers never send it at once.
    .addColumn('lease_until', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mailings_status').on('mailings').columns(['status', 'scheduled_at']).execute();

  await db.schema
    .createTable('mailing_recipients')
    .addColumn('mailing_id', 'text', (c) => c.notNull().references('mailings.id').onDelete('cascade'))
    .addColumn('person_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('variant', 'text', (c) => c.notNull().defaultTo('A'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('sent_at', 'text')
    .addColumn('message_id', 'text')
    .addColumn('last_error', 'text')
    // The unique (mailing, person) key is what makes resume-without-duplicates possible.
    .addPrimaryKeyConstraint('mailing_recipients_pk', ['mailing_id', 'person_id'])
    .execute();
  await db.schema
    .createIndex('mailing_recipients_state')
    .on('mailing_recipients')
    .columns(['mailing_id', 'state', 'person_id'])
    .execute();
  await db.schema
    .createIndex('mailing_recipients_person')
    .on('mailing_recipients')
    .column('person_id')
    .execute();

  await db.schema
    .createTable('mail_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('mailing_id', 'text')
    .addColumn('person_id', 'text')
    .addColumn('email', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    .addColumn('details', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('mail_events_mailing')
    .on('mail_events')
    .columns(['mailing_id', 'kind', 'person_id'])
    .execute();
  await db.schema.createIndex('mail_events_person').on('mail_events').column('person_id').execute();

  await db.schema
    .createTable('suppressions')
    .addColumn('address', 'text', (c) => c.primaryKey())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  // Receiving domains we were told to slow down for (5.7.x policy rejections).
  await db.schema
    .createTable('mail_domain_throttles')
    .addColumn('domain', 'text', (c) => c.primaryKey())
    .addColumn('paused_until', 'text', (c) => c.notNull())
    .addColumn('strikes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'mail_domain_throttles',
    'suppressions',
    'mail_events',
    'mailing_recipients',
    'mailings',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
