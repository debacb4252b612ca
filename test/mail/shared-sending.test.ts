import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailingsService, petitionsForMail } from '../../src/mail/mailings/index.ts';
import { createMailTransport, type MailTransport } from '../../src/mail/index.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import { addPeople } from './fixtures.ts';

describe('one mailing sent by two senders at once', () => {
  let smtp: SmtpSink;
  let t: TestRuntime;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestRuntime({
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://act.shared.example',
      ORG_POSTAL_ADDRESS: '1 Main Street, 10115 Berlin',
      MAIL_RATE: '0',
      MAIL_BATCH_SIZE: '4',
      MAIL_CONCURRENCY: '1',
      MAIL_SENDERS: '2',
    });
  });
  afterAll(async () => {
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
    await smtp.close();
  });

  it('sends every recipient exactly once, and both senders send part of it', async () => {
    const people = Array.from({ length: 30 }, (_, i) => ({
      email: `shared${i}@shared.example`,
      tags: ['shared'],
      subscribe: true,
    }));
    await addPeople(t.services, people);
    const petitions = petitionsForMail(t.services.petitions, t.config.publicUrl);
    const accepted = { first: 0, second: 0 };
    // The first sender holds its first message until the second has sent one: both are at work on
    // the mailing at the same time, whatever the scheduling.
    let secondSent!: () => void;
    const secondHasSent = new Promise<void>((resolve) => (secondSent = resolve));
    const transportOf = (name: 'first' | 'second'): MailTransport => {
      const real = createMailTransport(t.config, t.ctx.db, { pool: true, maxConnections: 1 });
      return {
        kind: 'smtp',
        async send(message) {
          if (name === 'first' && accepted.first === 0) await secondHasSent;
          const result = await real.send(message);
          accepted[name]++;
          if (name === 'second') secondSent();
          return result;
        },
        close: () => real.close(),
      };
    };
    const first = createMailingsService(t.ctx, { petitions, transport: transportOf('first') });
    const second = createMailingsService(t.ctx, { petitions, transport: transportOf('second') });
    try {
      const mailingId = await first.createMailing({
        fromName: 'Shared Campaign',
        fromAddress: 'news@shared.example',
        format: 'markdown',
        subject: 'Together',
        body: 'Hi',
        audience: { tags: ['shared'] },
      });
      expect(await first.startSending(mailingId)).toBe(30);
      const [a, b] = await Promise.all([
        first.sender.runJob(mailingId, { slot: 0 }),
        second.sender.runJob(mailingId, { slot: 1 }),
      ]);
      // The jobs queued at the start find the mailing sent.
      await t.ctx.jobs.drain();

      expect(a.sent).toBeGreaterThan(0);
      expect(b.sent).toBeGreaterThan(0);
      expect(a.sent + b.sent).toBe(30);
      expect(accepted).toEqual({ first: a.sent, second: b.sent });
      const to = smtp.messages
        .filter((m) => String(m.headers.get('message-id') ?? '').includes(mailingId))
        .flatMap((m) => m.envelopeTo)
        .sort();
      expect(to).toEqual(people.map((p) => p.email).sort());
      const report = await first.mailingReport(mailingId);
      expect(report.states).toEqual({ sent: 30 });
      expect(report.mailing.status).toBe('sent');
    } finally {
      first.close();
      second.close();
      t.services.mailings.registerJobs();
    }
  });
});
