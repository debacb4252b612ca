import { isConnectionError } from '../db/index.ts';

interface Pending<T, R> {
  item: T;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** The database did not commit in time; surfaces map it to 503 (see isConnectionError). */
export class CommitTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('The database did not answer in time.');
    this.name = 'CommitTimeoutError';
  }
}

/**
 * Group commit: writes that arrive while a transaction is running wait and then commit together in
 * the next one, so a surge pays for one commit per batch instead of one per request. Each caller's
 * promise settles only after its transaction committed. If a batch fails, its items are retried one
 * by one, so one bad item never fails the others — unless the database itself is unreachable, when
 * every item fails at once. A caller waits at most `waitMs`: an item still queued then is dropped
 * (never written); one already in a transaction may still commit, so its caller hears "try again"
 * and, trying again, finds it done.
 */
export class GroupCommitter<T, R> {
  private queue: Array<Pending<T, R>> = [];
  private active = 0;
  private scheduled = false;
  private readonly run: (items: T[]) => Promise<R[]>;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;
  private readonly waitMs: number;
  private readonly afterCommit: ((items: T[], results: R[]) => void) | undefined;

  /** `run` writes one batch in one transaction and answers for each item, in order. */
  constructor(
    run: (items: T[]) => Promise<R[]>,
    options: {
      maxBatch?: number;
      maxConcurrent?: number;
      waitMs?: number;
      /** Runs once a batch committed, before any caller hears of it (and before the next batch). */
      afterCommit?: (items: T[], results: R[]) => void;
    } = {},
  ) {
    this.run = run;
    this.maxBatch = options.maxBatch ?? 100;
    this.maxConcurrent = options.maxConcurrent ?? 1;
    this.waitMs = options.waitMs ?? 8000;
    this.afterCommit = options.afterCommit;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: Pending<T, R> = {
        item,
        settled: false,
        timer: undefined,
        resolve: (result) => {
          if (entry.settled) return;
          entry.settled = true;
          clearTimeout(entry.timer);
          resolve(result);
        },
        reject: (error) => {
          if (entry.settled) return;
          entry.settled = true;
          clearTimeout(entry.timer);
          reject(error);
        },
      };
      entry.timer = setTimeout(() => {
        this.queue = this.queue.filter((queued) => queued !== entry);
        entry.reject(new CommitTimeoutError());
      }, this.waitMs);
      this.queue.push(entry);
      // Wait for the rest of this event-loop turn: requests read from other sockets join the batch.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.active < this.maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.active++;
      void this.commit(batch).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async commit(batch: Array<Pending<T, R>>): Promise<void> {
    let results: R[];
    const items = batch.map((entry) => entry.item);
    try {
      results = await this.run(items);
    } catch (error) {
      if (batch.length === 1 || isConnectionError(error)) {
        for (const entry of batch) entry.reject(error);
        return;
      }
      for (const entry of batch) await this.commit([entry]);
      return;
    }
    this.afterCommit?.(items, results);
    batch.forEach((entry, i) => entry.resolve(results[i]!));
  }
}
