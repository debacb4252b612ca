import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';

describe('transactional email through a real SMTP server', () => {
  let smtp: SmtpSink;
  let t: TestRuntime;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestRuntime({ SMTP_URL: smtp.url, MAIL_FROM: 'Campaign <hello@campaign.example>' });
  });
  afterAll(async () => {
    t.services.mail.close();
    await t.close();
    await smtp.close();
  });

  it('sends a message queued inside a committed transaction, once', async () => {
    const id = await t.ctx.db.transaction().execute((trx) =>
      t.services.mail.queueTransactional(trx, {
        to: 'ana@example.org',
        subject: 'Please confirm your signature',
        text: 'Click https://example.org/confirm/abc',
        html: '<p>Click <a href="https://example.org/confirm/abc">here</a></p>',
        kind: 'petition.confirm',
        attachments: [
          {
            filename: 'event.ics',
            content: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n',
            contentType: 'text/calendar',
          },
        ],
      }),
    );
    expect(await t.ctx.jobs.drain()).toBe(1);
    const message = await smtp.waitFor((m) => m.envelopeTo.includes('ana@example.org'));
    expect(message.subject).toBe('Please confirm your signature');
    expect(message.text).toContain('https://example.org/confirm/abc');
    expect(message.from).toContain('hello@campaign.example');
    expect(message.attachments[0]?.filename).toBe('event.ics');
    const row = await t.ctx.db
      .selectFrom('transactional_emails')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(row.message_id).toBeTruthy();
    // Running the job again (a retry after a crash) does not send it twice.
    await t.services.mail.sendTransactional(id);
    expect(smtp.messages.filter((m) => m.envelopeTo.includes('ana@example.org'))).toHaveLength(1);
  });

  it('queues nothing when the surrounding transaction rolls back', async () => {
    await expect(
      t.ctx.db.transaction().execute(async (trx) => {
        await t.services.mail.queueTransactional(trx, {
          to: 'rolled@example.org',
          subject: 's',
          text: 't',
          kind: 'test',
        });
        throw new Error('the write that needed it failed');
      }),
    ).rejects.toThrow('the write that needed it failed');
    expect(await t.ctx.jobs.drain()).toBe(0);
    const rows = await t.ctx.db
      .selectFrom('transactional_emails')
      .selectAll()
      .where('to_address', '=', 'rolled@example.org')
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('marks a permanently rejected recipient failed instead of retrying forever', async () => {
    smtp.rejectRecipients((address) =>
      address === 'gone@example.org' ? { code: 550, message: 'No such user' } : null,
    );
    const id = await t.services.mail.queueTransactional(t.ctx.db, {
      to: 'gone@example.org',
      subject: 's',
      text: 't',
      kind: 'test',
    });
    await t.ctx.jobs.drain();
    smtp.rejectRecipients(null);
    const row = await t.ctx.db
      .selectFrom('transactional_emails')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
    expect(row.last_error).toContain('No such user');
  });
});

describe('local outbox when no SMTP server is configured', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  it('stores the complete message in the outbox', async () => {
    await t.services.mail.queueTransactional(t.ctx.db, {
      to: 'Bo@Example.org',
      subject: 'Thanks for signing',
      text: 'Thank you, Bo',
      kind: 'petition.thanks',
    });
    await t.ctx.jobs.drain();
    const messages = await t.services.mail.listOutbox({ to: 'bo@example.org' });
    expect(messages).toHaveLength(1);
    expect(messages[0]!.subject).toBe('Thanks for signing');
    expect(messages[0]!.raw).toContain('Thank you, Bo');
    expect(messages[0]!.raw).toMatch(/^Message-ID: <.+>$/m);
    expect(await t.services.mail.countOutbox()).toBe(1);
  });
});
