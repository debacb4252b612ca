import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.ts';
import { createTestRuntime, type TestRuntime } from './helpers/runtime.ts';

describe('undersign demo', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('fills a living sample organisation through the services', async () => {
    const summary = await runDemo(t.services, { people: 400 });
    expect(await t.services.people.countPeople()).toBe(400);
    const page = await t.services.people.searchPeople({ tag: 'volunteer', page: 1, perPage: 10 });
    expect(page.total).toBeGreaterThan(10);
    const petition = await t.services.petitions.getPetitionBySlug('pass-sb-54-clean-air');
    expect(petition.row.status).toBe('open');
    expect(petition.targets.map((target) => target.name)).toContain('Asm. Jordan Reyes');
    const signatures = await t.ctx.db
      .selectFrom('signatures')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(signatures.n)).toBe(summary.signatures);
    expect(summary.signatures).toBeGreaterThan(100);
    const spanish = await t.ctx.db.selectFrom('people').select('id').where('language', '=', 'es').execute();
    expect(spanish.length).toBeGreaterThan(20);
  });

  it('can run twice without duplicating anyone', async () => {
    await runDemo(t.services, { people: 400 });
    expect(await t.services.people.countPeople()).toBe(400);
  });
});
