import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/ratelimit/index.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

describe('rate limits shared between web processes', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  // Two limiters on one database stand for two web processes.
  const pair = (scope: string, limit: number) => {
    const shared = { db: t.ctx.db, scope, secret: 'test-secret', log: t.ctx.log, syncMs: 60_000 };
    return [new RateLimiter(limit, 3600_000, shared), new RateLimiter(limit, 3600_000, shared)] as const;
  };
  const now = Date.UTC(2026, 10, 25, 12, 30);

  it('enforces one limit across processes once they have exchanged counts', async () => {
    const [a, b] = pair('test-a', 4);
    expect(a.hit('198.51.100.7', now)).toBe(0);
    expect(a.hit('198.51.100.7', now)).toBe(0);
    expect(a.hit('198.51.100.7', now)).toBe(0);
    await a.sync(now);
    await b.sync(now);
    // B has seen this address once; with A's three hits that is the fourth, the fifth is refused.
    expect(b.hit('198.51.100.7', now)).toBe(0);
    expect(b.hit('198.51.100.7', now)).toBe(30 * 60);
    // Another address is not affected, and the window is the clock's hour for both.
    expect(b.hit('203.0.113.1', now)).toBe(0);
    expect(a.hit('198.51.100.7', now + 30 * 60_000)).toBe(0);
    a.close();
    b.close();
  });

  it('stores neither the address nor a key hit only once (a surge of distinct people writes nothing)', async () => {
    const [a] = pair('test-b', 10);
    a.hit('someone@example.org', now);
    a.hit('busy@example.org', now);
    a.hit('busy@example.org', now);
    await a.sync(now);
    const rows = await t.ctx.db.selectFrom('rate_counts').selectAll().where('scope', '=', 'test-b').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hits).toBe(2);
    expect(rows[0]!.key).not.toContain('busy');
    a.close();
  });

  it('keeps exchanging after one exchange failed (the database was away)', async () => {
    let away = true;
    const flaky = new Proxy(t.ctx.db, {
      get(target, property) {
        if (property === 'insertInto' && away) {
          away = false;
          throw new Error('database away');
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const limiter = new RateLimiter(5, 3600_000, {
      db: flaky,
      scope: 'test-d',
      secret: 'test-secret',
      log: t.ctx.log,
      syncMs: 60_000,
    });
    limiter.hit('198.51.100.9', now);
    limiter.hit('198.51.100.9', now);
    await expect(limiter.sync(now)).rejects.toThrow('database away');
    limiter.hit('198.51.100.9', now);
    await limiter.sync(now);
    const rows = await t.ctx.db
      .selectFrom('rate_counts')
      .select('hits')
      .where('scope', '=', 'test-d')
      .execute();
    expect(rows).toEqual([{ hits: 3 }]);
    limiter.close();
  });

  it('a limit of 0 counts nothing', () => {
    const [a] = pair('test-c', 0);
    for (let i = 0; i < 5; i++) expect(a.hit('x', now)).toBe(0);
    expect(a.enabled).toBe(false);
  });
});
