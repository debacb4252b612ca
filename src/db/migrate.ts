import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { DB } from './database.ts';
import { migrations } from './migrations/index.ts';

/**
 * Runs the migrations not yet applied, in name order, in one transaction with their bookkeeping
 * rows: all or nothing. Kysely's own Migrator is not used: it introspects every schema of the
 * database, which fails while another schema (another app, a parallel test run) is being dropped.
 */
export async function migrateToLatest(db: DB): Promise<string[]> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (db as unknown as Kysely<any>).transaction().execute(async (trx) => {
    // One process migrates at a time: PostgreSQL takes an advisory lock; on SQLite our
    // transactions begin IMMEDIATE, which already excludes other writers.
    if (postgres) await sql`select pg_advisory_xact_lock(7234001)`.execute(trx);
    await trx.schema
      .createTable('undersign_migrations')
      .ifNotExists()
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .execute();
    const done = new Set(
      (await trx.selectFrom('undersign_migrations').select('name').execute()).map((r) => r.name as string),
    );
    const applied: string[] = [];
    for (const name of Object.keys(migrations).sort()) {
      if (done.has(name)) continue;
      await migrations[name]!.up(trx);
      await trx
        .insertInto('undersign_migrations')
        .values({ name, applied_at: new Date().toISOString() })
        .execute();
      applied.push(name);
    }
    return applied;
  });
}
