import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, long, openChaosDatabase, sleep, startCli, type ChaosDatabase } from './harness.ts';
import { intakeDiagnosis, signaturesOnceProcessed, SigningLoad } from './signing-load.ts';

// kill -9 of the web process while signatures arrive at a steady rate: every answered (2xx)
// signature is there exactly once after a restart.
describe('kill -9 of the server while people sign', () => {
  let db: ChaosDatabase;
  let petition: { id: string; slug: string };

  beforeAll(async () => {
    db = await openChaosDatabase({ SIGN_ALTCHA: 'false', SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    const created = await db.services.petitions.createPetition({
      slug: `chaos-${randomBytes(3).toString('hex')}`,
      title: 'Keep the library open',
      requiresConfirmation: false,
      altchaEnabled: false,
    });
    await db.services.petitions.publishPetition(created.row.id);
    petition = { id: created.row.id, slug: created.row.slug };
  });

  afterAll(async () => {
    await killAll();
    await db?.close();
  });

  it(
    'keeps every signature that was answered 2xx, exactly once, across kill -9 and restart',
    async () => {
      const cycles = long ? 5 : 1;
      const runMs = long ? 4000 : 1500;
      const rate = long ? 200 : 120;
      let server = await startCli('serve', db.childEnv());
      const port = server.port;
      const load = new SigningLoad(() => `${server.url}/petitions/${petition.slug}/sign`);
      const measured: Array<Record<string, number>> = [];
      try {
        for (let cycle = 0; cycle < cycles; cycle++) {
          const before = load.summary();
          load.start(rate);
          await sleep(runMs);
          // A burst lands just before the kill, so some requests are mid-way (read, being
          // written, committed but not yet answered) when the process dies.
          const burst = load.burst(30);
          await sleep(8);
          const inFlight = load.pending();
          await server.crash();
          await burst;
          await sleep(200);
          await load.stop();
          const after = load.summary();
          measured.push({
            cycle,
            answered2xx: after.ok - before.ok,
            inFlightAtKill: inFlight,
            failed: after.failed - before.failed,
          });
          server = await startCli('serve', db.childEnv(), { port });
        }
        // The restarted server signs again.
        const fresh = await load.burst(20);
        expect(
          fresh.filter((status) => status === 201),
          JSON.stringify(load.answers.slice(-3)),
        ).toHaveLength(20);

        const okEmails = load.okTokens();
        expect(okEmails.length).toBeGreaterThan(cycles * 20);
        // After the restart and its background jobs, the petition shows each answered signer once.
        const { names, waitedMs } = await signaturesOnceProcessed(db, petition.id, okEmails);
        const missing = okEmails.filter((token) => !names.has(token));
        const duplicated = [...names].filter(([, count]) => count > 1);
        const unknown = [...names.keys()].filter((token) => !load.posted.has(token));
        const committedUnanswered = [...names.keys()].filter((token) => load.outcome(token) !== 'ok').length;
        console.info(
          `[chaos] signing kill -9 on ${db.schema ? 'postgres' : 'sqlite'}: ${JSON.stringify(measured)}; ` +
            `${okEmails.length} answered 2xx in all, ${names.size} signatures stored, ` +
            `${committedUnanswered} stored without an answer (cut off), ${missing.length} missing ` +
            `(${waitedMs} ms for the intake to be processed after the restart), ` +
            `${duplicated.length} duplicated`,
        );
        expect(
          missing,
          missing.length
            ? `${await intakeDiagnosis(db)}\nserver output:\n${server.output().slice(-4000)}`
            : '',
        ).toEqual([]);
        expect(duplicated).toEqual([]);
        // Promptly: the backlog left by the crash runs job after job, not one job per poll. A job
        // lost with the killed process waits for its missed heartbeat (15 s) and a supervision (5 s).
        expect(waitedMs).toBeLessThan(40_000);
        expect(unknown).toEqual([]);
        // The exact count the dashboard shows agrees with the rows.
        const dashboard = await db.services.petitions.getDashboard(petition.id);
        expect(dashboard.exact.total).toBe(names.size);
      } finally {
        await load.stop();
        await server.crash();
      }
    },
    long ? 300_000 : 120_000,
  );
});
