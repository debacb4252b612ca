import { PostgresAdapter, sql, type Kysely } from 'kysely';

/*
 * The organisation dashboard at 1,000,000 people and 5,000,000 signatures (`npm run bench:data`).
 *
 * dashboard_numbers keeps the numbers too costly to count on every page view (members per group,
 * the mailing funnel), as JSON, with the time they were computed; a job-running process refreshes
 * them every few minutes (refreshing_until: the lease of the process doing it).
 *
 * Signatures per day and per source in the dashboard's window read one index range, (created_at,
 * source), without visiting the table; it replaces 0011's index on created_at alone.
 *
 * Mail reports count the signatures whose source starts with 'm.<mailing id>.' as a range of the
 * source index. PostgreSQL compares text in the database's collation, where a prefix need not be
 * one range, so there the index (and the query) use the byte order of the "C" collation; it
 * replaces 0011's index on source, which nothing reads any more (sources per day use the above).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('dashboard_numbers')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('numbers', 'text', (c) => c.notNull())
    .addColumn('computed_at', 'text', (c) => c.notNull())
    .addColumn('refreshing_until', 'text')
    .execute();

  await db.schema
    .createIndex('signatures_created_at_source')
    .on('signatures')
    .columns(['created_at', 'source'])
    .execute();
  await db.schema.dropIndex('signatures_created_at').execute();

  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`create index signatures_source_bytes on signatures ((source collate "C"))`.execute(db);
    await db.schema.dropIndex('signatures_source').execute();
  }
}
