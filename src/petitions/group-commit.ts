import type { DB, Trx } from '../db/index.ts';

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: writes that arrive while a transaction is running wait and then commit together in
 * the next one, so a surge pays for one commit per batch instead of one per request. Each caller's
 * promise settles only after its transaction committed. If a batch fails, its items are retried one
 * by one, so one bad item never fails the others.
 */
export class GroupCommitter<T, R> {
  private queue: Array<Pending<T, R>> = [];
  private active = 0;
  private scheduled = false;
  private readonly db: DB;
  private readonly write: (trx: Trx, items: T[]) => Promise<R[]>;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;

  constructor(
    db: DB,
    write: (trx: Trx, items: T[]) => Promise<R[]>,
    options: { maxBatch?: number; maxConcurrent?: number } = {},
  ) {
    this.db = db;
    this.write = write;
    this.maxBatch = options.maxBatch ?? 100;
    this.maxConcurrent = options.maxConcurrent ?? 1;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
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
    try {
      results = await this.db.transaction().execute((trx) =>
        this.write(
          trx,
          batch.map((entry) => entry.item),
        ),
      );
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      for (const entry of batch) await this.commit([entry]);
      return;
    }
    batch.forEach((entry, i) => entry.resolve(results[i]!));
  }
}
