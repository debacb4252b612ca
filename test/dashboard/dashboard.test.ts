import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.ts';
import { fillDays } from '../../src/dashboard/service.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import { addPeople, openPetition, sign } from '../mail/fixtures.ts';

type T = TestRuntime & { app: FastifyInstance };

describe('fillDays', () => {
  it('lists every day of the window with zeros where nothing happened', () => {
    const days = fillDays(
      [{ day: '2026-11-24', total: 3 }],
      new Date('2026-11-22T00:00:00Z'),
      new Date('2026-11-25T10:00:00Z'),
    );
    expect(days).toEqual([
      { day: '2026-11-22', total: 0 },
      { day: '2026-11-23', total: 0 },
      { day: '2026-11-24', total: 3 },
      { day: '2026-11-25', total: 0 },
    ]);
  });
});

describe('organisation dashboard', () => {
  let smtp: SmtpSink;
  let t: T;
  let mailingId: string;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({ SMTP_URL: smtp.url });
    const ids = await addPeople(
      t.services,
      ['ana', 'ben', 'cy'].map((name) => ({
        email: `${name}@dash.example`,
        givenName: name,
        subscribe: true,
      })),
    );
    const river = await openPetition(t.services, 'Save the river');
    const park = await openPetition(t.services, 'Keep the park');
    mailingId = await t.services.mailings.createMailing({
      fromName: 'Act',
      fromAddress: 'news@act.example',
      subject: 'Sign for the river',
      body: 'Please [sign](https://example.org/sign).',
      format: 'markdown',
      audience: {},
      petitionId: river.id,
    });
    await t.services.mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    const ana = ids.get('ana@dash.example')!;
    const link = t.services.mailings.tokens.sign('click', mailingId, ana, 'https://example.org/sign');
    await t.services.mailings.recordClick(mailingId, ana, link, 'https://example.org/sign');
    await sign(t.services, river.slug, 'ana@dash.example', { source: `m.${mailingId}.A` });
    await sign(t.services, river.slug, 'dee@dash.example', { source: 'partner-site' });
    await sign(t.services, river.slug, 'eli@dash.example', { source: 'partner-site' });
    await sign(t.services, park.slug, 'ben@dash.example');
    await t.services.events.createEvent({
      title: 'Meeting',
      startsLocal: new Date(Date.now() + 3 * 24 * 3600_000).toISOString().slice(0, 16),
      endsLocal: new Date(Date.now() + 3 * 24 * 3600_000 + 3600_000).toISOString().slice(0, 16),
      timeZone: 'UTC',
      place: 'Hall',
    });
  });
  afterAll(async () => {
    t.services.mailings.close();
    t.services.mail.close();
    await t.close();
    await smtp.close();
  });

  it('counts supporters, signatures, petitions, sources and the mailing funnel', async () => {
    const d = await t.services.dashboard.getDashboard();
    const today = new Date().toISOString().slice(0, 10);
    expect(d.supporters.total).toBe(5); // ana, ben, cy + dee, eli who signed
    expect(d.supporters.newThisWeek).toBe(5);
    expect(d.supporters.newPerDay).toHaveLength(30);
    expect(d.supporters.newPerDay.at(-1)).toEqual({ day: today, total: 5 });
    expect(d.supporters.runningTotal.at(-1)).toEqual({ day: today, total: 5 });
    expect(d.supporters.runningTotal[0]!.total).toBe(0);
    expect(d.signaturesPerDay.at(-1)).toEqual({ day: today, total: 4 });
    expect(d.signaturesTotal).toBe(4);
    expect(d.topPetitions.map((p) => [p.title, p.total])).toEqual([
      ['Save the river', 3],
      ['Keep the park', 1],
    ]);
    expect(d.topSources[0]).toEqual({ source: 'partner-site', total: 2 });
    // Sources are those of the period shown: a signature older than the window is left out.
    await t.ctx.db
      .updateTable('signatures')
      .set({ created_at: '2020-01-01T00:00:00.000Z' })
      .where('source', '=', 'partner-site')
      .execute();
    const recent = await t.services.dashboard.getDashboard();
    expect(recent.topSources.map((s) => s.source)).not.toContain('partner-site');
    // Per-petition totals come from the counters (they do not change with a signature's date).
    expect(recent.signaturesTotal).toBe(4);
    await t.ctx.db
      .updateTable('signatures')
      .set({ created_at: new Date().toISOString() })
      .where('source', '=', 'partner-site')
      .execute();
    expect(d.funnel).toEqual({ mailings: 1, sent: 3, opened: 1, clicked: 1, signed: 1 });
    expect(d.upcomingEvents).toBe(1);
  });

  it('is the admin home: numbers, SVG charts with text alternatives, CSV downloads', async () => {
    const viewer = await signIn(t, 'viewer');
    const home = await t.app.inject({ url: '/admin', headers: { cookie: viewer.cookie } });
    expect(home.statusCode).toBe(200);
    expect(home.body).toContain('<h1>Welcome, Test viewer</h1>');
    expect(home.body).toMatch(/<dt>Supporters<\/dt>\s*<dd>5<\/dd>/);
    expect((home.body.match(/<svg/g) ?? []).length).toBe(6);
    expect(home.body).toContain('aria-labelledby="chart-signatures-title chart-signatures-desc"');
    expect(home.body).toMatch(/<caption>\s*Top petitions\s*<\/caption>/);
    expect(home.body).toContain('href="/admin/dashboard/funnel.csv"');

    const csv = await t.app.inject({
      url: '/admin/dashboard/petitions.csv',
      headers: { cookie: viewer.cookie },
    });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toBe('petition,signatures,confirmed\r\nSave the river,3,3\r\nKeep the park,1,1\r\n');
    const funnel = await t.app.inject({
      url: '/admin/dashboard/funnel.csv',
      headers: { cookie: viewer.cookie },
    });
    expect(funnel.body).toBe('step,people\r\nsent,3\r\nopened,1\r\nclicked,1\r\nsigned,1\r\n');
    expect(
      (await t.app.inject({ url: '/admin/dashboard/nothing.csv', headers: { cookie: viewer.cookie } }))
        .statusCode,
    ).toBe(404);
    expect((await t.app.inject({ url: '/admin/dashboard/petitions.csv' })).statusCode).toBe(303);
  });
});

describe('dashboard with the demo organisation', () => {
  let t: T;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('renders from `undersign demo` data', async () => {
    const summary = await runDemo(t.services, { people: 300, seed: 7 });
    await t.services.petitions.flushPending();
    const d = await t.services.dashboard.getDashboard();
    expect(d.supporters.total).toBe(300);
    expect(d.signaturesTotal).toBe(summary.signatures);
    expect(d.topPetitions.map((p) => p.slug).sort()).toEqual([...summary.petitions].sort());
    expect(d.topSources.some((s) => s.source === 'demo-mailing')).toBe(true);
    // The demo's chapters: local groups filled by postal-code rules, and their events.
    const oakland = d.groups.find((g) => g.name === 'Clean Air Oakland')!;
    expect(oakland.members).toBeGreaterThan(0);
    expect(d.groups.find((g) => g.name === 'Clean Air California')!.members).toBeGreaterThanOrEqual(
      oakland.members,
    );
    expect(d.upcomingEvents).toBe(3);
    const owner = await signIn(t, 'owner');
    const home = await t.app.inject({ url: '/admin', headers: { cookie: owner.cookie } });
    expect(home.statusCode).toBe(200);
    expect(home.body).toContain('Pass SB 54: clean air near every school');
    expect(home.body).toMatch(/<dt>Supporters<\/dt>\s*<dd>300<\/dd>/);
  });
});
