import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventIcs } from '../../src/events/ics.ts';
import { formatEventTime, utcToZonedLocal, zonedLocalToUtc } from '../../src/events/time.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';
import type { FastifyInstance } from 'fastify';

type T = TestRuntime & { app: FastifyInstance };

/** A wall-clock time in UTC `hours` from now, as the admin form sends it. */
function localIn(hours: number): string {
  return new Date(Date.now() + hours * 3600_000).toISOString().slice(0, 16);
}

function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

describe('time zones', () => {
  it('converts wall-clock times in a zone to UTC and back, across daylight saving', () => {
    expect(zonedLocalToUtc('2026-12-01T18:30', 'America/Los_Angeles')!.toISOString()).toBe(
      '2026-12-02T02:30:00.000Z',
    );
    expect(zonedLocalToUtc('2026-07-01T18:30', 'America/Los_Angeles')!.toISOString()).toBe(
      '2026-07-02T01:30:00.000Z',
    );
    expect(zonedLocalToUtc('2026-07-01T09:00', 'Europe/Madrid')!.toISOString()).toBe(
      '2026-07-01T07:00:00.000Z',
    );
    expect(utcToZonedLocal('2026-12-02T02:30:00.000Z', 'America/Los_Angeles')).toBe('2026-12-01T18:30');
    expect(zonedLocalToUtc('2026-13-01T18:30', 'UTC')).toBeNull();
    expect(
      formatEventTime('2026-12-02T02:30:00.000Z', '2026-12-02T04:00:00.000Z', 'America/Los_Angeles'),
    ).toBe('Tuesday, December 1, 2026, 6:30 PM – 8:00 PM PST');
  });

  it('writes a calendar file with escaped text and folded lines', () => {
    const ics = eventIcs(
      {
        id: '01900000-0000-7000-8000-000000000001',
        slug: 'x',
        title: 'Town hall; rent, and more',
        description: 'Line one\nLine two '.repeat(10),
        starts_at: '2026-12-02T02:30:00.000Z',
        ends_at: '2026-12-02T04:00:00.000Z',
        time_zone: 'America/Los_Angeles',
        place: 'Library',
        online_url: null,
        capacity: null,
        group_id: null,
        status: 'published',
        created_at: '',
        updated_at: '',
      },
      { url: 'https://example.org/events/x', domain: 'example.org' },
    );
    expect(ics).toContain('DTSTART:20261202T023000Z');
    expect(ics).toContain('SUMMARY:Town hall\\; rent\\, and more');
    for (const line of ics.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
  });
});

describe('events: RSVP, waitlist, cancel, reminders, check-in', () => {
  let smtp: SmtpSink;
  let t: T;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({ SMTP_URL: smtp.url, PUBLIC_URL: 'https://act.example.org' });
  });
  afterAll(async () => {
    t.services.mail.close();
    await t.close();
    await smtp.close();
  });

  async function newEvent(fields: Partial<Record<string, string>> = {}) {
    return t.services.events.createEvent({
      title: fields.title ?? 'Town hall on rent',
      description: 'Come and talk.\n\nBring a friend.',
      startsLocal: fields.startsLocal ?? localIn(24 * 10),
      endsLocal: fields.endsLocal ?? localIn(24 * 10 + 2),
      timeZone: 'UTC',
      place: 'Central Library, Room 2',
      capacity: fields.capacity ?? '2',
    });
  }

  async function rsvpByForm(slug: string, email: string, givenName = 'Ana') {
    return t.app.inject({
      method: 'POST',
      url: `/events/${slug}/rsvp`,
      ...form({
        email,
        given_name: givenName,
        family_name: 'Tester',
        postal_code: '94110',
        subscribe: 'yes',
      }),
    });
  }

  it('validates events: zone, times, place', async () => {
    const base = {
      title: 'X',
      startsLocal: localIn(5),
      endsLocal: localIn(6),
      timeZone: 'UTC',
      place: 'Here',
    };
    await expect(t.services.events.createEvent({ ...base, timeZone: 'Mars/Olympus' })).rejects.toMatchObject({
      code: 'invalid',
    });
    await expect(t.services.events.createEvent({ ...base, endsLocal: localIn(4) })).rejects.toMatchObject({
      code: 'invalid',
    });
    await expect(t.services.events.createEvent({ ...base, place: '' })).rejects.toMatchObject({
      code: 'invalid',
    });
    await expect(t.services.events.createEvent({ ...base, capacity: '0' })).rejects.toMatchObject({
      code: 'invalid',
    });
  });

  it('RSVPs merge the person by email, email a confirmation with an .ics, then waitlist when full', async () => {
    const event = await newEvent({ title: 'Rent strike meeting' });
    const page = await t.app.inject({ url: `/events/${event.slug}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Rent strike meeting');
    expect(page.body).toContain('2 of 2 places left');

    const first = await rsvpByForm(event.slug, 'Ana@Example.org');
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('You&#39;re going!');
    await t.ctx.jobs.drain();
    const mail = await smtp.waitFor(
      (m) => m.envelopeTo.includes('ana@example.org') && m.subject.includes('Rent strike'),
    );
    expect(mail.subject).toBe("You're going: Rent strike meeting");
    expect(mail.text).toContain('Central Library, Room 2');
    expect(mail.text).toContain('https://act.example.org/events/rsvp/cancel?token=');
    const ics = mail.attachments.find((a) => a.filename === 'event.ics');
    expect(ics).toBeDefined();
    expect(ics!.contentType).toContain('text/calendar');
    expect(ics!.content.toString('utf8')).toContain('SUMMARY:Rent strike meeting');
    expect(ics!.content.toString('utf8')).toContain(`UID:${event.id}@act.example.org`);

    // The person exists once, merged by email, with the RSVP on their timeline.
    const found = await t.services.people.searchPeople({ email: 'ana@example.org' });
    expect(found.total).toBe(1);
    const person = await t.services.people.getPerson(found.people[0]!.id);
    expect(person.givenName).toBe('Ana');
    expect(person.activity.some((a) => a.kind === 'event.rsvp')).toBe(true);

    // RSVPing again changes nothing and sends nothing.
    const again = await rsvpByForm(event.slug, 'ana@example.org');
    expect(again.body).toContain('already going');
    expect(await t.ctx.jobs.drain()).toBe(0);

    await rsvpByForm(event.slug, 'ben@example.org', 'Ben');
    const third = await rsvpByForm(event.slug, 'cai@example.org', 'Cai');
    expect(third.body).toContain('on the waitlist');
    await t.ctx.jobs.drain();
    const waitMail = await smtp.waitFor((m) => m.envelopeTo.includes('cai@example.org'));
    expect(waitMail.subject).toBe("You're on the waitlist: Rent strike meeting");
    expect(waitMail.attachments).toHaveLength(0);
    const counts = await t.services.events.countsOf(event);
    expect(counts).toMatchObject({ going: 2, waitlist: 1, spacesLeft: 0 });
    expect((await t.app.inject({ url: `/events/${event.slug}` })).body).toContain('Join the waitlist');

    // Ana cancels through the signed link in her email: Cai moves up and is told, with an .ics.
    const link = /https:\/\/act\.example\.org(\/events\/rsvp\/cancel\?token=\S+)/.exec(mail.text)![1]!;
    const cancelPageRes = await t.app.inject({ url: link });
    expect(cancelPageRes.statusCode).toBe(200);
    expect(cancelPageRes.body).toContain('Cancel my RSVP');
    const token = new URL(`https://x${link}`).searchParams.get('token')!;
    const cancelled = await t.app.inject({ method: 'POST', url: '/events/rsvp/cancel', ...form({ token }) });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.body).toContain('Your RSVP is cancelled');
    await t.ctx.jobs.drain();
    const promoted = await smtp.waitFor(
      (m) => m.envelopeTo.includes('cai@example.org') && m.subject.startsWith('A place opened up'),
    );
    expect(promoted.attachments.some((a) => a.filename === 'event.ics')).toBe(true);
    expect(await t.services.events.countsOf(event)).toMatchObject({ going: 2, waitlist: 0, cancelled: 1 });

    // Cancelling twice changes nothing; a forged token is refused.
    const twice = await t.app.inject({ method: 'POST', url: '/events/rsvp/cancel', ...form({ token }) });
    expect(twice.statusCode).toBe(200);
    expect(await t.services.events.countsOf(event)).toMatchObject({ going: 2, cancelled: 1 });
    const forged = token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect(
      (await t.app.inject({ url: `/events/rsvp/cancel?token=${encodeURIComponent(forged)}` })).statusCode,
    ).toBe(404);
  });

  it('shows a clear message for a bad email and keeps what was typed', async () => {
    const event = await newEvent({ title: 'Bad email check' });
    const res = await rsvpByForm(event.slug, 'not-an-email', 'Dee');
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('valid email address');
    expect(res.body).toContain('value="Dee"');
  });

  it('keeps capacity under concurrent RSVPs', async () => {
    const event = await newEvent({ title: 'Small room', capacity: '3' });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.services.events.rsvp(event.slug, { email: `crowd${i}@example.org` }, { ip: null }),
      ),
    );
    expect(results.filter((r) => r.status === 'going')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'waitlist')).toHaveLength(5);
    expect(await t.services.events.countsOf(event)).toMatchObject({ going: 3, waitlist: 5 });
  });

  it('reminds everyone going the day before, once, with an .ics', async () => {
    const soon = await newEvent({
      title: 'Phone bank tomorrow',
      startsLocal: localIn(20),
      endsLocal: localIn(22),
      capacity: '',
    });
    const later = await newEvent({ title: 'Phone bank next month', capacity: '' });
    await t.services.events.rsvp(soon.slug, { email: 'rem1@example.org', givenName: 'Rem' }, { ip: null });
    await t.services.events.rsvp(soon.slug, { email: 'rem2@example.org' }, { ip: null });
    await t.services.events.rsvp(later.slug, { email: 'rem3@example.org' }, { ip: null });
    // The reminder job for the event starting in 20 hours is due now; next month's is not.
    await t.ctx.jobs.drain();
    const reminder = await smtp.waitFor(
      (m) => m.envelopeTo.includes('rem1@example.org') && m.subject.startsWith('Reminder'),
    );
    expect(reminder.subject).toBe('Reminder: Phone bank tomorrow is tomorrow');
    expect(reminder.attachments.some((a) => a.filename === 'event.ics')).toBe(true);
    await smtp.waitFor((m) => m.envelopeTo.includes('rem2@example.org') && m.subject.startsWith('Reminder'));
    // Running the reminders again sends nothing more.
    expect(await t.services.events.sendReminders(soon.id)).toBe(0);
    expect(await t.services.events.sendDueReminders()).toBe(0);
    await t.ctx.jobs.drain();
    const reminders = (to: string) =>
      smtp.messages.filter((m) => m.envelopeTo.includes(to) && m.subject.startsWith('Reminder'));
    expect(reminders('rem1@example.org')).toHaveLength(1);
    expect(reminders('rem3@example.org')).toHaveLength(0);
    // Next month's event is reminded only once its time comes.
    expect(await t.services.events.sendReminders(later.id)).toBe(0);
    const dayBefore = new Date(Date.parse(later.starts_at) - 23 * 3600_000);
    expect(await t.services.events.sendReminders(later.id, dayBefore)).toBe(1);
    expect(await t.services.events.sendReminders(later.id, dayBefore)).toBe(0);
  });

  it('admin: create and edit events, RSVP list, check-in without JS, printable list, CSV export', async () => {
    const organiser = await signIn(t, 'organiser');
    const created = await t.app.inject({
      method: 'POST',
      url: '/admin/events',
      headers: { cookie: organiser.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        _csrf: organiser.csrf,
        title: 'Canvass <Saturday>',
        description: 'Meet at the corner.',
        starts_local: '2030-03-02T10:00',
        ends_local: '2030-03-02T13:00',
        time_zone: 'America/New_York',
        place: 'Corner of 5th & Main',
        capacity: '10',
        status: 'published',
      }).toString(),
    });
    expect(created.statusCode).toBe(303);
    const eventId = created.headers.location!.split('/').pop()!;
    const event = await t.services.events.getEvent(eventId);
    expect(event.starts_at).toBe('2030-03-02T15:00:00.000Z');
    expect(event.slug).toBe('canvass-saturday');

    const invalid = await t.app.inject({
      method: 'POST',
      url: '/admin/events',
      headers: { cookie: organiser.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: organiser.csrf, title: 'No times' }).toString(),
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.body).toContain('The time zone must be');

    const edit = await t.app.inject({
      url: `/admin/events/${eventId}/edit`,
      headers: { cookie: organiser.cookie },
    });
    expect(edit.body).toContain('value="2030-03-02T10:00"');
    const updated = await t.app.inject({
      method: 'POST',
      url: `/admin/events/${eventId}`,
      headers: { cookie: organiser.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        _csrf: organiser.csrf,
        title: 'Canvass Saturday',
        slug: 'canvass-saturday',
        starts_local: '2030-03-02T11:00',
        ends_local: '2030-03-02T13:00',
        time_zone: 'America/New_York',
        place: 'Corner of 5th & Main',
        capacity: '10',
      }).toString(),
    });
    expect(updated.statusCode).toBe(303);
    expect((await t.services.events.getEvent(eventId)).starts_at).toBe('2030-03-02T16:00:00.000Z');

    await t.services.events.rsvp(
      'canvass-saturday',
      { email: 'eva@example.org', givenName: '=Eva' },
      { ip: null },
    );
    await t.services.events.rsvp(
      'canvass-saturday',
      { email: 'fin@example.org', givenName: 'Fin' },
      { ip: null },
    );
    const [eva] = await t.services.events
      .listRsvps(eventId, ['going'])
      .then((rs) => rs.filter((r) => r.email === 'eva@example.org'));

    const detail = await t.app.inject({
      url: `/admin/events/${eventId}`,
      headers: { cookie: organiser.cookie },
    });
    expect(detail.statusCode).toBe(200);
    expect(detail.body).toContain('eva@example.org');
    expect(detail.body).toContain('Going: 2 of 10');
    const audit = await t.services.auth.listAudit({ subjectType: 'event', subjectId: eventId });
    expect(audit.some((a) => a.action === 'event.rsvps.view' && a.user_id === organiser.userId)).toBe(true);

    const checkIn = await t.app.inject({
      url: `/admin/events/${eventId}/check-in`,
      headers: { cookie: organiser.cookie },
    });
    expect(checkIn.body).toContain('0 of 2 checked in');
    const tick = await t.app.inject({
      method: 'POST',
      url: `/admin/events/${eventId}/rsvps/${eva!.id}/check-in`,
      headers: { cookie: organiser.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: organiser.csrf, checked: '1' }).toString(),
    });
    expect(tick.statusCode).toBe(303);
    expect((await t.services.events.countsOf(await t.services.events.getEvent(eventId))).checkedIn).toBe(1);
    const after = await t.app.inject({
      url: `/admin/events/${eventId}/check-in`,
      headers: { cookie: organiser.cookie },
    });
    expect(after.body).toContain('1 of 2 checked in');
    // Without the CSRF token the tick is refused.
    const forged = await t.app.inject({
      method: 'POST',
      url: `/admin/events/${eventId}/rsvps/${eva!.id}/check-in`,
      headers: { cookie: organiser.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ checked: '0' }).toString(),
    });
    expect(forged.statusCode).toBe(403);

    const print = await t.app.inject({
      url: `/admin/events/${eventId}/check-in/print`,
      headers: { cookie: organiser.cookie },
    });
    expect(print.body).toContain('People going (2)');
    expect(print.body).toContain('=Eva');

    const csv = await t.app.inject({
      url: `/admin/events/${eventId}/rsvps.csv`,
      headers: { cookie: organiser.cookie },
    });
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe('rsvp_id,person_id,email,given_name,family_name,status,checked_in_at,created_at');
    expect(lines).toHaveLength(3);
    expect(csv.body).toContain("'=Eva");

    // A viewer may see the list but not change anything.
    const viewer = await signIn(t, 'viewer');
    expect(
      (await t.app.inject({ url: '/admin/events', headers: { cookie: viewer.cookie } })).statusCode,
    ).toBe(200);
    expect(
      (await t.app.inject({ url: `/admin/events/${eventId}/rsvps.csv`, headers: { cookie: viewer.cookie } }))
        .statusCode,
    ).toBe(403);
  });

  it('escapes event text on the public page', async () => {
    const event = await newEvent({ title: '<script>alert(1)</script> rally' });
    const page = await t.app.inject({ url: `/events/${event.slug}` });
    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).toContain('&lt;script&gt;');
  });
});
