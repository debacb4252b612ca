import type { Executor } from '../db/index.ts';
import './tables.ts';

/* Rate-limit counts shared between processes. */

export interface HitDelta {
  key: string;
  hits: number;
}

/** Adds each process's new hits to the shared count of its (scope, window, key). */
export async function addHits(
  db: Executor,
  scope: string,
  window: number,
  deltas: readonly HitDelta[],
): Promise<void> {
  if (deltas.length === 0) return;
  await db
    .insertInto('rate_counts')
    .values(deltas.map((d) => ({ scope, window, key: d.key, hits: d.hits })))
    .onConflict((oc) =>
      oc.columns(['scope', 'window', 'key']).doUpdateSet((eb) => ({
        hits: eb('rate_counts.hits', '+', eb.ref('excluded.hits')),
      })),
    )
    .execute();
}

/** Keys of a window hit at least `minHits` times across all processes (few: the busy ones). */
export async function listBusyKeys(
  db: Executor,
  scope: string,
  window: number,
  minHits: number,
): Promise<HitDelta[]> {
  return db
    .selectFrom('rate_counts')
    .select(['key', 'hits'])
    .where('scope', '=', scope)
    .where('window', '=', window)
    .where('hits', '>=', minHits)
    .execute();
}

export async function deleteWindowsBefore(db: Executor, scope: string, window: number): Promise<void> {
  await db.deleteFrom('rate_counts').where('scope', '=', scope).where('window', '<', window).execute();
}

/** The shared counts of one key in the windows from `fromWindow` on (windows without hits are absent). */
export async function listKeyHits(
  db: Executor,
  scope: string,
  key: string,
  fromWindow: number,
): Promise<Array<{ window: number; hits: number }>> {
  const rows = await db
    .selectFrom('rate_counts')
    .select(['window', 'hits'])
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('window', '>=', fromWindow)
    .execute();
  return rows.map((row) => ({ window: Number(row.window), hits: Number(row.hits) }));
}
