import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter, SharedFailureCounter } from '../../src/ratelimit/index.ts';
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

  it('counts failures in the database, seen by every process at once, across a window end', async () => {
    const counting = { db: t.ctx.db, scope: 'test-failures', secret: 'test-secret' };
    const a = new SharedFailureCounter(3, 15 * 60_000, counting);
    const b = new SharedFailureCounter(3, 15 * 60_000, counting);
    const end = Date.UTC(2026, 10, 25, 12, 45); // a quarter hour's end
    await a.fail('198.51.100.20', end - 1000);
    await b.fail('198.51.100.20', end - 500);
    expect(await a.blockedFor('198.51.100.20', end + 1000)).toBe(0);
    // The third failure comes after the window's end: the two before it still count.
    await a.fail('198.51.100.20', end + 1000);
    expect(await b.blockedFor('198.51.100.20', end + 2000)).toBe(15 * 60 - 2);
    expect(await b.blockedFor('198.51.100.21', end + 2000)).toBe(0);
    // The next window sees only the one failure of the window before it.
    expect(await a.blockedFor('198.51.100.20', end + 15 * 60_000)).toBe(0);
    const rows = await t.ctx.db
      .selectFrom('rate_counts')
      .selectAll()
      .where('scope', '=', 'test-failures')
      .execute();
    expect(JSON.stringify(rows)).not.toContain('198.51.100');
  });

  it('refuses a key that filled one window until the end of the next', async () => {
    const counter = new SharedFailureCounter(2, 15 * 60_000, {
      db: t.ctx.db,
      scope: 'test-failures-b',
      secret: 'test-secret',
    });
    const start = Date.UTC(2026, 10, 25, 13, 0);
    await counter.fail('203.0.113.5', start + 60_000);
    await counter.fail('203.0.113.5', start + 120_000);
    expect(await counter.blockedFor('203.0.113.5', start + 180_000)).toBe(27 * 60);
    expect(await counter.blockedFor('203.0.113.5', start + 20 * 60_000)).toBe(10 * 60);
    expect(await counter.blockedFor('203.0.113.5', start + 30 * 60_000)).toBe(0);
  });
});
