import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob, searchPathSchema, type PgBossJobQueue } from '../../src/jobs/index.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

/** The job queue of the engine under test: the table on SQLite, pg-boss on PostgreSQL. */
describe('job queue', () => {
  let t: TestRuntime;
  const runs: Array<{ queue: string; payload: Record<string, unknown>; attempts: number }> = [];
  beforeAll(async () => {
    t = await createTestRuntime();
    for (const queue of ['test.a', 'test.b']) {
      t.ctx.jobs.register(queue, async (payload, job) => {
        runs.push({ queue, payload, attempts: job.attempts });
        if (typeof payload.failTimes === 'number' && job.attempts <= payload.failTimes) {
          throw new Error(`failing attempt ${job.attempts}`);
        }
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('uses pg-boss on PostgreSQL and the table on SQLite', () => {
    expect(t.ctx.jobs.kind).toBe(t.ctx.dialect === 'postgres' ? 'pg-boss' : 'table');
  });

  it('queues a job only when the transaction that enqueued it commits', async () => {
    runs.length = 0;
    await t.ctx.db
      .transaction()
      .execute(async (trx) => {
        await enqueueJob(trx, { queue: 'test.a', payload: { n: 1 } });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await t.ctx.jobs.drain()).toBe(0);
    await t.ctx.db.transaction().execute(async (trx) => {
      await enqueueJob(trx, { queue: 'test.a', payload: { n: 2 } });
    });
    expect(await t.ctx.jobs.drain()).toBe(1);
    expect(runs).toEqual([{ queue: 'test.a', payload: { n: 2 }, attempts: 1 }]);
  });

  it('runs higher priority first across queues, and a future job only once due', async () => {
    runs.length = 0;
    await enqueueJob(t.ctx.db, { queue: 'test.a', payload: { n: 'low' }, priority: 1 });
    await enqueueJob(t.ctx.db, { queue: 'test.b', payload: { n: 'high' }, priority: 100 });
    await enqueueJob(t.ctx.db, {
      queue: 'test.b',
      payload: { n: 'later' },
      runAt: new Date(Date.now() + 3_600_000),
    });
    expect(await t.ctx.jobs.drain()).toBe(2);
    expect(runs.map((r) => r.payload.n)).toEqual(['high', 'low']);
    expect(await t.ctx.jobs.makeDue('test.b')).toBe(1);
    expect(await t.ctx.jobs.drain()).toBe(1);
    expect(runs.map((r) => r.payload.n)).toEqual(['high', 'low', 'later']);
  });

  it('retries a failing job later, up to its maximum attempts', async () => {
    runs.length = 0;
    await enqueueJob(t.ctx.db, { queue: 'test.a', payload: { failTimes: 1 }, maxAttempts: 3 });
    await enqueueJob(t.ctx.db, { queue: 'test.b', payload: { failTimes: 9 }, maxAttempts: 2 });
    expect(await t.ctx.jobs.drain()).toBe(2);
    // Each retry waits (backoff); nothing runs again until it is due.
    expect(await t.ctx.jobs.drain()).toBe(0);
    for (let round = 0; round < 3; round++) {
      await t.ctx.jobs.makeDue('test.a');
      await t.ctx.jobs.makeDue('test.b');
      await t.ctx.jobs.drain();
    }
    const attempts = (queue: string) => runs.filter((r) => r.queue === queue).map((r) => r.attempts);
    expect(attempts('test.a')).toEqual([1, 2]);
    expect(attempts('test.b')).toEqual([1, 2]);
  });

  it('runs jobs in the background once started, and stops cleanly', async () => {
    runs.length = 0;
    await t.ctx.jobs.start();
    try {
      await enqueueJob(t.ctx.db, { queue: 'test.a', payload: { n: 'background' } });
      for (let i = 0; i < 100 && runs.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await t.ctx.jobs.stop();
    }
    expect(runs.map((r) => r.payload.n)).toEqual(['background']);
  });

  it.runIf(process.env.DATABASE_URL)(
    'moves jobs left in the jobs table into pg-boss when it starts',
    async () => {
      runs.length = 0;
      const now = new Date().toISOString();
      await t.ctx.db
        .insertInto('jobs')
        .values({
          id: 'left-in-table',
          queue: 'test.a',
          payload: JSON.stringify({ n: 'from the table' }),
          priority: 0,
          state: 'queued',
          attempts: 0,
          max_attempts: 5,
          run_at: now,
          locked_until: null,
          last_error: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await t.ctx.jobs.start();
      try {
        for (let i = 0; i < 100 && runs.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      } finally {
        await t.ctx.jobs.stop();
      }
      expect(runs.map((r) => r.payload.n)).toEqual(['from the table']);
      expect(
        await t.ctx.db.selectFrom('jobs').select('id').where('id', '=', 'left-in-table').execute(),
      ).toEqual([]);
    },
  );

  it.runIf(process.env.DATABASE_URL)(
    'runs a single-attempt job again when its process died, but does not retry its failure',
    async () => {
      runs.length = 0;
      await enqueueJob(t.ctx.db, { queue: 'test.a', payload: { n: 'lost' }, maxAttempts: 1 });
      await enqueueJob(t.ctx.db, { queue: 'test.b', payload: { failTimes: 9 }, maxAttempts: 1 });
      // A process took the first job and died: it is active, and its heartbeat stopped long ago.
      // (pg-boss's tables live in the test's schema, first on the search path.)
      await sql`update job set state = 'active', started_on = now() - interval '1 hour',
                  heartbeat_on = now() - interval '1 hour'
                where name = 'test.a' and state = 'created'`.execute(t.ctx.db);
      expect(await t.ctx.jobs.drain()).toBe(1);
      await (t.ctx.jobs as PgBossJobQueue).superviseNow();
      for (let round = 0; round < 2; round++) {
        await t.ctx.jobs.makeDue('test.a');
        await t.ctx.jobs.makeDue('test.b');
        await t.ctx.jobs.drain();
      }
      const attempts = (queue: string) => runs.filter((r) => r.queue === queue).map((r) => r.attempts);
      // The lost job ran once more (its first run counts as an attempt); the failing one ran once.
      expect(attempts('test.a')).toEqual([2]);
      expect(attempts('test.b')).toEqual([1]);
    },
  );

  it('puts pg-boss in the schema a database URL names in its search_path', () => {
    expect(searchPathSchema('postgres://u@h/db?options=-c%20search_path%3Dt_abc')).toBe('t_abc');
    expect(searchPathSchema('postgres://u@h/db')).toBeUndefined();
  });
});
