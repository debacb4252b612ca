import type { Kysely } from 'kysely';

// API requests sent with background_request=true wait here until their job runs: the job carries
// only the row's id. The body is cleared once processed; housekeeping deletes processed rows later.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // person_signup | record_signature | record_attendance
    .addColumn('kind', 'text', (c) => c.notNull())
    // The petition or event the request is for (null for a signup).
    .addColumn('target_id', 'text')
    // The JSON request body; null once processed.
    .addColumn('body', 'text')
    // pending | done | rejected
    .addColumn('status', 'text', (c) => c.notNull())
    // The person, signature or RSVP it made.
    .addColumn('result_id', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('processed_at', 'text')
    .execute();
  await db.schema
    .createIndex('api_requests_processed')
    .on('api_requests')
    .columns(['status', 'processed_at'])
    .execute();
  // Old delivery logs are purged by age.
  await db.schema
    .createIndex('webhook_deliveries_updated')
    .on('webhook_deliveries')
    .columns(['status', 'updated_at'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_updated').ifExists().execute();
  await db.schema.dropTable('api_requests').ifExists().execute();
}
