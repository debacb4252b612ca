import type { DatabaseHandle, Executor } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { PgBossJobQueue } from './pg-boss.ts';
import type { JobQueue, NewJob } from './queue.ts';
import { JobRunner } from './runner.ts';
import { insertJob, insertJobs } from './store.ts';

export { JobRunner, type JobRunnerOptions } from './runner.ts';
export { PgBossJobQueue } from './pg-boss.ts';
export type { JobHandler, JobQueue, NewJob } from './queue.ts';
/** SQLite: enqueue synchronously inside a transaction holding the connection (the queue is the jobs table). */
export { insertJobSqlite as enqueueJobSqlite } from './store.ts';

/**
 * The queue of each open database, found from any executor on it: a Kysely instance and its
 * transactions share one dialect adapter object.
 */
const queues = new WeakMap<object, JobQueue>();

function adapterOf(executor: Executor): object {
  return executor.getExecutor().adapter;
}

export interface JobQueueSettings {
  databaseUrl: string | undefined;
  /** `table` keeps the SKIP LOCKED table queue on PostgreSQL; default pg-boss there. */
  kind?: 'table' | 'pg-boss' | undefined;
  /** The PostgreSQL schema the app's tables live in, when not the default (tests, benches). */
  pgSchema?: string | undefined;
  /** Whether this process runs jobs (pg-boss then supervises and maintains in it too). */
  runsJobs?: boolean;
}

/** The schema named by `options=-c search_path=NAME` in a PostgreSQL URL, if any. */
export function searchPathSchema(databaseUrl: string): string | undefined {
  let options: string | null;
  try {
    options = new URL(databaseUrl).searchParams.get('options');
  } catch {
    return undefined;
  }
  return options?.match(/search_path\s*=\s*([a-z_][a-z0-9_]*)/)?.[1];
}

/** SQLite: the table queue. PostgreSQL: pg-boss (its tables beside the app's own schema). */
export async function openJobQueue(
  handle: DatabaseHandle,
  log: Logger,
  settings: JobQueueSettings,
): Promise<JobQueue> {
  let queue: JobQueue;
  if (handle.dialect === 'postgres' && settings.databaseUrl && settings.kind !== 'table') {
    queue = await PgBossJobQueue.open(handle.db, log, {
      connectionString: settings.databaseUrl,
      // A schema of one's own (tests, or `?options=-c search_path=…` in the URL) holds pg-boss's
      // tables too, so dropping it removes them.
      schema: settings.pgSchema ?? searchPathSchema(settings.databaseUrl) ?? 'pgboss',
      supervise: settings.runsJobs ?? true,
    });
  } else {
    queue = new JobRunner(handle.db, handle.dialect, log);
  }
  queues.set(adapterOf(handle.db), queue);
  return queue;
}

/**
 * Enqueue inside the caller's transaction, so the job exists exactly when the write that needs it
 * was committed. `executor` is the transaction (or the database itself for a job on its own).
 */
export function enqueueJob(executor: Executor, job: NewJob): Promise<string> {
  const queue = queues.get(adapterOf(executor));
  // A database opened without a queue (a script): the table, which a starting worker adopts.
  return queue ? queue.enqueue(executor, job) : insertJob(executor, job);
}

/** Many jobs in the caller's transaction at once: one insert instead of one per job. */
export async function enqueueJobs(executor: Executor, jobs: readonly NewJob[]): Promise<void> {
  if (jobs.length === 0) return;
  const queue = queues.get(adapterOf(executor));
  if (queue) await queue.enqueueMany(executor, jobs);
  else await insertJobs(executor, jobs);
}
