import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const local = (daysAhead: number, hour: number) => {
  const d = new Date(Date.now() + daysAhead * 86_400_000);
  return `${d.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00`;
};

describe('OSDI events and attendances', () => {
  let t: TestApp;
  let key: string;
  let readKey: string;
  let eventId: string;

  async function call(method: 'GET' | 'POST', url: string, payload?: unknown, token = key) {
    const response = await t.app.inject({
      method,
      url: url.replace(/^https?:\/\/[^/]+/, ''),
      headers: { 'osdi-api-token': token },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: response.statusCode, body: response.json() as Json };
  }

  beforeAll(async () => {
    t = await createTestApp();
    key = (await t.services.api.createApiKey({ name: 'events', scope: 'write', createdBy: null })).secret;
    readKey = (await t.services.api.createApiKey({ name: 'events-read', scope: 'read', createdBy: null }))
      .secret;
    const event = await t.services.events.createEvent({
      title: 'Library teach-in',
      description: 'Bring a friend.',
      startsLocal: local(7, 18),
      endsLocal: local(7, 20),
      timeZone: 'UTC',
      place: 'Main library',
      capacity: 1,
    });
    eventId = event.id;
  });
  afterAll(async () => {
    await t.close();
  });

  it('the entry point links to events; an event links to its attendances', async () => {
    const aep = await call('GET', '/api/v1');
    const list = await call('GET', aep.body._links['osdi:events'].href);
    expect(list.status).toBe(200);
    expect(Object.keys(list.body._embedded)).toEqual(['osdi:events']);
    const event = list.body._embedded['osdi:events'][0] as Json;
    expect(event).toMatchObject({
      title: 'Library teach-in',
      status: 'confirmed',
      capacity: 1,
      location: { venue: 'Main library' },
      total_accepted: 0,
    });
    const attendances = await call('GET', event._links['osdi:attendances'].href);
    expect(attendances.body).toMatchObject({ total_records: 0, _embedded: { 'osdi:attendances': [] } });
  });

  it('the record attendance helper, run twice on both paths, makes one person and one RSVP; a full event waitlists', async () => {
    const body = { person: { given_name: 'Rosa', email_addresses: [{ address: 'rosa@example.org' }] } };
    const first = await call('POST', `/api/v1/events/${eventId}/attendances`, body);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('accepted');
    const second = await call('POST', `/api/v1/events/${eventId}/record_attendance_helper`, body);
    expect(second.status).toBe(200);
    expect(second.body.identifiers).toEqual(first.body.identifiers);
    expect(await t.services.people.countPeople()).toBe(1);
    const person = await call('GET', first.body._links['osdi:person'].href);
    expect(person.body.given_name).toBe('Rosa');
    const self = await call('GET', first.body._links.self.href);
    expect(self.body.identifiers).toEqual(first.body.identifiers);

    const late = await call('POST', `/api/v1/events/${eventId}/attendances`, {
      person: { email_addresses: [{ address: 'late@example.org' }] },
    });
    expect(late.body.status).toBe('tentative');
    const event = await call('GET', `/api/v1/events/${eventId}`);
    expect(event.body.total_accepted).toBe(1);
    const attendances = await call('GET', `/api/v1/events/${eventId}/attendances`);
    expect(attendances.body.total_records).toBe(2);
  });

  it('a read key cannot RSVP; unknown events are 404 JSON', async () => {
    const denied = await call(
      'POST',
      `/api/v1/events/${eventId}/attendances`,
      { person: { email_addresses: [{ address: 'x@example.org' }] } },
      readKey,
    );
    expect(denied.status).toBe(403);
    const missing = await call('POST', '/api/v1/events/nope/attendances', {
      person: { email_addresses: [{ address: 'x@example.org' }] },
    });
    expect(missing.status).toBe(404);
    expect(typeof missing.body.error).toBe('string');
  });

  it('pages events in start order and attendances in the database, with true totals', async () => {
    for (let day = 30; day > 3; day--) {
      await t.services.events.createEvent({
        title: `Canvass day ${day}`,
        description: 'Doors.',
        startsLocal: local(day, 10),
        endsLocal: local(day, 12),
        timeZone: 'UTC',
        place: 'Office',
        capacity: null,
      });
    }
    const first = await call('GET', '/api/v1/events?per_page=25');
    expect(first.body.total_records).toBe(28);
    expect(first.body._embedded['osdi:events'][0].title).toBe('Canvass day 4');
    const second = await call('GET', '/api/v1/events?per_page=25&page=2');
    // Days 4–7, the teach-in (day 7, 18:00), days 8–27 fill the first page.
    expect(second.body._embedded['osdi:events'].map((e: Json) => e.title)).toEqual([
      'Canvass day 28',
      'Canvass day 29',
      'Canvass day 30',
    ]);
    const one = await call('GET', `/api/v1/events/${eventId}/attendances?per_page=1&page=2`);
    expect(one.body.total_records).toBe(2);
    expect(one.body._embedded['osdi:attendances']).toHaveLength(1);
    const attendanceId = one.body._embedded['osdi:attendances'][0].identifiers[0].replace('undersign:', '');
    const single = await call('GET', `/api/v1/events/${eventId}/attendances/${attendanceId}`);
    expect(single.status).toBe(200);
    const elsewhere = await call(
      'GET',
      `/api/v1/events/${second.body._embedded['osdi:events'][0].identifiers[0].replace('undersign:', '')}/attendances/${attendanceId}`,
    );
    expect(elsewhere.status).toBe(404);
  });
});
