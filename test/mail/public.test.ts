import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInboundListener, type InboundListener } from '../../src/mail/mailings/index.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../helpers/smtp.ts';
import { addPeople } from './fixtures.ts';

function rawHeader(message: ReceivedMessage, name: string): string {
  const unfolded = message.raw.replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(unfolded)?.[1]?.trim() ?? '';
}

describe('public mail endpoints: tracking, unsubscribe, preferences, bounces', () => {
  let smtp: SmtpSink;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let ids: Map<string, string>;
  let mailingId: string;
  let inbound: InboundListener;
  const byEmail = new Map<string, ReceivedMessage>();

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://act.example',
      MAIL_RATE: '0',
      MAIL_WEBHOOK_SECRET: 'hook-secret',
      BOUNCE_DOMAIN: 'bounces.act.example',
    });
    ids = await addPeople(
      t.services,
      ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight'].map((name) => ({
        email: `${name}@people.example`,
        givenName: name,
        lists: ['Weekly', 'Alerts'],
        subscribe: true,
      })),
    );
    mailingId = await t.services.mailings.createMailing({
      fromName: 'Act',
      fromAddress: 'news@act.example',
      subject: 'Hello {{ given_name }}',
      body: 'Read [the report](https://example.org/report).',
      format: 'markdown',
      audience: { lists: ['Weekly'] },
    });
    await t.services.mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    for (const message of smtp.messages) byEmail.set(message.envelopeTo[0]!, message);
    inbound = await startInboundListener(t.services.mailings, t.ctx.log, { port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await inbound.close();
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
    await smtp.close();
  });

  const unsubscribeUrl = (email: string) =>
    new URL(/^<([^>]+)>/.exec(rawHeader(byEmail.get(email)!, 'List-Unsubscribe'))![1]!);
  const status = async (email: string) =>
    (
      await t.ctx.db
        .selectFrom('emails')
        .select('status')
        .where('address', '=', email)
        .executeTakeFirstOrThrow()
    ).status;

  it('one-click POST (urlencoded) unsubscribes at once: 200, no redirect, no cookie needed', async () => {
    const url = unsubscribeUrl('one@people.example');
    const response = await t.app.inject({
      method: 'POST',
      url: url.pathname,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers.location).toBeUndefined();
    expect(await status('one@people.example')).toBe('unsubscribed');
    const report = await t.services.mailings.mailingReport(mailingId);
    expect(report.unsubscribed).toBe(1);
  });

  it('one-click POST as multipart/form-data works too', async () => {
    const url = unsubscribeUrl('two@people.example');
    const boundary = 'XyZboundary';
    const response = await t.app.inject({
      method: 'POST',
      url: url.pathname,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`,
    });
    expect(response.statusCode).toBe(200);
    expect(await status('two@people.example')).toBe('unsubscribed');
  });

  it('a GET shows the preference page and never unsubscribes by itself; leaving one list keeps the rest', async () => {
    const url = unsubscribeUrl('three@people.example');
    const page = await t.app.inject({ method: 'GET', url: url.pathname });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Unsubscribe from all email');
    expect(page.body).toContain('Leave “Alerts”');
    expect(await status('three@people.example')).toBe('subscribed');
    const listId = /name="listId" value="([^"]+)"[\s\S]*?<span>Alerts<\/span>/.exec(page.body)![1]!;
    const leave = await t.app.inject({
      method: 'POST',
      url: url.pathname,
      payload: { action: 'list', listId },
    });
    expect(leave.statusCode).toBe(200);
    expect(await status('three@people.example')).toBe('subscribed');
    const lists = await t.ctx.db
      .selectFrom('list_members')
      .innerJoin('lists', 'lists.id', 'list_members.list_id')
      .select('lists.name')
      .where('list_members.person_id', '=', ids.get('three@people.example')!)
      .execute();
    expect(lists.map((l) => l.name)).toEqual(['Weekly']);
    const all = await t.app.inject({ method: 'POST', url: url.pathname, payload: { action: 'all' } });
    expect(all.statusCode).toBe(200);
    expect(await status('three@people.example')).toBe('unsubscribed');
  });

  it('forged or tampered tokens fail and change nothing', async () => {
    const url = unsubscribeUrl('four@people.example');
    const otherPerson = url.pathname.replace(
      ids.get('four@people.example')!,
      ids.get('five@people.example')!,
    );
    // The signature's last two characters changed (to 'AA', or to 'BB' if they were 'AA').
    const tampered = url.pathname.slice(0, -2) + (url.pathname.endsWith('AA') ? 'BB' : 'AA');
    for (const path of [otherPerson, tampered]) {
      expect((await t.app.inject({ method: 'POST', url: path, payload: {} })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
    }
    expect(await status('four@people.example')).toBe('subscribed');
    expect(await status('five@people.example')).toBe('subscribed');
  });

  it('click redirects go only to signed destinations; the open pixel records an open', async () => {
    const message = byEmail.get('six@people.example')!;
    const href = /href="(https:\/\/act\.example\/m\/c\/[^"]+)"/
      .exec(message.html)![1]!
      .replace(/&amp;/g, '&');
    const url = new URL(href);
    const click = await t.app.inject({ method: 'GET', url: url.pathname + url.search });
    expect(click.statusCode).toBe(302);
    expect(click.headers.location).toBe('https://example.org/report');
    const evil = await t.app.inject({
      method: 'GET',
      url: `${url.pathname}?u=${encodeURIComponent('https://evil.example/')}`,
    });
    expect(evil.statusCode).toBe(404);
    expect(evil.headers.location).toBeUndefined();

    const src = /src="(https:\/\/act\.example\/m\/o\/[^"]+)"/.exec(message.html)![1]!;
    const open = await t.app.inject({ method: 'GET', url: new URL(src).pathname });
    expect(open.statusCode).toBe(200);
    expect(open.headers['content-type']).toBe('image/gif');
    const forgedOpen = await t.app.inject({
      method: 'GET',
      url: new URL(src).pathname.replace(/.{6}\.gif$/, 'AAAAAA.gif'),
    });
    expect(forgedOpen.statusCode).toBe(200);
    const report = await t.services.mailings.mailingReport(mailingId);
    expect(report.clicked).toBe(1);
    expect(report.opened).toBe(1);
  });

  it('the webhook takes our JSON and Amazon SES (SNS) notifications; hard bounces and complaints suppress', async () => {
    const denied = await t.app.inject({
      method: 'POST',
      url: '/webhooks/mail?secret=wrong',
      payload: { type: 'bounce', email: 'x@y.example' },
    });
    expect(denied.statusCode).toBe(401);
    const own = await t.app.inject({
      method: 'POST',
      url: '/webhooks/mail?secret=hook-secret',
      payload: {
        events: [
          { type: 'bounce', bounceType: 'hard', email: 'seven@people.example', reason: '550 5.1.1 unknown' },
          { type: 'bounce', bounceType: 'soft', email: 'five@people.example', reason: 'mailbox full' },
        ],
      },
    });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toEqual({ received: 2, matched: 2 });
    expect(await status('seven@people.example')).toBe('bouncing');
    expect(await status('five@people.example')).toBe('subscribed');

    const sesMessage = {
      notificationType: 'Complaint',
      complaint: {
        complainedRecipients: [{ emailAddress: 'eight@people.example' }],
        complaintFeedbackType: 'abuse',
      },
      mail: {
        messageId: 'ses-id',
        headers: [
          { name: 'Message-ID', value: rawHeader(byEmail.get('eight@people.example')!, 'Message-ID') },
        ],
      },
    };
    const ses = await t.app.inject({
      method: 'POST',
      url: '/webhooks/mail?secret=hook-secret',
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      payload: JSON.stringify({
        Type: 'Notification',
        MessageId: 'sns-1',
        Message: JSON.stringify(sesMessage),
      }),
    });
    expect(ses.statusCode).toBe(200);
    expect(ses.json()).toEqual({ received: 1, matched: 1 });
    expect(await status('eight@people.example')).toBe('complained');
    const suppressed = await t.ctx.db
      .selectFrom('suppressions')
      .select(['address', 'reason'])
      .orderBy('address')
      .execute();
    expect(suppressed).toEqual([
      { address: 'eight@people.example', reason: 'complaint' },
      { address: 'seven@people.example', reason: 'bounce' },
    ]);
    const report = await t.services.mailings.mailingReport(mailingId);
    expect(report.complained).toBe(1);
    expect(report.bounced).toBe(1);
  });

  it('a DSN (RFC 3464) arriving at the VERP return path suppresses a hard bounce', async () => {
    const original = byEmail.get('four@people.example')!;
    const returnPath = original.envelopeFrom;
    expect(returnPath).toMatch(/^b-.+@bounces\.act\.example$/);
    const boundary = 'dsnBoundary42';
    const dsn = [
      'From: MAILER-DAEMON@mx.people.example',
      `To: ${returnPath}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      'The mail system could not deliver your message.',
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.people.example',
      '',
      'Final-Recipient: rfc822; four@people.example',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 <four@people.example>: Recipient address rejected',
      '',
      `--${boundary}`,
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: ${rawHeader(original, 'Message-ID')}`,
      'Subject: Hello four',
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const client = nodemailer.createTransport({
      host: '127.0.0.1',
      port: inbound.port,
      secure: false,
      ignoreTLS: true,
    });
    await client.sendMail({ envelope: { from: '', to: returnPath }, raw: dsn });
    client.close();
    expect(await status('four@people.example')).toBe('bouncing');
    const row = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select('state')
      .where('mailing_id', '=', mailingId)
      .where('person_id', '=', ids.get('four@people.example')!)
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('bounced');
    // Anything not addressed to a signed return path is refused (no open relay, no guessing).
    const stranger = nodemailer.createTransport({
      host: '127.0.0.1',
      port: inbound.port,
      secure: false,
      ignoreTLS: true,
    });
    await expect(
      stranger.sendMail({ envelope: { from: '', to: 'b-aaaa@bounces.act.example' }, raw: dsn }),
    ).rejects.toThrow();
    stranger.close();
  });

  it('an email to the List-Unsubscribe mailto address unsubscribes; an ARF feedback report is a complaint', async () => {
    const message = byEmail.get('six@people.example')!;
    const mailto = /<mailto:([^?>]+)\?subject=unsubscribe>/.exec(rawHeader(message, 'List-Unsubscribe'))![1]!;
    const client = nodemailer.createTransport({
      host: '127.0.0.1',
      port: inbound.port,
      secure: false,
      ignoreTLS: true,
    });
    await client.sendMail({ from: 'six@people.example', to: mailto, subject: 'unsubscribe', text: '' });
    expect(await status('six@people.example')).toBe('unsubscribed');

    const five = byEmail.get('five@people.example')!;
    const boundary = 'arfBoundary';
    const arf = [
      'From: fbl@mailbox.example',
      `To: ${five.envelopeFrom}`,
      'Subject: FW: complaint',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=feedback-report; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      'This is an email abuse report.',
      `--${boundary}`,
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'User-Agent: Mailbox-FBL/1.0',
      'Version: 1',
      'Original-Rcpt-To: five@people.example',
      '',
      `--${boundary}`,
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: ${rawHeader(five, 'Message-ID')}`,
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    await client.sendMail({ envelope: { from: '', to: five.envelopeFrom }, raw: arf });
    client.close();
    expect(await status('five@people.example')).toBe('complained');
  });

  it("reports activity per hour and writes unsubscribes and bounces on the person's timeline", async () => {
    const report = await t.services.mailings.mailingReport(mailingId);
    const total = (key: 'sent' | 'open' | 'click' | 'unsubscribe' | 'bounce' | 'complaint') =>
      report.hourly.reduce((sum, h) => sum + h[key], 0);
    expect(total('sent')).toBe(8);
    expect(total('click')).toBe(1);
    expect(total('unsubscribe')).toBeGreaterThanOrEqual(3);
    expect(report.hourly[0]!.hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}$/);
    const one = await t.services.people.getPerson(ids.get('one@people.example')!);
    expect(one.activity.map((a) => a.kind)).toContain('email.unsubscribe');
    const seven = await t.services.people.getPerson(ids.get('seven@people.example')!);
    expect(seven.activity.map((a) => a.kind)).toContain('email.bounce');
  });

  it('shows the preference page in Spanish to a Spanish speaker', async () => {
    await addPeople(t.services, [
      {
        email: 'sofia@personas.example',
        givenName: 'Sofía',
        language: 'es',
        lists: ['Semanal'],
        subscribe: true,
      },
    ]);
    const id = await t.services.mailings.createMailing({
      fromName: 'Act',
      fromAddress: 'news@act.example',
      subject: 'Hola {{ given_name }}',
      body: 'Hola',
      format: 'markdown',
      audience: { lists: ['Semanal'] },
    });
    await t.services.mailings.startSending(id);
    await t.ctx.jobs.drain();
    const message = await smtp.waitFor((m) => m.envelopeTo.includes('sofia@personas.example'));
    const url = new URL(/^<([^>]+)>/.exec(rawHeader(message, 'List-Unsubscribe'))![1]!);
    const page = await t.app.inject({ method: 'GET', url: url.pathname });
    expect(page.body).toContain('<html lang="es">');
    expect(page.body).toContain('Darme de baja de todos los correos');
    const done = await t.app.inject({ method: 'POST', url: url.pathname, payload: { action: 'all' } });
    expect(done.body).toContain('Te has dado de baja');
    expect(await status('sofia@personas.example')).toBe('unsubscribed');
  });
});
