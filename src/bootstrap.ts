import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from './db/index.ts';
import { openJobQueue } from './jobs/index.ts';
import { createLogger, type Logger } from './log.ts';

export interface Runtime {
  ctx: AppContext;
  handle: DatabaseHandle;
  close(): Promise<void>;
}

/** Opens the database, migrates it and makes the context every command and test starts from. */
export async function openRuntime(
  config: Config,
  options: { log?: Logger; pgSchema?: string; migrate?: boolean; runsJobs?: boolean } = {},
): Promise<Runtime> {
  const log = options.log ?? createLogger(config.logLevel);
  const handle = await openDatabase({
    databaseUrl: config.databaseUrl,
    sqliteFile: config.sqliteFile,
    sqliteSynchronous: config.sqliteSynchronous,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
  });
  if (options.migrate !== false) await migrateToLatest(handle.db);
  const jobs = await openJobQueue(handle, log, {
    databaseUrl: config.databaseUrl,
    kind: config.jobQueue,
    pgSchema: options.pgSchema,
    // `serve` runs jobs only with its embedded worker; `undersign worker` says so itself.
    runsJobs: options.runsJobs ?? config.embeddedWorker,
  });
  const ctx: AppContext = {
    config,
    db: handle.db,
    dialect: handle.dialect,
    ...(handle.sqlite ? { sqlite: handle.sqlite } : {}),
    log,
    jobs,
  };
  return {
    ctx,
    handle,
    async close() {
      await jobs.close();
      await handle.close();
    },
  };
}
