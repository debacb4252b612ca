import type Sqlite from 'better-sqlite3';
import type { IntakeRow } from './tables.ts';

/*
 * The signing intake's statements on SQLite, run synchronously on Kysely's connection (see
 * SqliteAccess in db/connect.ts): a batch of signings is taken in with no promise per statement.
 * Call them only inside a transaction that holds the connection.
 */

/** The newest pending rows' keys, newest first (a web process remembers them; see PendingKeys). */
export function listPendingIntakeKeys(
  db: Sqlite.Database,
  limit: number,
): Array<Pick<IntakeRow, 'id' | 'petition_id' | 'email_key'>> {
  return db
    .prepare(
      `select id, petition_id, email_key from signature_intake
       where status = 'pending' order by created_at desc limit ?`,
    )
    .all(limit) as Array<Pick<IntakeRow, 'id' | 'petition_id' | 'email_key'>>;
}

/**
 * Processed rows (signed or repeat) of these email keys: the signings a new one repeats. One
 * parameter whatever the batch's size (one statement to prepare, one value to bind); the literal
 * `'pending'` lets SQLite use the partial index made for this look-up (migration 0016).
 */
export function findProcessedIntakeByKeys(
  db: Sqlite.Database,
  petitionId: string,
  emailKeys: readonly string[],
): IntakeRow[] {
  if (emailKeys.length === 0) return [];
  return db
    .prepare(
      `select * from signature_intake
       where petition_id = ? and email_key in (select value from json_each(?)) and status <> 'pending'`,
    )
    .all(petitionId, JSON.stringify(emailKeys)) as IntakeRow[];
}

export function findIntakeByIds(db: Sqlite.Database, ids: readonly string[]): IntakeRow[] {
  if (ids.length === 0) return [];
  return db
    .prepare(`select * from signature_intake where id in (select value from json_each(?))`)
    .all(JSON.stringify(ids)) as IntakeRow[];
}

/** `insert … values (…), (…)` for `count` rows, made once per count (one prepared statement each). */
const insertText = new Map<number, string>();
function insertOf(count: number): string {
  let text = insertText.get(count);
  if (!text) {
    text = `insert into signature_intake (id, petition_id, email_key, status, payload, created_at) values ${Array.from(
      { length: count },
      () => "(?, ?, ?, 'pending', ?, ?)",
    ).join(', ')}`;
    insertText.set(count, text);
  }
  return text;
}

/**
 * Takes in a batch of signings with no uniqueness check (the caller found the repeats first; see
 * the 0016 migration). Plain bound values in statements of 32, 16, 8, 4, 2 and 1 rows: SQLite then
 * reads no JSON (a batch given as one JSON text cost about 8 µs more per row).
 */
export function insertIntake(
  db: Sqlite.Database,
  rows: ReadonlyArray<{
    id: string;
    petition_id: string;
    email_key: string;
    payload: unknown;
    created_at: string;
  }>,
): void {
  let at = 0;
  for (let size = 32; size >= 1; size >>= 1) {
    while (rows.length - at >= size) {
      const values: unknown[] = [];
      for (let i = at; i < at + size; i++) {
        const r = rows[i]!;
        values.push(r.id, r.petition_id, r.email_key, JSON.stringify(r.payload), r.created_at);
      }
      db.prepare(insertOf(size)).run(values);
      at += size;
    }
  }
}
