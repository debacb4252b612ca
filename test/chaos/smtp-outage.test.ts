import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import { killAll, long, openChaosDatabase, sleep, startCli, type ChaosDatabase } from './harness.ts';
import { deliveriesOf, senderSettings, startMailing, total } from './mailing.ts';

const concurrency = 2;
// At most one message per sender worker can be accepted by the server without the sender hearing
// the answer (three workers per SMTP connection, src/mail/sending/sender.ts).
const inFlightBound = concurrency * 3;

describe('the SMTP server stops mid-mailing and starts again on the same port', () => {
  let db: ChaosDatabase;
  const sinks: SmtpSink[] = [];
  const open = new Set<SmtpSink>();

  async function startSink(port?: number): Promise<SmtpSink> {
    // Stopping answers open sessions 421 and hangs up at once, as a server going down does.
    const sink = await startSmtpSink({ ...(port ? { port } : {}), closeTimeoutMs: 1 });
    sinks.push(sink);
    open.add(sink);
    return sink;
  }
  async function stopSink(sink: SmtpSink): Promise<void> {
    open.delete(sink);
    await sink.close();
  }
  const messages = () => sinks.flatMap((sink) => sink.messages);

  beforeAll(async () => {
    const first = await startSink();
    db = await openChaosDatabase(senderSettings(first.url, concurrency));
  });

  afterAll(async () => {
    await killAll();
    await db?.close();
    await Promise.all([...open].map((sink) => sink.close()));
  });

  it(
    'pauses, resumes by itself once the server is back, and delivers to everyone',
    async () => {
      const people = long ? 3000 : 400;
      const outages = long ? 3 : 1;
      const outageMs = long ? 8000 : 2000;
      const { mailingId, emails } = await startMailing(db, people);
      const port = sinks[0]!.port;
      const sender = await startCli('serve', db.childEnv({ EMBEDDED_WORKER: 'true' }));
      const measured: Array<{ receivedBeforeStop: number; paused: boolean; resumedAfterMs: number }> = [];
      try {
        for (let i = 0; i < outages; i++) {
          const target = Math.round((people * (i + 1)) / (outages + 2));
          const deadline = Date.now() + 30_000;
          while (total(deliveriesOf(messages(), mailingId)) < target) {
            if (Date.now() > deadline) throw new Error(`sending stalled:\n${sender.output()}`);
            await sleep(20);
          }
          await stopSink(sinks[sinks.length - 1]!);
          const receivedBeforeStop = total(deliveriesOf(messages(), mailingId));
          let paused = false;
          const until = Date.now() + outageMs;
          while (Date.now() < until) {
            const mailing = await db.services.mailings.getMailing(mailingId);
            if (mailing.status === 'paused' && mailing.pause_reason === 'smtp_unavailable') paused = true;
            await sleep(100);
          }
          const back = await startSink(port);
          const backAt = Date.now();
          const resumeDeadline = backAt + 45_000;
          while (back.messages.length === 0) {
            if (Date.now() > resumeDeadline) throw new Error(`not resumed 45 s later:\n${sender.output()}`);
            await sleep(50);
          }
          measured.push({ receivedBeforeStop, paused, resumedAfterMs: Date.now() - backAt });
        }
        const deadline = Date.now() + (long ? 240_000 : 40_000);
        let mailing = await db.services.mailings.getMailing(mailingId);
        while (mailing.status !== 'sent') {
          if (Date.now() > deadline) {
            throw new Error(
              `mailing still ${mailing.status} (${total(deliveriesOf(messages(), mailingId))} of ${people}):\n${sender.output()}`,
            );
          }
          await sleep(200);
          mailing = await db.services.mailings.getMailing(mailingId);
        }
        expect(sender.alive()).toBe(true);

        const deliveries = deliveriesOf(messages(), mailingId);
        const lost = emails.filter((email) => !deliveries.has(email));
        const duplicates = total(deliveries) - deliveries.size;
        console.info(
          `[chaos] SMTP server stopped ${outages}× for ${outageMs} ms on ${db.schema ? 'postgres' : 'sqlite'}: ` +
            `${JSON.stringify(measured)}; ${people} recipients, ${lost.length} lost, ${duplicates} sent twice`,
        );
        expect(measured.every((m) => m.paused)).toBe(true);
        expect(lost).toEqual([]);
        expect(duplicates).toBeLessThanOrEqual(inFlightBound * outages);
        const report = await db.services.mailings.mailingReport(mailingId);
        expect(report.states).toEqual({ sent: people });
      } finally {
        await sender.crash();
      }
    },
    long ? 600_000 : 120_000,
  );
});
