import type Sqlite from 'better-sqlite3';
import type { DialectName, Executor, JobRow } from '../db/index.ts';
import { newId, nowIso } from '../ids.ts';
import type { NewJob } from './queue.ts';

export async function insertJob(db: Executor, job: NewJob): Promise<string> {
  const [id] = await insertJobs(db, [job]);
  return id!;
}

function newJobRow(job: NewJob, now: string) {
  return {
    id: newId(),
    queue: job.queue,
    payload: JSON.stringify(job.payload),
    priority: job.priority ?? 0,
    state: 'queued',
    attempts: 0,
    max_attempts: job.maxAttempts ?? 5,
    run_at: (job.runAt ?? new Date()).toISOString(),
    locked_until: null,
    last_error: null,
    created_at: now,
    updated_at: now,
  };
}

/** Many jobs in one insert (a batch of signatures queues a batch of emails). */
export async function insertJobs(db: Executor, jobs: readonly NewJob[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const now = nowIso();
  const rows = jobs.map((job) => newJobRow(job, now));
  await db.insertInto('jobs').values(rows).execute();
  return rows.map((row) => row.id);
}

/** The columns of `newJobRow`, named once. */
let jobInsertText: string | undefined;

/**
 * SQLite: one job, written synchronously on the connection (inside a transaction that holds it;
 * see SqliteAccess in db/connect.ts). On SQLite the queue is this table, so this is enqueueing.
 */
export function insertJobSqlite(db: Sqlite.Database, job: NewJob): string {
  const row = newJobRow(job, nowIso());
  jobInsertText ??= (() => {
    const columns = Object.keys(row);
    return `insert into jobs (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`;
  })();
  db.prepare(jobInsertText).run(row);
  return row.id;
}

/** Claims the next ready job (or one whose lease expired after a crash) for `leaseMs`. */
export async function claimNextJob(
  db: Executor,
  dialect: DialectName,
  queues: readonly string[],
  leaseMs: number,
): Promise<JobRow | undefined> {
  if (queues.length === 0) return undefined;
  const now = new Date();
  const nowText = now.toISOString();
  return db.transaction().execute(async (trx) => {
    let select = trx
      .selectFrom('jobs')
      .selectAll()
      .where('queue', 'in', queues)
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'queued'), eb('run_at', '<=', nowText)]),
          eb.and([eb('state', '=', 'running'), eb('locked_until', '<', nowText)]),
        ]),
      )
      .orderBy('priority', 'desc')
      .orderBy('run_at')
      .limit(1);
    if (dialect === 'postgres') select = select.forUpdate().skipLocked();
    const job = await select.executeTakeFirst();
    if (!job) return undefined;
    const lockedUntil = new Date(now.getTime() + leaseMs).toISOString();
    await trx
      .updateTable('jobs')
      .set({ state: 'running', attempts: job.attempts + 1, locked_until: lockedUntil, updated_at: nowText })
      .where('id', '=', job.id)
      .execute();
    return { ...job, state: 'running', attempts: job.attempts + 1, locked_until: lockedUntil };
  });
}

/** Keeps a running job's claim while its handler works. */
export async function extendJobLease(db: Executor, id: string, lockedUntil: string): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ locked_until: lockedUntil })
    .where('id', '=', id)
    .where('state', '=', 'running')
    .execute();
}

export async function markJobDone(db: Executor, id: string): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ state: 'done', locked_until: null, updated_at: nowIso() })
    .where('id', '=', id)
    .execute();
}

export async function markJobFailed(
  db: Executor,
  job: JobRow,
  error: string,
  retryAt: Date | null,
): Promise<void> {
  await db
    .updateTable('jobs')
    .set({
      state: retryAt ? 'queued' : 'failed',
      run_at: retryAt ? retryAt.toISOString() : job.run_at,
      locked_until: null,
      last_error: error.slice(0, 2000),
      updated_at: nowIso(),
    })
    .where('id', '=', job.id)
    .execute();
}

export async function deleteFinishedJobsBefore(db: Executor, before: string): Promise<void> {
  await db.deleteFrom('jobs').where('state', '=', 'done').where('updated_at', '<', before).execute();
}

export async function updateWaitingJobsRunAt(db: Executor, queue: string, runAt: string): Promise<number> {
  const result = await db
    .updateTable('jobs')
    .set({ run_at: runAt, updated_at: nowIso() })
    .where('queue', '=', queue)
    .where('state', '=', 'queued')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Jobs still waiting in the table, for moving them to another queue adapter. */
export function listUnfinishedJobs(db: Executor, queues: readonly string[]): Promise<JobRow[]> {
  if (queues.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('queue', 'in', queues)
    .where('state', 'in', ['queued', 'running'])
    .forUpdate()
    .execute();
}

export async function deleteJobs(db: Executor, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('jobs').where('id', 'in', ids).execute();
}
