import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHousekeeping } from '../src/services.ts';
import { signIn } from './helpers/auth.ts';
import { createTestRuntime, type TestRuntime } from './helpers/runtime.ts';

describe('housekeeping', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  it('deletes finished jobs older than a week and expired sessions, nothing else', async () => {
    const old = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    const job = (id: string, state: string, at: string) => ({
      id,
      queue: 'test',
      payload: '{}',
      priority: 0,
      state,
      attempts: 1,
      max_attempts: 5,
      run_at: at,
      locked_until: null,
      last_error: null,
      created_at: at,
      updated_at: at,
    });
    await t.ctx.db
      .insertInto('jobs')
      .values([
        job('old-done', 'done', old),
        job('new-done', 'done', new Date().toISOString()),
        job('old-failed', 'failed', old),
      ])
      .execute();
    const live = await signIn(t, 'viewer');
    const expired = await signIn(t, 'viewer');
    await t.ctx.db
      .updateTable('sessions')
      .set({ expires_at: old })
      .where('user_id', '=', expired.userId)
      .execute();

    await runHousekeeping(t.services);

    const jobs = await t.ctx.db
      .selectFrom('jobs')
      .select('id')
      .where('queue', '=', 'test')
      .orderBy('id')
      .execute();
    expect(jobs.map((j) => j.id)).toEqual(['new-done', 'old-failed']);
    const sessions = await t.ctx.db.selectFrom('sessions').select('user_id').execute();
    expect(sessions.map((s) => s.user_id)).toEqual([live.userId]);
  });
});
