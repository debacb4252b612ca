import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitTimeoutError, GroupCommitter } from '../../src/petitions/group-commit.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

describe('group commit', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  it('batches concurrent writes into one transaction and retries a failed batch item by item', async () => {
    const batches: string[][] = [];
    const committer = new GroupCommitter<string, string>((items) =>
      t.ctx.db.transaction().execute(async (trx) => {
        batches.push([...items]);
        for (const item of items) {
          if (item === 'bad') throw new Error('bad item');
          await trx
            .insertInto('tags')
            .values({ id: `tag-${item}`, name: `group-commit-${item}`, created_at: new Date().toISOString() })
            .execute();
        }
        return items.map((item) => `ok:${item}`);
      }),
    );
    const settled = await Promise.allSettled(['a', 'b', 'bad', 'c'].map((item) => committer.submit(item)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      'ok:a',
      'ok:b',
      'bad item',
      'ok:c',
    ]);
    // First all four together; after the failure each alone.
    expect(batches[0]).toEqual(['a', 'b', 'bad', 'c']);
    expect(batches.slice(1)).toEqual([['a'], ['b'], ['bad'], ['c']]);
    const tags = await t.ctx.db
      .selectFrom('tags')
      .select('name')
      .where('name', 'like', 'group-commit-%')
      .orderBy('name')
      .execute();
    expect(tags.map((tag) => tag.name)).toEqual(['group-commit-a', 'group-commit-b', 'group-commit-c']);
  });

  it('fails every item of a batch at once when the database is unreachable (no retry one by one)', async () => {
    const batches: string[][] = [];
    const committer = new GroupCommitter<string, string>(async (items) => {
      batches.push([...items]);
      throw new Error('Connection terminated unexpectedly');
    });
    const settled = await Promise.allSettled(['x', 'y', 'z'].map((item) => committer.submit(item)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(batches).toEqual([['x', 'y', 'z']]);
  });

  it('answers "try again" when a commit stalls, and never writes what was still waiting', async () => {
    let release!: () => void;
    const stall = new Promise<void>((resolve) => (release = resolve));
    const written: string[] = [];
    const committer = new GroupCommitter<string, string>(
      async (items) => {
        if (items.includes('first')) await stall;
        written.push(...items);
        return items.map((item) => `ok:${item}`);
      },
      { waitMs: 50 },
    );
    const first = committer.submit('first');
    await new Promise((resolve) => setImmediate(resolve));
    const second = committer.submit('second');
    await expect(first).rejects.toBeInstanceOf(CommitTimeoutError);
    await expect(second).rejects.toBeInstanceOf(CommitTimeoutError);
    release();
    // The stalled batch still commits (its caller, trying again, finds it done); the waiting one never does.
    await expect.poll(() => written).toEqual(['first']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toEqual(['first']);
  });
});
