import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailingsService, petitionsForMail } from '../../src/mail/mailings/index.ts';
import { createMailTransport, type MailTransport } from '../../src/mail/index.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../helpers/smtp.ts';
import { addPeople, openPetition, sign } from './fixtures.ts';

const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'der' },
});

function rawHeader(message: ReceivedMessage, name: string): string {
  const unfolded = message.raw.replace(/\r?\n[ \t]+/g, ' ');
  const match = new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(unfolded);
  return match?.[1]?.trim() ?? '';
}

describe('bulk sending through a real SMTP server', () => {
  let smtp: SmtpSink;
  let t: TestRuntime;
  let petition: { id: string; slug: string };
  const base = {
    fromName: 'River Campaign',
    fromAddress: 'news@campaign.example',
    format: 'markdown' as const,
  };

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestRuntime({
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://act.campaign.example',
      ORG_NAME: 'River Campaign',
      ORG_POSTAL_ADDRESS: '1 Main Street, 10115 Berlin',
      MAIL_RATE: '0',
      MAIL_BATCH_SIZE: '3',
      MAIL_CONCURRENCY: '2',
      BOUNCE_DOMAIN: 'bounces.campaign.example',
      DKIM_DOMAIN: 'campaign.example',
      DKIM_SELECTOR: 'mail2026',
      DKIM_PRIVATE_KEY: keys.privateKey,
      SIGN_ALTCHA: 'false',
      SIGN_RATE_IP: '0',
      SIGN_RATE_EMAIL: '0',
    });
    petition = await openPetition(t.services, 'Save the river');
  });
  afterAll(async () => {
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
    await smtp.close();
  });

  const received = (mailingId: string) =>
    smtp.messages.filter((m) => rawHeader(m, 'Message-ID').includes(mailingId));

  it('sends every recipient one personalised, tracked message with the bulk headers, DKIM-signed', async () => {
    const ids = await addPeople(t.services, [
      { email: 'ana@one.example', givenName: 'Ana', tags: ['h1'], subscribe: true },
      { email: 'nameless@one.example', tags: ['h1'], subscribe: true },
      { email: 'ben@two.example', givenName: 'Ben', tags: ['h1'], subscribe: true },
      { email: 'cy@two.example', givenName: 'Cy', tags: ['h1'], subscribe: true },
    ]);
    const mailingId = await t.services.mailings.createMailing({
      ...base,
      subject: '{{ given_name | default: "Friend" }}, the river needs you',
      preheader: 'Two minutes to act',
      body: 'Dear {{ given_name | default: "Friend" }},\n\n[Sign the petition]({{ petition_link }}) or [read more](https://example.org/river?a=1&b=2).',
      audience: { tags: ['h1'] },
      petitionId: petition.id,
    });
    expect(await t.services.mailings.startSending(mailingId)).toBe(4);
    await t.ctx.jobs.drain();

    const messages = received(mailingId);
    expect(messages).toHaveLength(4);
    const ana = messages.find((m) => m.envelopeTo.includes('ana@one.example'))!;
    const nameless = messages.find((m) => m.envelopeTo.includes('nameless@one.example'))!;
    expect(ana.subject).toBe('Ana, the river needs you');
    expect(nameless.subject).toBe('Friend, the river needs you');
    expect(nameless.text).toContain('Dear Friend,');
    expect(ana.html).toContain('Dear Ana,');
    expect(ana.html).toContain('Two minutes to act');
    expect(ana.html).toContain('1 Main Street, 10115 Berlin');

    // Links go through signed click redirects; the petition link carries the recipient's code.
    const anaId = ids.get('ana@one.example')!;
    const clickPrefix = `https://act.campaign.example/m/c/${mailingId}/${anaId}/`;
    const hrefs = [...ana.html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
    const tracked = hrefs
      .filter((h) => h.startsWith(clickPrefix))
      .map((h) => new URL(h).searchParams.get('u'));
    expect(tracked).toContain(
      `https://act.campaign.example/petitions/${petition.slug}?source=${encodeURIComponent(`m.${mailingId}.${anaId}`)}`,
    );
    expect(tracked).toContain('https://example.org/river?a=1&b=2');
    expect(ana.html).toContain(`https://act.campaign.example/m/o/${mailingId}/${anaId}/`);

    // Headers.
    expect(rawHeader(ana, 'Message-ID')).toBe(`<m.${mailingId}.${anaId}@campaign.example>`);
    const listUnsubscribe = rawHeader(ana, 'List-Unsubscribe');
    expect(listUnsubscribe).toMatch(
      new RegExp(
        `^<https://act\\.campaign\\.example/m/u/${mailingId}/${anaId}/[\\w-]{22}>, <mailto:u-[a-z2-7]{58}@bounces\\.campaign\\.example\\?subject=unsubscribe>$`,
      ),
    );
    expect(rawHeader(ana, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(rawHeader(ana, 'List-Id')).toBe('"River Campaign" <river-campaign.mailings.campaign.example>');
    expect(rawHeader(ana, 'Feedback-ID')).toContain(`${mailingId}:mailing:river-campaign`);
    expect(ana.envelopeFrom).toMatch(/^b-[a-z2-7]{58}@bounces\.campaign\.example$/);

    // DKIM verifies against the published key and covers the headers that matter.
    const publicKey = keys.publicKey.toString('base64');
    const result = await dkimVerify(ana.raw, {
      resolver: async (name: string, type: string) => {
        if (type === 'TXT' && name === 'mail2026._domainkey.campaign.example') {
          return [[`v=DKIM1; k=rsa; p=${publicKey}`]];
        }
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    const signature = result.results[0]!;
    expect(signature.status.result).toBe('pass');
    const signed = signature.signingHeaders!.keys.toLowerCase().split(': ').join(':').split(':');
    for (const name of ['from', 'subject', 'list-unsubscribe', 'list-unsubscribe-post'])
      expect(signed).toContain(name);

    // Recorded: everyone sent once, the mailing finished.
    const report = await t.services.mailings.mailingReport(mailingId);
    expect(report.states).toEqual({ sent: 4 });
    expect(report.mailing.status).toBe('sent');
    const stored = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select('message_id')
      .where('mailing_id', '=', mailingId)
      .where('person_id', '=', anaId)
      .executeTakeFirstOrThrow();
    expect(stored.message_id).toBe(rawHeader(ana, 'Message-ID'));
  });

  it('skips whoever signs the petition or unsubscribes while the mailing is going out', async () => {
    const people = Array.from({ length: 9 }, (_, i) => ({
      email: `mid${i}@mid.example`,
      givenName: `Mid${i}`,
      tags: ['mid'],
      subscribe: true,
    }));
    const ids = await addPeople(t.services, people);
    const ordered = [...ids.entries()].sort((a, b) => (a[1] < b[1] ? -1 : 1)).map(([email]) => email);
    const late = ordered.slice(-2); // in the last batch
    let actedAfterFirst = false;
    // A transport that lets the first batch out, then the late recipients act (sign / unsubscribe).
    const real = createMailTransport(t.config, t.ctx.db, { pool: true, maxConnections: 2 });
    const transport: MailTransport = {
      kind: 'smtp',
      async send(message) {
        const result = await real.send(message);
        if (!actedAfterFirst) {
          actedAfterFirst = true;
          await sign(t.services, petition.slug, late[0]!);
          await t.ctx.db
            .updateTable('emails')
            .set({ status: 'unsubscribed' })
            .where('address', '=', late[1]!)
            .execute();
        }
        return result;
      },
      close: () => real.close(),
    };
    const mailings = createMailingsService(t.ctx, {
      petitions: petitionsForMail(t.services.petitions, t.config.publicUrl),
      transport,
    });
    const mailingId = await mailings.createMailing({
      ...base,
      subject: 'Sign today',
      body: 'Please [sign]({{ petition_link }})',
      audience: { tags: ['mid'] },
      petitionId: petition.id,
    });
    await mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    mailings.close();
    t.services.mailings.registerJobs();
    const to = received(mailingId).flatMap((m) => m.envelopeTo);
    expect(to).toHaveLength(7);
    for (const email of late) expect(to).not.toContain(email);
    const rows = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select(['email', 'state', 'last_error'])
      .where('mailing_id', '=', mailingId)
      .where('state', '=', 'skipped')
      .orderBy('email')
      .execute();
    expect(rows.map((r) => [r.email, r.last_error]).sort()).toEqual(
      [
        [late[0], 'signed the petition'],
        [late[1], 'no longer subscribed'],
      ].sort(),
    );
  });

  it('classifies SMTP answers: 5xx suppresses, 4xx retries later, 5.7.x pauses the domain only', async () => {
    const ids = await addPeople(t.services, [
      { email: 'gone@hard.example', tags: ['cls'], subscribe: true },
      { email: 'busy@soft.example', tags: ['cls'], subscribe: true },
      { email: 'someone@strict.example', tags: ['cls'], subscribe: true },
      { email: 'fine@ok.example', tags: ['cls'], subscribe: true },
    ]);
    smtp.rejectRecipients((address) => {
      if (address === 'gone@hard.example') return { code: 550, message: '5.1.1 No such user' };
      if (address === 'busy@soft.example') return { code: 451, message: '4.3.0 Try again later' };
      if (address === 'someone@strict.example') return { code: 550, message: '5.7.1 Rejected by policy' };
      return null;
    });
    const mailingId = await t.services.mailings.createMailing({
      ...base,
      subject: 'Classification',
      body: 'Hello',
      audience: { tags: ['cls'] },
    });
    await t.services.mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    const state = async (email: string) =>
      t.ctx.db
        .selectFrom('mailing_recipients')
        .select(['state', 'next_attempt_at', 'attempts'])
        .where('mailing_id', '=', mailingId)
        .where('person_id', '=', ids.get(email)!)
        .executeTakeFirstOrThrow();
    expect((await state('fine@ok.example')).state).toBe('sent');
    expect((await state('gone@hard.example')).state).toBe('bounced');
    const soft = await state('busy@soft.example');
    expect(soft.state).toBe('queued');
    expect(soft.next_attempt_at! > new Date().toISOString()).toBe(true);
    const strict = await state('someone@strict.example');
    expect(strict.state).toBe('queued');
    const suppressions = await t.ctx.db.selectFrom('suppressions').select('address').execute();
    expect(suppressions.map((s) => s.address)).toContain('gone@hard.example');
    expect(suppressions.map((s) => s.address)).not.toContain('someone@strict.example');
    expect(suppressions.map((s) => s.address)).not.toContain('busy@soft.example');
    const emails = await t.ctx.db
      .selectFrom('emails')
      .select(['address', 'status'])
      .where('address', 'in', ['gone@hard.example', 'someone@strict.example'])
      .orderBy('address')
      .execute();
    expect(emails).toEqual([
      { address: 'gone@hard.example', status: 'bouncing' },
      { address: 'someone@strict.example', status: 'subscribed' },
    ]);
    const throttle = await t.ctx.db.selectFrom('mail_domain_throttles').selectAll().executeTakeFirstOrThrow();
    expect(throttle.domain).toBe('strict.example');
    expect((await t.services.mailings.getMailing(mailingId)).status).toBe('sending');

    // The receiving side recovers; time passes (retry times are moved to now): nobody was dropped.
    smtp.rejectRecipients(null);
    const past = new Date(Date.now() - 1000).toISOString();
    await t.ctx.db
      .updateTable('mailing_recipients')
      .set({ next_attempt_at: past })
      .where('mailing_id', '=', mailingId)
      .execute();
    await t.ctx.db.updateTable('mail_domain_throttles').set({ paused_until: past }).execute();
    await t.ctx.jobs.makeDue('mail.bulk');
    await t.ctx.jobs.drain();
    expect((await state('busy@soft.example')).state).toBe('sent');
    expect((await state('someone@strict.example')).state).toBe('sent');
    expect((await t.services.mailings.getMailing(mailingId)).status).toBe('sent');
  });

  it('resumes after a crash mid-send: nobody skipped, duplicates at most the messages in flight', async () => {
    const people = Array.from({ length: 12 }, (_, i) => ({
      email: `crash${i}@crash.example`,
      tags: ['crash'],
      subscribe: true,
    }));
    await addPeople(t.services, people);
    const real = createMailTransport(t.config, t.ctx.db, { pool: true, maxConnections: 2 });
    let accepted = 0;
    // The first runner's process "dies" after 5 messages: the 6th reaches the server but the runner
    // never learns it (in flight), and it never marks anything again.
    const dying: MailTransport = {
      kind: 'smtp',
      async send(message) {
        const result = await real.send(message);
        accepted++;
        if (accepted > 5) await new Promise(() => {});
        return result;
      },
      close: () => real.close(),
    };
    const petitions = petitionsForMail(t.services.petitions, t.config.publicUrl);
    const first = createMailingsService(t.ctx, { petitions, transport: dying });
    const mailingId = await first.createMailing({
      ...base,
      subject: 'Crash test',
      body: 'Hi',
      audience: { tags: ['crash'] },
    });
    await first.startSending(mailingId);
    void first.sender.runJob(mailingId).catch((error: unknown) => console.error('first runner', error));
    await smtp.waitFor(() => received(mailingId).length >= 6);
    const sentCount = async () =>
      (
        await t.ctx.db
          .selectFrom('mailing_recipients')
          .select('state')
          .where('mailing_id', '=', mailingId)
          .where('state', '=', 'sent')
          .execute()
      ).length;
    // The five acknowledged messages are marked; the ones in flight never will be.
    await expect.poll(sentCount).toBe(5);
    const inFlight = received(mailingId).length - 5;
    expect(inFlight).toBeGreaterThanOrEqual(1);

    // A new runner starts; the dead one's lease on its sender slot and its claims have run out.
    const second = createMailingsService(t.ctx, { petitions });
    const past = new Date(Date.now() - 1000).toISOString();
    await t.ctx.db
      .updateTable('mailing_senders')
      .set({ lease_until: past })
      .where('mailing_id', '=', mailingId)
      .execute();
    await t.ctx.db
      .updateTable('mailing_recipients')
      .set({ claimed_until: past })
      .where('mailing_id', '=', mailingId)
      .where('claimed_until', 'is not', null)
      .execute();
    await t.ctx.jobs.drain();
    second.close();

    const to = received(mailingId).flatMap((m) => m.envelopeTo);
    for (const person of people) expect(to).toContain(person.email);
    // Sent twice: exactly the messages in flight at the crash (at most one per worker: 3 × 2 connections).
    expect(to.length - people.length).toBe(inFlight);
    expect(inFlight).toBeLessThanOrEqual(6);
    const report = await second.mailingReport(mailingId);
    expect(report.states).toEqual({ sent: 12 });
    expect(report.mailing.status).toBe('sent');
    // Re-registered handlers belong to the second runner; put the app's back.
    t.services.mailings.registerJobs();
  });

  it('pauses itself while the SMTP server is down and resumes without losing anyone', async () => {
    const down = await startSmtpSink();
    const port = down.port;
    await down.close();
    const people = Array.from({ length: 5 }, (_, i) => ({
      email: `outage${i}@outage.example`,
      tags: ['outage'],
      subscribe: true,
    }));
    await addPeople(t.services, people);
    const transport = createMailTransport({ ...t.config, smtpUrl: `smtp://127.0.0.1:${port}` }, t.ctx.db, {
      pool: true,
      maxConnections: 2,
    });
    const mailings = createMailingsService(t.ctx, {
      petitions: petitionsForMail(t.services.petitions, t.config.publicUrl),
      transport,
    });
    const mailingId = await mailings.createMailing({
      ...base,
      subject: 'Outage',
      body: 'Hi',
      audience: { tags: ['outage'] },
    });
    await mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    let mailing = await mailings.getMailing(mailingId);
    expect(mailing.status).toBe('paused');
    expect(mailing.pause_reason).toBe('smtp_unavailable');
    expect((await mailings.mailingReport(mailingId)).states).toEqual({ queued: 5 });

    const back = await startSmtpSink({ port });
    try {
      // The automatic resume job is due (time moved forward).
      await t.ctx.jobs.makeDue('mail.bulk');
      await t.ctx.jobs.drain();
      mailing = await mailings.getMailing(mailingId);
      expect(mailing.status).toBe('sent');
      expect(back.messages.flatMap((m) => m.envelopeTo).sort()).toEqual(people.map((p) => p.email).sort());
    } finally {
      mailings.close();
      await back.close();
      t.services.mailings.registerJobs();
    }
  });

  it('sends transactional mail before bulk, and starts a scheduled mailing when it is due', async () => {
    await addPeople(
      t.services,
      Array.from({ length: 3 }, (_, i) => ({
        email: `prio${i}@prio.example`,
        tags: ['prio'],
        subscribe: true,
      })),
    );
    const mailingId = await t.services.mailings.createMailing({
      ...base,
      subject: 'Scheduled',
      body: 'Hi',
      audience: { tags: ['prio'] },
    });
    await t.services.mailings.scheduleMailing(mailingId, new Date(Date.now() + 3_600_000));
    expect(await t.ctx.jobs.drain()).toBe(0);
    expect((await t.services.mailings.getMailing(mailingId)).status).toBe('scheduled');
    // The hour passes.
    const past = new Date(Date.now() - 1000).toISOString();
    await t.ctx.db.updateTable('mailings').set({ scheduled_at: past }).where('id', '=', mailingId).execute();
    await t.ctx.jobs.makeDue('mail.start');
    await t.ctx.jobs.drain();
    expect((await t.services.mailings.getMailing(mailingId)).status).toBe('sent');

    // A confirmation queued after a mailing started still goes out before the mailing's messages.
    const second = await t.services.mailings.createMailing({
      ...base,
      subject: 'Bulk after',
      body: 'Hi',
      audience: { tags: ['prio'] },
    });
    await t.services.mailings.startSending(second);
    await t.services.mail.queueTransactional(t.ctx.db, {
      to: 'confirm@prio.example',
      subject: 'Confirm',
      text: 'Confirm please',
      kind: 'test',
    });
    const start = smtp.messages.length;
    await t.ctx.jobs.drain();
    const order = smtp.messages.slice(start).map((m) => m.subject);
    expect(order[0]).toBe('Confirm');
    expect(order.filter((subject) => subject === 'Bulk after')).toHaveLength(3);
  });

  it('stops between messages on shutdown and leaves the rest queued for the next process', async () => {
    const people = Array.from({ length: 8 }, (_, i) => ({
      email: `stop${i}@stop.example`,
      tags: ['stop'],
      subscribe: true,
    }));
    await addPeople(t.services, people);
    const real = createMailTransport(t.config, t.ctx.db, { pool: true, maxConnections: 1 });
    let sent = 0;
    const petitions = petitionsForMail(t.services.petitions, t.config.publicUrl);
    const stopping = createMailingsService(t.ctx, {
      petitions,
      transport: {
        kind: 'smtp',
        async send(message) {
          const result = await real.send(message);
          if (++sent === 2) stopping.stopSending();
          return result;
        },
        close: () => real.close(),
      },
    });
    const mailingId = await stopping.createMailing({
      ...base,
      subject: 'Shutdown',
      body: 'Hi',
      audience: { tags: ['stop'] },
    });
    await stopping.startSending(mailingId);
    await t.ctx.jobs.drain();
    stopping.close();
    const afterStop = await t.services.mailings.mailingReport(mailingId);
    expect(afterStop.states.queued).toBeGreaterThan(0);
    expect(afterStop.mailing.status).toBe('sending');
    // The next process (the app's own sender) picks up the queued follow-up job when it is due.
    t.services.mailings.registerJobs();
    await t.ctx.jobs.makeDue('mail.bulk');
    await t.ctx.jobs.drain();
    const report = await t.services.mailings.mailingReport(mailingId);
    expect(report.states).toEqual({ sent: 8 });
    const to = received(mailingId).flatMap((m) => m.envelopeTo);
    expect(new Set(to).size).toBe(8);
  });
});
