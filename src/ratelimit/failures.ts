import { createHmac } from 'node:crypto';
import type { DB } from '../db/index.ts';
import { addHits, deleteWindowsBefore, listKeyHits } from './store.ts';

export interface FailureCounting {
  db: DB;
  /** Names the count in the shared table, e.g. `sign-in-ip`. */
  scope: string;
  /** Keys are stored as an HMAC with this secret, so the table holds no address. */
  secret: string;
}

/**
 * Failures per key (e.g. a client address), counted in the shared rate-limit table at every
 * failure and read at every check, so every web process sees the same count at once. Meant for
 * rare, costly events (failed sign-ins, each behind a password hash), where a query each is
 * nothing next to the work it guards. Windows are aligned on the clock and a key is refused once
 * the current and the previous window together hold `limit` failures: a run of failures is never
 * split in two by a window's end.
 */
export class SharedFailureCounter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly counting: FailureCounting;
  private lastPurgedWindow = -1;

  constructor(limit: number, windowMs: number, counting: FailureCounting) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.counting = counting;
  }

  /** Counts one failure for `rawKey`. */
  async fail(rawKey: string, now = Date.now()): Promise<void> {
    const { db, scope } = this.counting;
    const window = Math.floor(now / this.windowMs);
    await addHits(db, scope, window, [{ key: this.keyOf(rawKey), hits: 1 }]);
    if (window !== this.lastPurgedWindow) {
      this.lastPurgedWindow = window;
      await deleteWindowsBefore(db, scope, window - 1);
    }
  }

  /** Seconds until `rawKey` may try again; 0 when it may now. */
  async blockedFor(rawKey: string, now = Date.now()): Promise<number> {
    if (this.limit <= 0) return 0;
    const window = Math.floor(now / this.windowMs);
    const rows = await listKeyHits(this.counting.db, this.counting.scope, this.keyOf(rawKey), window - 1);
    const current = rows.find((row) => row.window === window)?.hits ?? 0;
    const previous = rows.find((row) => row.window === window - 1)?.hits ?? 0;
    if (current + previous < this.limit) return 0;
    // Refused attempts are not counted: the current window's failures alone decide the next one.
    const until = (window + (current >= this.limit ? 2 : 1)) * this.windowMs;
    return Math.max(1, Math.ceil((until - now) / 1000));
  }

  private keyOf(rawKey: string): string {
    return createHmac('sha256', this.counting.secret).update(rawKey).digest('base64url').slice(0, 22);
  }
}
