import type { DB, DialectName, Executor } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { retryDelayMs, type JobHandler, type JobQueue, type NewJob } from './queue.ts';
import {
  claimNextJob,
  deleteFinishedJobsBefore,
  extendJobLease,
  insertJob,
  insertJobs,
  markJobDone,
  markJobFailed,
  updateWaitingJobsRunAt,
} from './store.ts';

export interface JobRunnerOptions {
  pollMs?: number;
  concurrency?: number;
  /** A claimed job is renewed every third of this while it runs; a job not renewed (its process died) is claimed again. */
  leaseMs?: number;
}

/** The embedded job queue: a table polled in-process. Handlers must be idempotent. */
export class JobRunner implements JobQueue {
  readonly kind = 'table';
  private readonly handlers = new Map<string, JobHandler>();
  private readonly db: DB;
  private readonly dialect: DialectName;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private stopped = true;
  private idle: Promise<void> = Promise.resolve();

  constructor(db: DB, dialect: DialectName, log: Logger, options: JobRunnerOptions = {}) {
    this.db = db;
    this.dialect = dialect;
    this.log = log;
    this.pollMs = options.pollMs ?? 500;
    this.concurrency = options.concurrency ?? 2;
    this.leaseMs = options.leaseMs ?? 15_000;
  }

  register(queue: string, handler: JobHandler): void {
    this.handlers.set(queue, handler);
  }

  enqueue(executor: Executor, job: NewJob): Promise<string> {
    return insertJob(executor, job);
  }

  async enqueueMany(executor: Executor, jobs: readonly NewJob[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += 500) await insertJobs(executor, jobs.slice(i, i + 500));
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.idle;
  }

  close(): Promise<void> {
    return this.stop();
  }

  async drain(): Promise<number> {
    let count = 0;
    while (await this.runOne()) count++;
    return count;
  }

  makeDue(queue: string): Promise<number> {
    return updateWaitingJobsRunAt(this.db, queue, new Date().toISOString());
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const work: Promise<boolean>[] = [];
    for (let i = this.running; i < this.concurrency; i++) work.push(this.runOne());
    const round = Promise.all(work);
    this.idle = round.then(() => undefined);
    const results = await round;
    // Keep going while there is work; poll again later when the queue is empty.
    this.schedule(results.some(Boolean) ? 0 : this.pollMs);
  }

  private async runOne(): Promise<boolean> {
    let job;
    try {
      job = await claimNextJob(this.db, this.dialect, [...this.handlers.keys()], this.leaseMs);
    } catch (error) {
      this.log.warn({ err: error }, 'could not claim a job');
      return false;
    }
    if (!job) return false;
    const handler = this.handlers.get(job.queue)!;
    this.running++;
    const jobId = job.id;
    const renew = setInterval(() => {
      const until = new Date(Date.now() + this.leaseMs).toISOString();
      extendJobLease(this.db, jobId, until).catch((error: unknown) =>
        this.log.warn({ err: error, jobId }, 'could not renew a job lease'),
      );
    }, this.leaseMs / 3);
    renew.unref();
    try {
      await handler(JSON.parse(job.payload) as Record<string, unknown>, {
        id: job.id,
        attempts: job.attempts,
      });
      await markJobDone(this.db, job.id);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const retry = job.attempts < job.max_attempts;
      const retryAt = retry ? new Date(Date.now() + retryDelayMs(job.attempts)) : null;
      this.log.warn({ queue: job.queue, jobId: job.id, attempts: job.attempts, err: message }, 'job failed');
      await markJobFailed(this.db, job, message, retryAt).catch(() => undefined);
    } finally {
      clearInterval(renew);
      this.running--;
    }
    return true;
  }

  async purgeFinished(olderThanMs = 7 * 24 * 3600_000): Promise<void> {
    await deleteFinishedJobsBefore(this.db, new Date(Date.now() - olderThanMs).toISOString());
  }
}
