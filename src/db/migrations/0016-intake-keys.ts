import { PostgresAdapter, sql, type Kysely } from 'kysely';

/*
 * SQLite: signing no longer writes the unique (petition, email key) index. The key is a hash, so
 * each signing landed on a random page of that index, and every commit wrote those pages to the
 * log again: about 7.6 KB of log per signing instead of 1.7 KB, two thirds of the time a signing
 * spent in the database during a surge. Repeats are now found among rows already processed (this
 * partial index, written by the job when a row is processed) and, for rows still pending, by the
 * web process that took them in (see petitions/pending-keys.ts); the job turns any repeat that
 * still slips through into no change.
 *
 * PostgreSQL keeps the unique index: several web processes take signings in at once there, and
 * its log records a changed row, not the whole page.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  await db.schema.dropIndex('signature_intake_petition_email').execute();
  await db.schema
    .createIndex('signature_intake_processed_email')
    .on('signature_intake')
    .columns(['petition_id', 'email_key'])
    .where(sql.ref('status'), '<>', 'pending')
    .execute();
  // Pending rows have no signature yet: keeping them out of this index spares every signing a write.
  await db.schema.dropIndex('signature_intake_signature').execute();
  await db.schema
    .createIndex('signature_intake_signature')
    .on('signature_intake')
    .column('signature_id')
    .where(sql.ref('signature_id'), 'is not', null)
    .execute();
}
