import { PostgresAdapter, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import type { DB } from './database.ts';
import { migrations } from './migrations/index.ts';

export async function migrateToLatest(db: DB): Promise<string[]> {
  // On PostgreSQL name the schema: unnamed, Kysely takes a migration table in any schema (another
  // test run's, another app's) for its own and then fails to find it.
  const schema =
    db.getExecutor().adapter instanceof PostgresAdapter
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
