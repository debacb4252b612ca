import { fromKysely, PgBoss, type Job } from 'pg-boss';
import type { DB, Executor } from '../db/index.ts';
import type { Logger } from '../log.ts';
import type { JobHandler, JobQueue, NewJob } from './queue.ts';
import { deleteFinishedJobsBefore, deleteJobs, listUnfinishedJobs } from './store.ts';

export interface PgBossQueueOptions {
  connectionString: string;
  /** Where pg-boss keeps its tables (created on first start). */
  schema: string;
  /** Jobs run at once per queue in one process. */
  concurrency?: number;
  /** Connections of pg-boss's own pool (fetching, completing; enqueueing uses the caller's). */
  poolSize?: number;
  /**
   * Whether this process runs jobs: only then does it supervise (find lost and expired jobs) and do
   * pg-boss's maintenance every few seconds. A web-only process just enqueues.
   */
  supervise?: boolean;
}

/** The longest a job may run; a job running longer is failed (and retried if it has attempts left). */
const expireInSeconds = 10 * 60;
/** A running job's process proves it is alive this often; a job not heard of is retried (its process died). */
const heartbeatSeconds = 15;
/**
 * pg-boss runs a job retryLimit + 1 times. One run more than the job's attempts is kept for a run
 * lost with its process (missed heartbeats, expiry), so even a single-attempt job whose process
 * died runs again; a handler that fails on its last attempt ends the job at once (lastAttemptFailed).
 */
const retryLimitFor = (maxAttempts: number | undefined) => Math.max(1, maxAttempts ?? 5);

/**
 * Jobs in pg-boss on PostgreSQL: every `undersign worker` (and a server with its embedded worker)
 * fetches from the same queues with SKIP LOCKED; LISTEN/NOTIFY wakes idle workers when a job is
 * committed. Enqueueing runs pg-boss's insert on the caller's Kysely transaction, so the job exists
 * exactly when the write that needs it is committed.
 */
export class PgBossJobQueue implements JobQueue {
  readonly kind = 'pg-boss';
  private readonly boss: PgBoss;
  private readonly db: DB;
  private readonly log: Logger;
  private readonly schema: string;
  private readonly concurrency: number;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly queuesMade = new Map<string, Promise<void>>();
  private readonly working = new Set<string>();
  private started = false;

  private constructor(db: DB, log: Logger, options: PgBossQueueOptions) {
    this.db = db;
    this.log = log;
    this.schema = options.schema;
    this.concurrency = options.concurrency ?? 2;
    this.boss = new PgBoss({
      connectionString: options.connectionString,
      schema: options.schema,
      max: options.poolSize ?? 4,
      application_name: 'undersign-jobs',
      schedule: false,
      useListenNotify: true,
      registerInstance: false,
      supervise: options.supervise ?? true,
      // Lost jobs (missed heartbeats) are found within seconds, not the default minute.
      superviseIntervalSeconds: 5,
      monitorIntervalSeconds: 5,
    });
    this.boss.on('error', (error) => this.log.warn({ err: error }, 'job queue error'));
  }

  /** Installs or upgrades pg-boss's schema (under an advisory lock, so processes may race). */
  static async open(db: DB, log: Logger, options: PgBossQueueOptions): Promise<PgBossJobQueue> {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error(`bad schema name ${options.schema}`);
    const queue = new PgBossJobQueue(db, log, options);
    await queue.boss.start({ attempts: 5 });
    return queue;
  }

  register(queue: string, handler: JobHandler): void {
    this.handlers.set(queue, handler);
    // A worker already running picks up a handler registered late (tests re-register theirs).
    if (this.started && !this.working.has(queue)) void this.work(queue);
  }

  async enqueue(executor: Executor, job: NewJob): Promise<string> {
    await this.ensureQueue(job.queue);
    const id = await this.boss.send(job.queue, job.payload, {
      db: fromKysely(executor),
      priority: job.priority ?? 0,
      ...(job.runAt ? { startAfter: job.runAt } : {}),
      retryLimit: retryLimitFor(job.maxAttempts),
      // 2 s, 4 s, 8 s… (with jitter) up to 15 minutes, like the table queue.
      retryDelay: 1,
      retryBackoff: true,
      retryDelayMax: 15 * 60,
      expireInSeconds,
      heartbeatSeconds,
    });
    if (!id) throw new Error(`job for ${job.queue} was not queued`);
    return id;
  }

