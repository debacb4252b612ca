import type { Config } from './config.ts';
import type { DB, DialectName, SqliteAccess } from './db/index.ts';
import type { JobQueue } from './jobs/index.ts';
import type { Logger } from './log.ts';

/** What every service is built from: settings, the database, the logger and the job queue. */
export interface AppContext {
  config: Config;
  db: DB;
  dialect: DialectName;
  /** SQLite only: synchronous statements on Kysely's connection, for the signing hot path. */
  sqlite?: SqliteAccess;
  log: Logger;
  jobs: JobQueue;
}
