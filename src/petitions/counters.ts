import type { DB } from '../db/index.ts';
import type { Logger } from '../log.ts';
import {
  addCounterDeltas,
  insertRejections,
  listCounters,
  type CounterDelta,
  type RejectionInput,
} from './store.ts';

export interface CounterSnapshot {
  total: number;
  confirmed: number;
  byDistrict: Map<string, { total: number; confirmed: number }>;
}

/**
 * Public counters without a hot row: committed signatures add to an in-memory delta, flushed as one
 * upsert per (petition, district) every `flushMs`. Reads add the unflushed deltas to a short-lived
 * cache of the table, so a surge of readers costs one query per petition per `ttlMs`.
 * Rejected signing attempts are buffered and written in the same batches.
 */
export class CounterBatcher {
  private pending = new Map<string, CounterDelta>();
  private rejections: RejectionInput[] = [];
  private readonly cache = new Map<
    string,
    { at: number; rows: Array<{ district: string; total: number; confirmed: number }> }
  >();
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly db: DB;
  private readonly log: Logger;
  private readonly flushMs: number;
  private readonly ttlMs: number;

  constructor(db: DB, log: Logger, options: { flushMs?: number; ttlMs?: number } = {}) {
    this.db = db;
    this.log = log;
    this.flushMs = options.flushMs ?? 1000;
    this.ttlMs = options.ttlMs ?? 2000;
  }

  add(petitionId: string, district: string | null, total: number, confirmed: number): void {
    const key = `${petitionId}\n${district ?? ''}`;
    const delta = this.pending.get(key);
    if (delta) {
      delta.total += total;
      delta.confirmed += confirmed;
    } else {
      this.pending.set(key, { petitionId, district: district ?? '', total, confirmed });
    }
    this.arm();
  }

  logRejection(rejection: RejectionInput): void {
    this.rejections.push(rejection);
    this.arm();
  }

  async read(petitionId: string): Promise<CounterSnapshot> {
    const now = Date.now();
    let cached = this.cache.get(petitionId);
    if (!cached || now - cached.at > this.ttlMs) {
      const generation = this.generation;
      const rows = await listCounters(this.db, petitionId);
      cached = { at: now, rows };
      if (generation === this.generation) this.cache.set(petitionId, cached);
      else this.cache.delete(petitionId);
    }
    const byDistrict = new Map<string, { total: number; confirmed: number }>();
    let total = 0;
    let confirmed = 0;
    const addRow = (district: string, t: number, c: number) => {
      const entry = byDistrict.get(district) ?? { total: 0, confirmed: 0 };
      entry.total += t;
      entry.confirmed += c;
      byDistrict.set(district, entry);
      total += t;
      confirmed += c;
    };
    for (const row of cached.rows) addRow(row.district, row.total, row.confirmed);
    for (const delta of this.pending.values()) {
      if (delta.petitionId === petitionId) addRow(delta.district, delta.total, delta.confirmed);
    }
    return { total, confirmed, byDistrict };
  }

  /** Forgets the cached table rows of a petition (after a recount). */
  invalidate(petitionId: string): void {
    this.generation++;
    this.cache.delete(petitionId);
  }

  /** Writes every pending delta and rejection; safe to call at any time (tests, shutdown). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  private async flushNow(): Promise<void> {
    if (this.pending.size === 0 && this.rejections.length === 0) return;
    const deltas = [...this.pending.values()].map((delta) => ({ ...delta }));
    const rejections = this.rejections;
    this.rejections = [];
    // Deltas stay visible to readers until the write commits, then the table cache is dropped.
    try {
      await this.db.transaction().execute(async (trx) => {
        await addCounterDeltas(trx, deltas);
        await insertRejections(trx, rejections);
      });
      for (const delta of deltas) {
        const key = `${delta.petitionId}\n${delta.district}`;
        const current = this.pending.get(key);
        if (!current) continue;
        current.total -= delta.total;
        current.confirmed -= delta.confirmed;
        if (current.total === 0 && current.confirmed === 0) this.pending.delete(key);
      }
      this.generation++;
      for (const delta of deltas) this.cache.delete(delta.petitionId);
    } catch (error) {
      this.log.error({ err: error }, 'could not write petition counters; will retry');
      this.rejections = rejections.concat(this.rejections);
      this.arm();
    }
  }
}
