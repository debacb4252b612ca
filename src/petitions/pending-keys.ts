/**
 * The signings a web process took in on SQLite that may not be processed yet, by (petition, email
 * key) → intake row id: how a repeat is recognised before the job has made its signature (the
 * intake keeps no unique index there; see the 0016 migration). Loaded from the pending rows when
 * the first signing arrives, added to after each commit, trimmed when the job processes rows here.
 *
 * It is a memory of this process only: a repeat taken in by another process, or older than the
 * newest `limit` signings, is not recognised at once; the job then finds it and changes nothing.
 */
export class PendingKeys {
  private readonly ids = new Map<string, string>();
  private loaded = false;
  private readonly limit: number;

  constructor(limit = 250_000) {
    this.limit = limit;
  }

  static key(petitionId: string, emailKey: string): string {
    return `${petitionId}\n${emailKey}`;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The rows pending when the process started, newest first. */
  load(rows: ReadonlyArray<{ id: string; petition_id: string; email_key: string }>): void {
    if (this.loaded) return;
    this.loaded = true;
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i]!;
      this.add(PendingKeys.key(row.petition_id, row.email_key), row.id);
    }
  }

  get(key: string): string | undefined {
    return this.ids.get(key);
  }

  add(key: string, id: string): void {
    this.ids.delete(key);
    this.ids.set(key, id);
    // A Map iterates in insertion order: the oldest go first.
    if (this.ids.size > this.limit) {
      let excess = Math.ceil(this.limit / 10);
      for (const oldest of this.ids.keys()) {
        this.ids.delete(oldest);
        if (--excess === 0) break;
      }
    }
  }

  /** Forgets a processed row (only if the key still names it). */
  remove(key: string, id: string): void {
    if (this.ids.get(key) === id) this.ids.delete(key);
  }

  get size(): number {
    return this.ids.size;
  }
}