  async enqueueMany(executor: Executor, jobs: readonly NewJob[]): Promise<void> {
    const byQueue = new Map<string, NewJob[]>();
    for (const job of jobs) byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), job]);
    for (const [name, list] of byQueue) {
      await this.ensureQueue(name);
      for (let i = 0; i < list.length; i += 500) {
        await this.boss.insert(
          name,
          list.slice(i, i + 500).map((job) => ({
            data: job.payload,
            priority: job.priority ?? 0,
            ...(job.runAt ? { startAfter: job.runAt } : {}),
            retryLimit: retryLimitFor(job.maxAttempts),
            retryDelay: 1,
            retryBackoff: true,
            retryDelayMax: 15 * 60,
            expireInSeconds,
            heartbeatSeconds,
          })),
          { db: fromKysely(executor) },
        );
      }
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.adoptTableJobs();
    for (const queue of this.handlers.keys()) await this.work(queue);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const queues = [...this.working];
    this.working.clear();
    await Promise.all(queues.map((queue) => this.boss.offWork(queue, { wait: true })));
  }

  async close(): Promise<void> {
    await this.stop();
    await this.boss.stop({ graceful: true, timeout: 20_000 });
  }

  async drain(): Promise<number> {
    const names = [...this.handlers.keys()];
    await Promise.all(names.map((name) => this.ensureQueue(name)));
    let count = 0;
    for (;;) {
      // Across queues by priority, like the table queue: transactional mail before a mailing.
      const next = await this.sql<{ name: string }>(
        `select name from ${this.schema}.job
          where name = any($1) and state in ('created', 'retry') and start_after <= now() and not blocked
          order by priority desc, created_on limit 1`,
        [names],
      );
      const name = next[0]?.name;
      if (!name) return count;
      const [job] = await this.boss.fetch<Record<string, unknown>>(name, { batchSize: 1 });
      if (!job) return count;
      count++;
      const beat = setInterval(
        () => {
          this.boss.touch(name, job.id).catch(() => undefined);
        },
        (heartbeatSeconds * 1000) / 3,
      );
      beat.unref();
      try {
        await this.runHandler(name, job);
        await this.boss.complete(name, job.id);
      } catch (error) {
        await this.lastAttemptFailed(name, job.id);
        await this.boss.fail(name, job.id, { message: errorMessage(error) });
      } finally {
        clearInterval(beat);
      }
    }
  }

  async makeDue(queue: string): Promise<number> {
    const rows = await this.sql<{ id: string }>(
      `update ${this.schema}.job set start_after = now()
        where name = $1 and state in ('created', 'retry') returning id`,
      [queue],
    );
    return rows.length;
  }

  async purgeFinished(olderThanMs = 7 * 24 * 3600_000): Promise<void> {
    // pg-boss deletes its own finished jobs; the table may hold some from before the switch.
    await deleteFinishedJobsBefore(this.db, new Date(Date.now() - olderThanMs).toISOString());
  }

  /** Finds lost and expired jobs now, as the supervisor of a job-running process does every 5 s. */
  async superviseNow(): Promise<void> {
    await Promise.all([...this.handlers.keys()].map((name) => this.ensureQueue(name)));
    for (const name of this.handlers.keys()) await this.boss.supervise(name);
  }

  /**
   * A handler failed: on the job's last attempt (the spare run kept for a lost process aside) it
   * is not retried, so the failure that follows is final.
   */
  private async lastAttemptFailed(queue: string, id: string): Promise<void> {
    await this.sql(
      `update ${this.schema}.job set retry_limit = retry_count
        where name = $1 and id = $2 and retry_count + 1 >= retry_limit`,
      [queue, id],
    );
  }

  private ensureQueue(name: string): Promise<void> {
    let made = this.queuesMade.get(name);
    if (!made) {
      // Finished jobs are kept a week (as the table queue's housekeeping does), then deleted.
      made = this.boss.createQueue(name, {
        expireInSeconds,
        heartbeatSeconds,
        deleteAfterSeconds: 7 * 24 * 3600,
        notify: true,
      });
      made.catch(() => this.queuesMade.delete(name));
      this.queuesMade.set(name, made);
    }
    return made;
  }

  private async work(queue: string): Promise<void> {
    await this.ensureQueue(queue);
    this.working.add(queue);
    // One work() per worker, so each knows its own id: a worker that has just run a job fetches
    // again at once, and waits for the poll only once a fetch finds nothing. A backlog (after a
    // restart or an outage, when no notification announces the jobs) is then taken as fast as the
    // jobs run, not one job per poll; pg-boss's own burst mode waits for queue statistics that are
    // read once a minute.
    for (let i = 0; i < this.concurrency; i++) {
      const worker = { id: '' };
      worker.id = await this.boss.work<Record<string, unknown>>(
        queue,
        {
          batchSize: 1,
          // Poll every 2 s even while listening: a missed notification must not leave a job waiting 30 s.
          pollingIntervalSeconds: 2,
          notifyPollingIntervalSeconds: 2,
        },
        async ([job]) => {
          if (!job) return;
          try {
            await this.runHandler(queue, job);
          } catch (error) {
            this.log.warn(
              { queue, jobId: job.id, attempts: job.retryCount + 1, err: errorMessage(error) },
              'job failed',
            );
            await this.lastAttemptFailed(queue, job.id);
            throw error;
          } finally {
            if (worker.id) this.boss.notifyWorker(worker.id);
          }
        },
      );
    }
  }

  private runHandler(queue: string, job: Job<Record<string, unknown>>): Promise<void> {
    const handler = this.handlers.get(queue);
    if (!handler) throw new Error(`no handler for queue ${queue}`);
    return handler(job.data ?? {}, { id: job.id, attempts: job.retryCount + 1 });
  }

  /** Jobs left in the table queue (PostgreSQL before pg-boss) move to pg-boss in one transaction. */
  private async adoptTableJobs(): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const rows = await listUnfinishedJobs(trx, [...this.handlers.keys()]);
      for (const row of rows) {
        await this.enqueue(trx, {
          queue: row.queue,
          payload: JSON.parse(row.payload) as Record<string, unknown>,
          priority: row.priority,
          runAt: new Date(row.run_at),
          maxAttempts: Math.max(1, row.max_attempts - row.attempts),
        });
      }
      await deleteJobs(
        trx,
        rows.map((row) => row.id),
      );
      if (rows.length) this.log.info({ jobs: rows.length }, 'moved jobs from the table queue to pg-boss');
    });
  }

  private async sql<Row>(text: string, values: unknown[]): Promise<Row[]> {
    const { rows } = await fromKysely(this.db).executeSql(text, values);
    return rows as Row[];
  }
}

function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 2000);
}
