/**
 * The signings a web process took in on SQLite that may not be processed yet, by petition and
 * email key → intake row id: how a repeat is recognised before the job has made its signature (the
 * intake keeps no unique index there; see the 0016 migration). Loaded from the pending rows when
 * the first signing arrives, added to after each commit, trimmed when the job processes rows here.
 *
 * One map per petition, keyed by the email key itself: a look-up hashes a string that already
 * exists (and keeps its hash) instead of a new "petition + key" string per signing.
 *
 * It is a memory of this process only: a repeat taken in by another process, or one forgotten to
 * stay within `limit` (the oldest tenth of each petition's go first), is not recognised at once;
 * the job then finds it and changes nothing.
 */
export class PendingKeys {
  private readonly byPetition = new Map<string, Map<string, string>>();
  private count = 0;
  private loaded = false;
  private readonly limit: number;

  constructor(limit = 250_000) {
    this.limit = limit;
  }

  /** One text for a (petition, email key) pair, for maps local to a batch. */
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
      this.add(row.petition_id, row.email_key, row.id);
    }
  }

  get(petitionId: string, emailKey: string): string | undefined {
    return this.byPetition.get(petitionId)?.get(emailKey);
  }

  add(petitionId: string, emailKey: string, id: string): void {
    let ids = this.byPetition.get(petitionId);
    if (!ids) this.byPetition.set(petitionId, (ids = new Map()));
    // A Map iterates in insertion order: a key taken in again (after an erasure) moves to the end.
    const size = ids.size;
    ids.delete(emailKey);
    ids.set(emailKey, id);
    if (ids.size > size) this.count++;
    if (this.count > this.limit) this.trim();
  }

  /** Forgets a processed row (only if the key still names it). */
  remove(petitionId: string, emailKey: string, id: string): void {
    const ids = this.byPetition.get(petitionId);
    if (ids?.get(emailKey) !== id) return;
    ids.delete(emailKey);
    this.count--;
    if (ids.size === 0) this.byPetition.delete(petitionId);
  }

  get size(): number {
    return this.count;
  }

  private trim(): void {
    for (const [petitionId, ids] of this.byPetition) {
      let excess = Math.ceil(ids.size / 10);
      for (const oldest of ids.keys()) {
        ids.delete(oldest);
        this.count--;
        if (--excess === 0) break;
      }
      if (ids.size === 0) this.byPetition.delete(petitionId);
    }
  }
}
