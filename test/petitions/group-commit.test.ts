import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/petitions/group-commit.ts';
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
    const committer = new GroupCommitter<string, string>(t.ctx.db, async (trx, items) => {
      batches.push([...items]);
      for (const item of items) {
        if (item === 'bad') throw new Error('bad item');
        await trx
          .insertInto('tags')
          .values({ id: `tag-${item}`, name: `group-commit-${item}`, created_at: new Date().toISOString() })
          .execute();
      }
      return items.map((item) => `ok:${item}`);
    });
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
});
