import type { Executor } from '../db/index.ts';

export interface NewJob {
  queue: string;
  payload: Record<string, unknown>;
  /** Higher runs first (transactional email before bulk). */
  priority?: number;
  runAt?: Date;
  /** Runs of the handler before the job is given up (the first run counts). */
  maxAttempts?: number;
}

export type JobHandler = (
  payload: Record<string, unknown>,
  job: { id: string; attempts: number },
) => Promise<void>;

/** Delay before retry number `attempts` of a failed job: doubling from 2 s, at most 15 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(2 ** attempts * 1000, 15 * 60_000);
}

/**
 * Background jobs. Two adapters: a table polled in-process (SQLite, and PostgreSQL with
 * JOB_QUEUE=table) and pg-boss (PostgreSQL). Handlers must be idempotent: a job whose process died
 * runs again.
 */
export interface JobQueue {
  readonly kind: 'table' | 'pg-boss';
  /** Which handler runs a queue's jobs; every process registers all of them (see services.ts). */
  register(queue: string, handler: JobHandler): void;
  /** Starts running jobs in this process (the embedded worker, or `undersign worker`). */
  start(): Promise<void>;
  /** Stops taking jobs and waits for the jobs in hand to finish. */
  stop(): Promise<void>;
  /** Stops and lets go of the queue's connections. */
  close(): Promise<void>;
  /** Runs ready jobs in this process until none is left; returns how many ran. Tests and the CLI use it. */
  drain(): Promise<number>;
  /** Makes every waiting job of `queue` due now (tests simulate time passing; operators retry now). */
  makeDue(queue: string): Promise<number>;
  /** Deletes finished jobs older than `olderThanMs`. */
  purgeFinished(olderThanMs?: number): Promise<void>;
  /** Adds a job inside the caller's transaction (use enqueueJob, which finds the queue). */
  enqueue(executor: Executor, job: NewJob): Promise<string>;
  /** Adds many jobs at once inside the caller's transaction (use enqueueJobs). */
  enqueueMany(executor: Executor, jobs: readonly NewJob[]): Promise<void>;
}
