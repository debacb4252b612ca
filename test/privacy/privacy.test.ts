import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/auth.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';
import { openPetition, sign } from '../mail/fixtures.ts';

type T = TestRuntime & { app: FastifyInstance };

describe('privacy: a person’s data export and erasure', () => {
  let t: T;
  let personId: string;
  let eventSlug: string;
  let petitionId: string;
  beforeAll(async () => {
    t = await createTestApp();
    const petition = await openPetition(t.services, 'Save the wetlands');
    petitionId = petition.id;
    await sign(t.services, petition.slug, 'rosa@example.org', { givenName: 'Rosa' });
    await sign(t.services, petition.slug, 'sam@example.org', { givenName: 'Sam' });
    const event = await t.services.events.createEvent({
      title: 'Wetland cleanup',
      startsLocal: new Date(Date.now() + 6 * 24 * 3600_000).toISOString().slice(0, 16),
      endsLocal: new Date(Date.now() + 6 * 24 * 3600_000 + 3600_000).toISOString().slice(0, 16),
      timeZone: 'UTC',
      place: 'North shore',
    });
    eventSlug = event.slug;
    await t.services.events.rsvp(
      event.slug,
      { email: 'rosa@example.org', familyName: 'Luxemburg' },
      { ip: null },
    );
    const group = await t.services.groups.createGroup({ name: 'Wetland friends', level: 'local' });
    await t.services.groups.joinGroup(
      group.slug,
      { email: 'rosa@example.org', postalCode: '10115' },
      { ip: null },
    );
    personId = (await t.services.people.searchPeople({ email: 'rosa@example.org' })).people[0]!.id;
  });
  afterAll(async () => {
    await t.close();
  });

  it('exports everything held on a person as JSON, audited; only admins and owners may', async () => {
    const admin = await signIn(t, 'admin');
    const res = await t.app.inject({
      url: `/admin/people/${personId}/data.json`,
      headers: { cookie: admin.cookie },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const data = JSON.parse(res.body);
    expect(data.person.emails[0].address).toBe('rosa@example.org');
    expect(data.person.givenName).toBe('Rosa');
    expect(data.signatures).toHaveLength(1);
    expect(data.signatures[0].title).toBe('Save the wetlands');
    expect(data.rsvps.map((r: { title: string }) => r.title)).toEqual(['Wetland cleanup']);
    expect(data.groups.map((g: { name: string }) => g.name)).toEqual(['Wetland friends']);
    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: personId });
    expect(audit.some((a) => a.action === 'person.data_export' && a.user_id === admin.userId)).toBe(true);

    const organiser = await signIn(t, 'organiser');
    expect(
      (
        await t.app.inject({
          url: `/admin/people/${personId}/data.json`,
          headers: { cookie: organiser.cookie },
        })
      ).statusCode,
    ).toBe(403);
    const page = await t.app.inject({ url: `/admin/people/${personId}`, headers: { cookie: admin.cookie } });
    expect(page.body).toContain(`/admin/people/${personId}/privacy`);
  });

  it('erases (anonymises) a person so that counts stay right, audited', async () => {
    const owner = await signIn(t, 'owner');
    const before = await t.services.dashboard.getDashboard();
    const counts = await t.services.events.countsOf(await t.services.events.getEventBySlug(eventSlug));

    const unconfirmed = await t.app.inject({
      method: 'POST',
      url: `/admin/people/${personId}/erase`,
      headers: { cookie: owner.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: owner.csrf }).toString(),
    });
    expect(unconfirmed.statusCode).toBe(400);

    const erased = await t.app.inject({
      method: 'POST',
      url: `/admin/people/${personId}/erase`,
      headers: { cookie: owner.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: owner.csrf, confirm: 'yes' }).toString(),
    });
    expect(erased.statusCode).toBe(303);

    const person = await t.services.people.getPerson(personId);
    expect(person.givenName).toBeNull();
    expect(person.familyName).toBeNull();
    expect(person.addresses).toEqual([]);
    expect(person.emails.map((e) => e.address)).toEqual([
      expect.stringMatching(/^erased-.*@erased\.invalid$/),
    ]);
    expect(person.activity.map((a) => a.kind)).toEqual(['erased']);
    expect((await t.services.people.searchPeople({ q: 'rosa' })).total).toBe(0);
    const data = await t.services.petitions.signaturesOfPerson(personId);
    expect(data[0]).toMatchObject({ signer_name: 'Erased', postal_code: null, comment: null });
    const rsvps = await t.services.events.rsvpsOfPerson(personId);
    expect(rsvps[0]!.email).toMatch(/@erased\.invalid$/);

    // Counts stay right: supporters, signatures, RSVPs.
    const after = await t.services.dashboard.getDashboard();
    expect(after.supporters.total).toBe(before.supporters.total);
    expect(after.signaturesTotal).toBe(before.signaturesTotal);
    expect((await t.services.petitions.getDashboard(petitionId)).exact.total).toBe(2);
    expect(await t.services.events.countsOf(await t.services.events.getEventBySlug(eventSlug))).toEqual(
      counts,
    );

    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: personId });
    expect(audit.some((a) => a.action === 'person.erase' && a.user_id === owner.userId)).toBe(true);
  });
});
