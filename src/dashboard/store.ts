import type { Executor } from '../db/index.ts';
import type { DashboardNumbersTable } from './tables.ts';

/* All dashboard SQL: the stored numbers. */

export async function findNumbers(
  db: Executor,
  name: string,
): Promise<Pick<DashboardNumbersTable, 'numbers' | 'computed_at'> | undefined> {
  return db
    .selectFrom('dashboard_numbers')
    .select(['numbers', 'computed_at'])
    .where('name', '=', name)
    .executeTakeFirst();
}

/** Keeps new numbers and ends the lease of whoever computed them. */
export async function saveNumbers(
  db: Executor,
  name: string,
  numbers: string,
  computedAt: string,
): Promise<void> {
  await db
    .insertInto('dashboard_numbers')
    .values({ name, numbers, computed_at: computedAt, refreshing_until: null })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({ numbers, computed_at: computedAt, refreshing_until: null }),
    )
    .execute();
}

/**
 * Takes the lease to compute new numbers when they were computed before `staleBefore` and nobody
 * holds the lease: true for exactly one caller. With no numbers stored there is nothing to take
 * (the caller computes them at once).
 */
export async function claimRefresh(
  db: Executor,
  name: string,
  staleBefore: string,
  now: string,
  until: string,
): Promise<boolean> {
  const result = await db
    .updateTable('dashboard_numbers')
    .set({ refreshing_until: until })
    .where('name', '=', name)
    .where('computed_at', '<', staleBefore)
    .where((eb) => eb.or([eb('refreshing_until', 'is', null), eb('refreshing_until', '<', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
