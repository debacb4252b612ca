import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.ts';
import { createDashboardService, fillDays } from '../../src/dashboard/service.ts';
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

describe('stored numbers (mailings funnel, group members)', () => {
  let smtp: SmtpSink;
  let t: T;
  let ids: Map<string, string>;
  let groupId: string;
  const stored = () =>
    t.ctx.db
      .selectFrom('dashboard_numbers')
      .selectAll()
      .where('name', '=', 'organisation')
      .executeTakeFirst();
  const age = (ms: number) =>
    t.ctx.db
      .updateTable('dashboard_numbers')
      .set({ computed_at: new Date(Date.now() - ms).toISOString() })
      .execute();
  async function sendMailing(subject: string): Promise<string> {
    const id = await t.services.mailings.createMailing({
      fromName: 'Act',
      fromAddress: 'news@act.example',
      subject,
      body: 'Hello.',
      format: 'markdown',
      audience: {},
    });
    await t.services.mailings.startSending(id);
    await t.ctx.jobs.drain();
    return id;
  }

  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({ SMTP_URL: smtp.url });
    ids = await addPeople(
      t.services,
      ['ana', 'ben', 'cy'].map((name) => ({
        email: `${name}@kept.example`,
        givenName: name,
        subscribe: true,
      })),
    );
    groupId = (await t.services.groups.createGroup({ name: 'Riverside', level: 'local' })).id;
    await t.services.groups.addMember(groupId, ids.get('ana@kept.example')!);
  });
  afterAll(async () => {
    await t.services.dashboard.settled();
    t.services.mailings.close();
    t.services.mail.close();
    await t.close();
    await smtp.close();
  });

  it('computes them on the first view ever, then serves the kept ones until they are counted again', async () => {
    expect(await stored()).toBeUndefined();
    const first = await t.services.dashboard.getDashboard();
    expect(first.funnel).toEqual({ mailings: 0, sent: 0, opened: 0, clicked: 0, signed: 0 });
    expect(first.groups.find((g) => g.id === groupId)?.members).toBe(1);
    const row = (await stored())!;
    expect(row.computed_at).toBe(first.storedAt);
    expect(JSON.parse(row.numbers).groups).toEqual(first.groups);

    // Mail goes out and someone joins: the page still shows the kept numbers (and when they were
    // counted), while the numbers read on each view move.
    const mailingId = await sendMailing('First news');
    await t.services.groups.addMember(groupId, ids.get('ben@kept.example')!);
    await sign(t.services, (await openPetition(t.services, 'Kept river')).slug, 'cy@kept.example', {
      source: `m.${mailingId}.A`,
    });
    const kept = await t.services.dashboard.getDashboard();
    expect(kept.storedAt).toBe(first.storedAt);
    expect(kept.funnel.mailings).toBe(0);
    expect(kept.groups.find((g) => g.id === groupId)?.members).toBe(1);
    expect(kept.signaturesTotal).toBe(1);
    // Not due yet: a job-running process leaves fresh numbers alone.
    expect(await t.services.dashboard.refreshIfDue()).toBe(false);

    const viewer = await signIn(t, 'viewer');
    const home = await t.app.inject({ url: '/admin', headers: { cookie: viewer.cookie } });
    expect(home.body).toContain(`Counted at ${first.storedAt.slice(0, 16).replace('T', ' ')} UTC`);

    // Due (older than the refresh interval): counted again, and the page shows the new numbers.
    await age(6 * 60_000);
    expect(await t.services.dashboard.refreshIfDue()).toBe(true);
    const fresh = await t.services.dashboard.getDashboard();
    expect(fresh.funnel).toEqual({ mailings: 1, sent: 3, opened: 0, clicked: 0, signed: 1 });
    expect(fresh.groups.find((g) => g.id === groupId)?.members).toBe(2);
    expect(fresh.storedAt > first.storedAt).toBe(true);
    expect((await stored())!.refreshing_until).toBeNull();
  });

  it('counts for a mailing only the signatures with its own source code', async () => {
    const other = await sendMailing('Other news');
    const slug = (await openPetition(t.services, 'Kept park')).slug;
    await sign(t.services, slug, 'ana@kept.example', { source: `m.${other}` });
    await sign(t.services, slug, 'ben@kept.example', { source: `m.${other}x.A` });
    const report = await t.services.mailings.mailingReport(other);
    expect(report.signatures).toBe(0);
    await sign(t.services, slug, 'cy@kept.example', { source: `m.${other}.B` });
    expect((await t.services.mailings.mailingReport(other)).signatures).toBe(1);
    expect(
      (await t.services.mailings.mailingReport(other)).hourly.reduce((n, h) => n + h.signatures, 0),
    ).toBe(1);
  });

  it('serves old numbers at once and counts them again in the background', async () => {
    await t.services.dashboard.refreshStoredNumbers();
    const before = (await t.services.dashboard.getDashboard()).funnel.mailings;
    await sendMailing('Third news');
    // Nobody refreshed them for an hour (no job-running process): the view does not wait.
    await age(3600_000);
    const old = await t.services.dashboard.getDashboard();
    expect(old.funnel.mailings).toBe(before);
    await t.services.dashboard.settled();
    const row = (await stored())!;
    expect(Date.parse(row.computed_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await t.services.dashboard.getDashboard()).funnel.mailings).toBe(before + 1);
  });

  it('keeps the earlier days of the window and counts only those since today began on each view', async () => {
    const day = (n: number) => new Date(Date.now() - n * 24 * 3600_000).toISOString();
    const slug = (await openPetition(t.services, 'Kept forest')).slug;
    await sign(t.services, slug, 'old@kept.example', { source: 'old-partner' });
    const oldPerson = ids.get('cy@kept.example')!;
    await t.ctx.db
      .updateTable('people')
      .set({ created_at: day(3) })
      .where('id', '=', oldPerson)
      .execute();
    await t.ctx.db
      .updateTable('signatures')
      .set({ created_at: day(3) })
      .where('source', '=', 'old-partner')
      .execute();
    await t.services.dashboard.refreshStoredNumbers();
    const kept = JSON.parse((await stored())!.numbers).history;
    expect(kept.day).toBe(day(0).slice(0, 10));
    expect(kept.peoplePerDay).toEqual([{ day: day(3).slice(0, 10), total: 1 }]);

    const d = await t.services.dashboard.getDashboard();
    const on = (list: { day: string; total: number }[], iso: string) =>
      list.find((x) => x.day === iso.slice(0, 10))!;
    expect(on(d.supporters.newPerDay, day(3)).total).toBe(1);
    expect(on(d.signaturesPerDay, day(3)).total).toBe(1);
    expect(d.topSources).toContainEqual({ source: 'old-partner', total: 1 });
    const totalPeople = Number(
      (
        await t.ctx.db
          .selectFrom('people')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(d.supporters.total).toBe(totalPeople);
    expect(d.supporters.runningTotal.at(-1)!.total).toBe(totalPeople);

    // Today's people and signatures count at once; the kept days stay as counted.
    await addPeople(t.services, [{ email: 'new@kept.example', givenName: 'New', subscribe: true }]);
    await sign(t.services, slug, 'new@kept.example', { source: 'old-partner' });
    await t.ctx.db
      .updateTable('signatures')
      .set({ created_at: day(2) })
      .where('source', '=', 'old-partner')
      .where('created_at', '<', day(0.5))
      .execute();
    const later = await t.services.dashboard.getDashboard();
    expect(later.supporters.total).toBe(totalPeople + 1);
    expect(on(later.supporters.newPerDay, day(0)).total).toBe(on(d.supporters.newPerDay, day(0)).total + 1);
    expect(later.topSources).toContainEqual({ source: 'old-partner', total: 2 });
    expect(on(later.signaturesPerDay, day(3)).total).toBe(1);
    await t.services.dashboard.refreshStoredNumbers();
    const recounted = await t.services.dashboard.getDashboard();
    expect(on(recounted.signaturesPerDay, day(3)).total).toBe(0);
    expect(on(recounted.signaturesPerDay, day(2)).total).toBe(1);

    // Numbers kept on another day do not cover today's window: everything is counted.
    await t.ctx.db
      .updateTable('dashboard_numbers')
      .set({
        numbers: JSON.stringify({
          ...JSON.parse((await stored())!.numbers),
          history: { ...kept, day: '2000-01-01', peopleBefore: 999 },
        }),
      })
      .execute();
    expect((await t.services.dashboard.getDashboard()).supporters.total).toBe(totalPeople + 1);
  });

  it('lets one process at a time count them (a lease in the table)', async () => {
    const s = t.services;
    const elsewhere = createDashboardService(t.ctx, {
      people: s.people,
      petitions: s.petitions,
      mailings: s.mailings,
      events: s.events,
      groups: s.groups,
    });
    await age(3600_000);
    const staleAt = (await stored())!.computed_at;
    // Another process holds the lease: this one leaves it.
    await t.ctx.db
      .updateTable('dashboard_numbers')
      .set({ refreshing_until: new Date(Date.now() + 60_000).toISOString() })
      .execute();
    expect(await elsewhere.refreshIfDue()).toBe(false);
    expect(await s.dashboard.refreshIfDue()).toBe(false);
    expect((await stored())!.computed_at).toBe(staleAt);
    // Its lease ran out (it died): the next one takes over.
    await t.ctx.db
      .updateTable('dashboard_numbers')
      .set({ refreshing_until: new Date(Date.now() - 1000).toISOString() })
      .execute();
    const [a, b] = await Promise.all([elsewhere.refreshIfDue(), s.dashboard.refreshIfDue()]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect((await stored())!.computed_at > staleAt).toBe(true);
  });
  it('keeps serving the old numbers when counting fails, and tries again when the lease ends', async () => {
    const s = t.services;
    const failing = createDashboardService(t.ctx, {
      people: s.people,
      petitions: s.petitions,
      mailings: s.mailings,
      events: s.events,
      groups: { groupCounts: () => Promise.reject(new Error('groups unavailable')) },
    });
    await s.dashboard.refreshStoredNumbers();
    await age(3600_000);
    const old = (await stored())!;
    await expect(failing.refreshIfDue()).rejects.toThrow('groups unavailable');
    const after = (await stored())!;
    expect(after.computed_at).toBe(old.computed_at);
    expect(after.refreshing_until! > new Date().toISOString()).toBe(true);
    expect(await s.dashboard.refreshIfDue()).toBe(false);
    expect((await failing.getDashboard()).storedAt).toBe(old.computed_at);
    await failing.settled();
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
