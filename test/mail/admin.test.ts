import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import { addPeople, openPetition, sign } from './fixtures.ts';

const form = (fields: Record<string, string | string[]>) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  return params.toString();
};
const formHeaders = (who: SignedIn) => ({
  cookie: who.cookie,
  'content-type': 'application/x-www-form-urlencoded',
});

describe('mailings admin', () => {
  let smtp: SmtpSink;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let organiser: SignedIn;
  let viewer: SignedIn;
  let petition: { id: string; slug: string };

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({
      SMTP_URL: smtp.url,
      MAIL_RATE: '0',
      SIGN_ALTCHA: 'false',
      SIGN_RATE_IP: '0',
      SIGN_RATE_EMAIL: '0',
    });
    organiser = await signIn(t, 'organiser');
    viewer = await signIn(t, 'viewer');
    petition = await openPetition(t.services, 'Clean air now');
    await addPeople(
      t.services,
      Array.from({ length: 32 }, (_, i) => ({
        email: `p${i}@admin-test.example`,
        givenName: `Person${i}`,
        tags: i % 2 === 0 ? ['even'] : ['odd'],
        subscribe: true,
      })),
    );
  });
  afterAll(async () => {
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
    await smtp.close();
  });

  const compose = (extra: Record<string, string | string[]> = {}) =>
    form({
      _csrf: organiser.csrf,
      from_name: 'Clean Air',
      from_address: 'news@cleanair.example',
      subject: 'Breathe, {{ given_name | default: "Friend" }}',
      body: 'Hello {{ given_name }}, [sign here]({{ petition_link }}).',
      format: 'markdown',
      tracking: 'yes',
      petition_id: petition.id,
      ...extra,
    });

  async function create(extra: Record<string, string | string[]> = {}): Promise<string> {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/mailings',
      headers: formHeaders(organiser),
      payload: compose(extra),
    });
    expect(response.statusCode).toBe(303);
    return /\/admin\/mailings\/([^?]+)/.exec(response.headers.location as string)![1]!;
  }

  it('lets organisers compose (viewers only read), with a live exact audience count', async () => {
    const denied = await t.app.inject({
      method: 'POST',
      url: '/admin/mailings',
      headers: formHeaders(viewer),
      payload: compose({ _csrf: viewer.csrf }),
    });
    expect(denied.statusCode).toBe(403);
    const newPage = await t.app.inject({
      method: 'GET',
      url: '/admin/mailings/new',
      headers: { cookie: organiser.cookie },
    });
    expect(newPage.statusCode).toBe(200);
    expect(newPage.body).toContain('<label for="aud_tags">');
    const count = await t.app.inject({
      method: 'GET',
      url: '/admin/mailings/audience-count?aud_tags=even',
      headers: { cookie: organiser.cookie, accept: 'application/json' },
    });
    expect(count.json()).toEqual({ count: 16 });

    const id = await create({ aud_tags: 'even' });
    const detail = await t.app.inject({
      method: 'GET',
      url: `/admin/mailings/${id}`,
      headers: { cookie: viewer.cookie },
    });
    expect(detail.statusCode).toBe(200);
    expect(detail.body).toContain('Tagged: even');
    expect(detail.body).not.toContain('Send test'); // viewers see no actions
    const list = await t.app.inject({
      method: 'GET',
      url: '/admin/mailings',
      headers: { cookie: viewer.cookie },
    });
    expect(list.body).toContain('Breathe, {{ given_name | default: &quot;Friend&quot; }}');
  });

  it('rejects an unknown merge tag with a readable message', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/mailings',
      headers: formHeaders(organiser),
      payload: compose({ body: 'Hi {{ nickname }}' }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Unknown merge tag');
  });

  it('previews as a chosen person and sends a test to any address', async () => {
    const id = await create({ aud_tags: 'odd' });
    const preview = await t.app.inject({
      method: 'GET',
      url: `/admin/mailings/${id}/preview?as=p3@admin-test.example`,
      headers: { cookie: organiser.cookie },
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.body).toContain('Breathe, Person3');
    const frame = /<iframe\s+src="([^"]+)"/.exec(preview.body)![1]!.replace(/&amp;/g, '&');
    const html = await t.app.inject({ method: 'GET', url: frame });
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain('Hello Person3');
    expect(html.headers['content-security-policy']).toContain("frame-ancestors 'self'");
    const forged = await t.app.inject({
      method: 'GET',
      url: frame.replace(/t=[^&]+/, 't=AAAAAAAAAAAAAAAAAAAAAA'),
    });
    expect(forged.statusCode).toBe(404);

    const test = await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${id}/test`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf, to: 'checker@elsewhere.example', as: 'p5@admin-test.example' }),
    });
    expect(test.statusCode).toBe(303);
    const message = await smtp.waitFor((m) => m.envelopeTo.includes('checker@elsewhere.example'));
    expect(message.subject).toBe('[Test] Breathe, Person5');
    expect(message.raw).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    // A test records nothing.
    expect((await t.services.mailings.getMailing(id)).status).toBe('draft');
  });

  it('schedules, cancels, sends now, pauses and resumes', async () => {
    const id = await create({ aud_tags: 'odd' });
    const later = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16);
    const scheduled = await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${id}/schedule`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf, at: later }),
    });
    expect(scheduled.statusCode).toBe(303);
    expect((await t.services.mailings.getMailing(id)).status).toBe('scheduled');
    expect(await t.ctx.jobs.drain()).toBe(0); // not due yet
    const cancel = await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${id}/cancel`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf }),
    });
    expect(cancel.statusCode).toBe(303);
    expect((await t.services.mailings.getMailing(id)).status).toBe('cancelled');

    const now = await create({ aud_tags: 'odd' });
    await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${now}/schedule`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf, when: 'now' }),
    });
    expect((await t.services.mailings.getMailing(now)).status).toBe('sending');
    await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${now}/pause`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf }),
    });
    await t.ctx.jobs.drain();
    expect((await t.services.mailings.mailingReport(now)).states).toEqual({ queued: 16 });
    await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${now}/resume`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf }),
    });
    await t.ctx.jobs.drain();
    const report = await t.services.mailings.mailingReport(now);
    expect(report.states).toEqual({ sent: 16 });
    expect(report.mailing.status).toBe('sent');
  });

  it('A/B test: splits the test share, reports signatures per variant, sends the winner to the rest', async () => {
    const id = await create({
      aud_tags: 'even',
      subject_b: 'Variant B for {{ given_name }}',
      ab_test_percent: '50',
    });
    await t.services.mailings.startSending(id);
    await t.ctx.jobs.drain();
    let report = await t.services.mailings.mailingReport(id);
    expect(report.mailing.status).toBe('paused');
    const held = report.states.held ?? 0;
    const sent = report.states.sent ?? 0;
    expect(held + sent).toBe(16);
    expect(held).toBeGreaterThan(0);
    // One B recipient signs through the link in the message: a signature "from this mailing".
    const bRow = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select(['person_id', 'email'])
      .where('mailing_id', '=', id)
      .where('variant', '=', 'B')
      .where('state', '=', 'sent')
      .executeTakeFirstOrThrow();
    await sign(t.services, petition.slug, bRow.email, { source: `m.${id}.${bRow.person_id}` });
    report = await t.services.mailings.mailingReport(id);
    expect(report.signatures).toBe(1);
    expect(report.winner).toEqual({ variant: 'B', by: 'signatures' });
    // The signature also shows in the report over time, in the hour it was made.
    const thisHour = new Date().toISOString().slice(0, 13);
    expect(report.hourly.find((h) => h.hour === thisHour)?.signatures).toBe(1);
    const reportPage = await t.app.inject({
      method: 'GET',
      url: `/admin/mailings/${id}`,
      headers: { cookie: organiser.cookie },
    });
    expect(reportPage.body).toContain('<th scope="col">Signatures</th>');
    // One held-back person signs before the rest goes out: they are skipped (action-aware).
    const heldRow = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select(['email'])
      .where('mailing_id', '=', id)
      .where('state', '=', 'held')
      .executeTakeFirstOrThrow();
    await sign(t.services, petition.slug, heldRow.email);
    const page = await t.app.inject({
      method: 'GET',
      url: `/admin/mailings/${id}`,
      headers: { cookie: organiser.cookie },
    });
    expect(page.body).toContain('Send B to the remaining');

    const winner = await t.app.inject({
      method: 'POST',
      url: `/admin/mailings/${id}/winner`,
      headers: formHeaders(organiser),
      payload: form({ _csrf: organiser.csrf, variant: 'B' }),
    });
    expect(winner.statusCode).toBe(303);
    await t.ctx.jobs.drain();
    report = await t.services.mailings.mailingReport(id);
    expect(report.mailing.status).toBe('sent');
    expect(report.states.held).toBeUndefined();
    const rest = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select('variant')
      .where('mailing_id', '=', id)
      .where('state', '=', 'sent')
      .execute();
    expect(rest.length).toBe(15); // the held signer is skipped: action-aware
    const subjects = smtp.messages.filter((m) => m.raw.includes(`m.${id}.`)).map((m) => m.subject);
    expect(subjects.filter((s) => s.startsWith('Variant B')).length).toBeGreaterThanOrEqual(held - 1);
  });
});

describe('local outbox (no SMTP_URL)', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    t.services.mailings.close();
    await t.services.petitions.close();
    await t.close();
  });

  it('keeps bulk messages in the outbox, visible to organisers', async () => {
    const organiser = await signIn(t, 'organiser');
    await addPeople(t.services, [{ email: 'local@outbox.example', givenName: 'Lo', subscribe: true }]);
    const id = await t.services.mailings.createMailing({
      fromName: 'Local',
      fromAddress: 'news@local.example',
      subject: 'Local hello',
      body: 'Hi {{ given_name }}',
      format: 'markdown',
    });
    await t.services.mailings.startSending(id);
    await t.ctx.jobs.drain();
    const page = await t.app.inject({
      method: 'GET',
      url: '/admin/outbox',
      headers: { cookie: organiser.cookie },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('local@outbox.example');
    expect(page.body).toContain('Local hello');
    const link = /href="(\/admin\/outbox\/[^"]+)"/.exec(page.body)![1]!;
    const message = await t.app.inject({ method: 'GET', url: link, headers: { cookie: organiser.cookie } });
    expect(message.body).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  });
});
