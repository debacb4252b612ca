import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import { killAll, long, openChaosDatabase, sleep, startCli, type ChaosDatabase } from './harness.ts';
import { deliveriesOf, senderSettings, startMailing, total } from './mailing.ts';

const concurrency = 2;
// The sender runs three workers per SMTP connection, each with at most one message accepted by the
// SMTP server but not yet marked sent (src/mail/sending/sender.ts): the most a crash can resend.
const inFlightBound = concurrency * 3;

describe('kill -9 of the sender mid-mailing', () => {
  let smtp: SmtpSink;
  let db: ChaosDatabase;

  beforeAll(async () => {
    // Each message is kept by the server 40 ms before its 250 reaches the sender, so a kill always
    // finds messages in flight (accepted, not yet recorded as sent).
    smtp = await startSmtpSink({ replyDelayMs: 40 });
    db = await openChaosDatabase(senderSettings(smtp.url, concurrency));
  });

  afterAll(async () => {
    await killAll();
    await db?.close();
    await smtp?.close();
  });

  it(
    'finishes after a restart with nobody skipped and at most the in-flight messages sent twice',
    async () => {
      const people = long ? 3000 : 400;
      const kills = long ? 4 : 1;
      const { mailingId, emails } = await startMailing(db, people);
      const env = db.childEnv({ LOG_LEVEL: 'info', EMBEDDED_WORKER: 'true' });
      const measured: Array<{
        received: number;
        markedSent: number;
        inFlight: number;
        resumedAfterMs?: number;
      }> = [];
      let worker = await startCli('worker', env);
      try {
        for (let k = 0; k < kills; k++) {
          const target = Math.round((people * (k + 1)) / (kills + 2));
          const restartedAt = Date.now();
          const before = total(deliveriesOf(smtp.messages, mailingId));
          const previous = measured.at(-1);
          while (total(deliveriesOf(smtp.messages, mailingId)) < target) {
            if (
              previous &&
              previous.resumedAfterMs === undefined &&
              total(deliveriesOf(smtp.messages, mailingId)) > before
            ) {
              previous.resumedAfterMs = Date.now() - restartedAt;
            }
            if (Date.now() > restartedAt + 60_000) {
              throw new Error(`sending stalled (${before} messages at the restart):\n${worker.output()}`);
            }
            await sleep(20);
          }
          await worker.crash();
          await sleep(300); // anything the SMTP server was still receiving lands or is dropped
          // Recipients the SMTP server has a message for, whether or not the sender recorded it.
          const received = deliveriesOf(smtp.messages, mailingId).size;
          const report = await db.services.mailings.mailingReport(mailingId);
          const markedSent = report.states.sent ?? 0;
          measured.push({ received, markedSent, inFlight: received - markedSent });
          worker = await startCli('worker', env);
        }
        const started = Date.now();
        const deadline = started + (long ? 240_000 : 60_000);
        let mailing = await db.services.mailings.getMailing(mailingId);
        while (mailing.status !== 'sent') {
          if (Date.now() > deadline) {
            throw new Error(
              `mailing still ${mailing.status} ${Math.round((Date.now() - started) / 1000)} s after the restart ` +
                `(${total(deliveriesOf(smtp.messages, mailingId))} of ${people} received):\n${worker.output()}`,
            );
          }
          await sleep(200);
          mailing = await db.services.mailings.getMailing(mailingId);
        }
        const finishedMs = Date.now() - started;

        const deliveries = deliveriesOf(smtp.messages, mailingId);
        const skipped = emails.filter((email) => !deliveries.has(email));
        const duplicates = total(deliveries) - deliveries.size;
        const expectedDuplicates = measured.reduce((sum, m) => sum + m.inFlight, 0);
        console.info(
          `[chaos] sender kill -9 on ${db.schema ? 'postgres' : 'sqlite'}: ${people} recipients, ` +
            `at each kill ${JSON.stringify(measured)}; finished ${finishedMs} ms after the last restart; ` +
            `${skipped.length} skipped, ${duplicates} sent twice (bound ${inFlightBound} per kill)`,
        );
        expect(skipped).toEqual([]);
        expect(deliveries.size).toBe(people);
        for (const m of measured) expect(m.inFlight).toBeLessThanOrEqual(inFlightBound);
        // Exactly the messages in flight at each kill were sent again, nobody else.
        expect(duplicates).toBe(expectedDuplicates);
        const report = await db.services.mailings.mailingReport(mailingId);
        expect(report.states).toEqual({ sent: people });
      } finally {
        await worker.crash();
      }
    },
    long ? 600_000 : 120_000,
  );
});
