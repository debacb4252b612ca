import { PostgresAdapter, sql, type Kysely } from 'kysely';

/*
 * PostgreSQL: the trigram index on emails.address (0014) also answers `address = …`, and the
 * planner took it for lookups by exact address: merging a batch of 2,500 imported addresses into
 * a table of 6,000 read it for 12 s instead of probing the unique index in milliseconds. The
 * search's LIKE now reads lower(address) (addresses are stored lower-cased, so it finds the same
 * people), and the trigram index is built on that expression, which no exact lookup names.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`drop index if exists emails_address_trgm`.execute(db);
  const found = await sql<{ schema: string }>`
    select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm'`.execute(db);
  const schema = found.rows[0]?.schema;
  if (!schema) return;
  await sql`create index emails_address_lower_trgm on emails using gin
    ((lower(address)) ${sql`${sql.id(schema)}.gin_trgm_ops`})`.execute(db);
}
