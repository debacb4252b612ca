import { createHmac } from 'node:crypto';
import type { DB } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { addHits, deleteWindowsBefore, listBusyKeys } from './store.ts';

/** What a limiter needs to count together with the other web processes. */
export interface SharedCounting {
  db: DB;
  /** Names the limit in the shared table, e.g. `sign-ip`. */
  scope: string;
  /** Keys are stored as an HMAC with this secret, so the table holds no address. */
  secret: string;
  log: Logger;
  /** How often hits are exchanged with the other processes (default 1 s). */
  syncMs?: number;
}

interface Local {
  window: number;
  count: number;
  /** Of `count`, how many are already in the shared table. */
  shared: number;
}

/**
 * Fixed-window counters (windows aligned on the clock, the same in every process). Each hit is
 * decided in memory. With `shared`, keys hit at least twice here are added to a table about once a
 * second, and the keys busy across all processes are read back, so N web processes enforce one
 * limit (give or take a second's hits) without a query per request. Keys hit once stay local: a
 * surge of distinct people writes nothing.
 */
export class RateLimiter {
  private readonly local = new Map<string, Local>();
  /** Shared totals of busy keys in `othersWindow` (own shared hits included). */
  private totals = new Map<string, number>();
  private totalsWindow = -1;
  private readonly dirty = new Set<string>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly shared: SharedCounting | null;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private lastSweep = 0;
  private lastPurgedWindow = -1;
  private closed = false;

  constructor(limit: number, windowMs: number, shared: SharedCounting | null = null) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.shared = shared;
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Counts one hit; returns 0 when allowed, else the seconds until the window resets. */
  hit(rawKey: string, now = Date.now()): number {
    if (this.limit <= 0) return 0;
    this.sweep(now);
    const key = this.keyOf(rawKey);
    const window = Math.floor(now / this.windowMs);
    let entry = this.local.get(key);
    if (!entry || entry.window !== window) {
      entry = { window, count: 0, shared: 0 };
      this.local.set(key, entry);
    }
    entry.count++;
    const others = this.totalsWindow === window ? Math.max(0, (this.totals.get(key) ?? 0) - entry.shared) : 0;
    if (this.shared) {
      if (entry.count >= 2) this.dirty.add(key);
      this.arm();
    }
    if (entry.count + others <= this.limit) return 0;
    return Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
  }

  /** Exchanges counts with the other processes now (tests; otherwise about once a second). */
  sync(now = Date.now()): Promise<void> {
    // One failed exchange (the database was away) must not stop the ones after it.
    this.syncing = this.syncing.catch(() => undefined).then(() => this.exchange(now));
    return this.syncing;
  }

  /** Stops exchanging (shutdown); hits not yet shared are only this process's to know. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
  }

  private keyOf(rawKey: string): string {
    if (!this.shared) return rawKey;
    return createHmac('sha256', this.shared.secret).update(rawKey).digest('base64url').slice(0, 22);
  }

  private arm(): void {
    if (this.timer || !this.shared || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync().catch((error: unknown) =>
        this.shared!.log.warn({ err: error }, 'could not share rate-limit counts'),
      );
      // Keep learning about keys busy elsewhere while this process is being hit.
      if (this.local.size > 0) this.arm();
    }, this.shared.syncMs ?? 1000);
    this.timer.unref();
  }

  private async exchange(now: number): Promise<void> {
    if (!this.shared) return;
    const { db, scope } = this.shared;
    const window = Math.floor(now / this.windowMs);
    const deltas = [];
    for (const key of this.dirty) {
      const entry = this.local.get(key);
      if (entry && entry.window === window && entry.count > entry.shared) {
        deltas.push({ key, hits: entry.count - entry.shared, entry });
      }
    }
    this.dirty.clear();
    await addHits(
      db,
      scope,
      window,
      deltas.map(({ key, hits }) => ({ key, hits })),
    );
    for (const { hits, entry } of deltas) entry.shared += hits;
    const busy = await listBusyKeys(db, scope, window, 2);
    this.totals = new Map(busy.map((row) => [row.key, Number(row.hits)]));
    this.totalsWindow = window;
    if (window !== this.lastPurgedWindow) {
      this.lastPurgedWindow = window;
      await deleteWindowsBefore(db, scope, window - 1);
    }
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000 && this.local.size < 100_000) return;
    this.lastSweep = now;
    const window = Math.floor(now / this.windowMs);
    for (const [key, entry] of this.local) if (entry.window !== window) this.local.delete(key);
  }
}
