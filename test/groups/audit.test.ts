import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';
import { openPetition, sign } from '../mail/fixtures.ts';

type T = TestRuntime & { app: FastifyInstance };

describe('audit: every admin view of people’s data is written down with who looked', () => {
  let t: T;
  let organiser: SignedIn;
  let petitionId: string;
  let eventId: string;
  let mailingId: string;
  let rosaId: string;
  beforeAll(async () => {
    t = await createTestApp();
    organiser = await signIn(t, 'organiser');
    const petition = await openPetition(t.services, 'Audited petition');
    petitionId = petition.id;
    await sign(t.services, petition.slug, 'rosa@audit.example', { givenName: 'Rosa' });
    rosaId = (await t.services.people.searchPeople({ email: 'rosa@audit.example' })).people[0]!.id;
    const event = await t.services.events.createEvent({
      title: 'Audited meeting',
      startsLocal: new Date(Date.now() + 3 * 24 * 3600_000).toISOString().slice(0, 16),
      endsLocal: new Date(Date.now() + 3 * 24 * 3600_000 + 3600_000).toISOString().slice(0, 16),
      timeZone: 'UTC',
      place: 'Hall',
    });
    eventId = event.id;
    await t.services.events.rsvp(event.slug, { email: 'rosa@audit.example' }, { ip: null });
    mailingId = await t.services.mailings.createMailing({
      fromName: 'Audit',
      fromAddress: 'audit@act.example',
      subject: 'Hello',
      body: 'Hello {{ given_name }}',
      format: 'markdown',
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('petition signer pages, mailing reports and previews, event lists and the outbox', async () => {
    const pages: Array<[string, string, string | null]> = [
      [`/admin/petitions/${petitionId}`, 'petition.signers.view', petitionId],
      [`/admin/petitions/${petitionId}/signatures.csv`, 'petition.signatures.export', petitionId],
      [`/admin/petitions/${petitionId}/delivery.pdf`, 'petition.delivery.export', petitionId],
      [`/admin/mailings/${mailingId}`, 'mailing.report.view', mailingId],
      [`/admin/mailings/${mailingId}/preview?as=rosa%40audit.example`, 'mailing.preview_as', rosaId],
      [`/admin/events/${eventId}`, 'event.rsvps.view', eventId],
      [`/admin/events/${eventId}/check-in`, 'event.checkin.view', eventId],
      [`/admin/events/${eventId}/check-in/print`, 'event.checkin.print', eventId],
      [`/admin/events/${eventId}/rsvps.csv`, 'event.rsvps.export', eventId],
      ['/admin/outbox', 'outbox.view', null],
    ];
    for (const [url, action, subjectId] of pages) {
      const res = await t.app.inject({ url, headers: { cookie: organiser.cookie } });
      expect([url, res.statusCode]).toEqual([url, 200]);
      const rows = await t.ctx.db
        .selectFrom('audit_log')
        .selectAll()
        .where('user_id', '=', organiser.userId)
        .where('action', '=', action)
        .execute();
      expect([url, rows.length]).toEqual([url, 1]);
      expect(rows[0]!.subject_id).toBe(subjectId);
    }
    // The preview as a person says which mailing it was.
    const preview = await t.ctx.db
      .selectFrom('audit_log')
      .select('details')
      .where('action', '=', 'mailing.preview_as')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(preview.details!)).toEqual({ mailingId });
  });
});
