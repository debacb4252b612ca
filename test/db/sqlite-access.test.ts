import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const onSqlite = !process.env.DATABASE_URL;

describe.skipIf(!onSqlite)('synchronous statements on the SQLite connection', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  const tagNames = async () =>
    (
      await t.ctx.db
        .selectFrom('tags')
        .select('name')
        .where('name', 'like', 'access-%')
        .orderBy('name')
        .execute()
    ).map((row) => row.name);
  const insertTag = 'insert into tags (id, name, created_at) values (?, ?, ?)';

  it('waits for a Kysely transaction in progress, then commits on its own', async () => {
    const sqlite = t.ctx.sqlite!;
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const kysely = t.ctx.db.transaction().execute(async (trx) => {
      await trx.insertInto('tags').values({ id: 'k1', name: 'access-kysely', created_at: 'x' }).execute();
      await held;
      order.push('kysely');
    });
    await new Promise((resolve) => setImmediate(resolve));
    const direct = sqlite.transaction(() => {
      order.push('direct');
      sqlite.database.prepare(insertTag).run('d1', 'access-direct', 'x');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual([]);
    release();
    await Promise.all([kysely, direct]);
    expect(order).toEqual(['kysely', 'direct']);
    expect(await tagNames()).toEqual(['access-direct', 'access-kysely']);
  });

  it('rolls the whole transaction back when the work throws', async () => {
    const sqlite = t.ctx.sqlite!;
    await expect(
      sqlite.transaction((database) => {
        database.prepare(insertTag).run('r1', 'access-rolled', 'x');
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await tagNames()).not.toContain('access-rolled');
    // The connection is usable afterwards, through Kysely too.
    await t.ctx.db.insertInto('tags').values({ id: 'a1', name: 'access-after', created_at: 'x' }).execute();
    expect(await tagNames()).toContain('access-after');
  });
});
