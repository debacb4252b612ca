import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/index.ts';
import { migrations } from '../../src/db/migrations/index.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

describe('migrations', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  it('records every migration once and does nothing when run again, even concurrently', async () => {
    const rows = await t.ctx.db
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      .selectFrom('undersign_migrations' as any)
      .select('name')
      .orderBy('name')
      .execute();
    expect(rows.map((r) => (r as { name: string }).name)).toEqual(Object.keys(migrations).sort());
    const again = await Promise.all([migrateToLatest(t.ctx.db), migrateToLatest(t.ctx.db)]);
    expect(again).toEqual([[], []]);
  });
});
