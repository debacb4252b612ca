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
    // Mail to Rosa and Sam: a mailing, a soft bounce that quotes the address, and the RSVP
    // confirmation (sent into the local outbox: there is no SMTP_URL).
    await t.services.people.mergePeople(t.ctx.db, [
      { email: 'rosa@example.org', subscribe: true },
      { email: 'sam@example.org', subscribe: true },
    ]);
    const mailingId = await t.services.mailings.createMailing({
      fromName: 'Wetlands',
      fromAddress: 'news@act.example',
      subject: 'News',
      body: 'Hello {{ given_name }}',
      format: 'markdown',
    });
    await t.services.mailings.startSending(mailingId);
    await t.ctx.jobs.drain();
    await t.services.mailings.recordDeliveryReport({
      kind: 'bounce',
      hard: false,
      email: 'rosa@example.org',
      mailingId,
      personId,
      reason: '452 mailbox of rosa@example.org is full',
    });
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
    const db = t.ctx.db;
    const rowCounts = async () => ({
      transactional: (await db.selectFrom('transactional_emails').select('id').execute()).length,
      outbox: (await db.selectFrom('outbox').select('id').execute()).length,
      recipients: (await db.selectFrom('mailing_recipients').select('person_id').execute()).length,
      events: (await db.selectFrom('mail_events').select('id').execute()).length,
    });
    const rowsBefore = await rowCounts();
    // Rosa's address is in every one of these before the erasure.
    const mentions = async (address: string) => ({
      transactional: (
        await db.selectFrom('transactional_emails').select('id').where('to_address', '=', address).execute()
      ).length,
      outbox: (await db.selectFrom('outbox').select('id').where('to_address', '=', address).execute()).length,
      recipients: (
        await db.selectFrom('mailing_recipients').select('person_id').where('email', '=', address).execute()
      ).length,
      events: (await db.selectFrom('mail_events').select('id').where('email', '=', address).execute()).length,
    });
    expect(Object.values(await mentions('rosa@example.org')).every((n) => n > 0)).toBe(true);
    const samBefore = await mentions('sam@example.org');
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

    // Mail records keep their rows (reports and counts stay right) without Rosa's address.
    expect(await mentions('rosa@example.org')).toEqual({
      transactional: 0,
      outbox: 0,
      recipients: 0,
      events: 0,
    });
    expect(await rowCounts()).toEqual(rowsBefore);
    expect(await mentions('sam@example.org')).toEqual(samBefore);
    const placeholder = `erased-${personId}@erased.invalid`;
    const recipient = await db
      .selectFrom('mailing_recipients')
      .select(['email', 'state'])
      .where('person_id', '=', personId)
      .executeTakeFirstOrThrow();
    expect(recipient).toEqual({ email: placeholder, state: 'sent' });
    const transactional = await db
      .selectFrom('transactional_emails')
      .select(['to_address', 'subject', 'text_body', 'attachments'])
      .where('person_id', '=', personId)
      .execute();
    expect(transactional.length).toBeGreaterThan(0);
    for (const row of transactional)
      expect(row).toEqual({ to_address: placeholder, subject: '(erased)', text_body: '', attachments: '[]' });
    const outbox = await db
      .selectFrom('outbox')
      .select(['raw'])
      .where('to_address', '=', placeholder)
      .execute();
    expect(outbox.length).toBeGreaterThan(0);
    expect(outbox.every((row) => !row.raw.includes('rosa'))).toBe(true);
    const bounce = await db
      .selectFrom('mail_events')
      .select(['email', 'details'])
      .where('person_id', '=', personId)
      .executeTakeFirstOrThrow();
    expect(bounce).toEqual({ email: placeholder, details: null });

    const audit = await t.services.auth.listAudit({ subjectType: 'person', subjectId: personId });
    expect(audit.some((a) => a.action === 'person.erase' && a.user_id === owner.userId)).toBe(true);
  });
});
