import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowIso } from '../../src/ids.ts';
import { updateEmailStatus } from '../../src/people/audience/index.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition, sign } from '../mail/fixtures.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/** Everything written so far counts as settled (the scan normally waits a few seconds). */
const justNow = () => ({ now: Date.now() + 1, settleMs: 0 });

/**
 * Erasure reaches what the person's data left behind outside their own rows: webhook deliveries,
 * background API requests, signings not processed yet, import results, audit details. Each part
 * is read before and after, and another person's rows must stay as they were.
 */
describe('privacy: erasure beyond the person’s own rows', () => {
  let t: TestApp;
  let server: Server;
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let hookUrl: string;
  let rosaId: string;
  let samId: string;
  let waitingPetitionId: string;
  let key: string;
  let dir: string;
  const db = () => t.ctx.db;

  const deliveries = () => db().selectFrom('webhook_deliveries').selectAll().orderBy('id').execute();
  const requests = () => db().selectFrom('api_requests').selectAll().orderBy('id').execute();
  const intake = () =>
    db().selectFrom('signature_intake').selectAll().where('status', '=', 'pending').orderBy('id').execute();
  const imports = () =>
    db().selectFrom('imports').select(['id', 'errors', 'message', 'mapping']).orderBy('id').execute();
  const audit = () => db().selectFrom('audit_log').select(['id', 'details']).orderBy('id').execute();
  const rejections = () =>
    db().selectFrom('signing_rejections').select(['id', 'reason', 'email_hash']).orderBy('id').execute();
  const mentionsRosa = (text: string | null) =>
    /rosa@example\.org|Luxemburg|Rosa\b|wetland ?heart/i.test(text ?? '');
  const mentionsSam = (text: string | null) => /sam@example\.org/i.test(text ?? '');

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`;
    t = await createTestApp({ WEBHOOK_RETRY_BASE_MS: '0', WEBHOOK_ALLOW_PRIVATE: 'true' });
    dir = mkdtempSync(join(tmpdir(), 'undersign-erasure-'));
    key = (await t.services.api.createApiKey({ name: 'crm', scope: 'write', createdBy: null })).secret;
    await t.services.api.webhooks.createWebhook({
      url: hookUrl,
      events: ['person.created', 'person.updated', 'person.unsubscribed', 'signature.created'],
      createdBy: null,
    });

    // Signed and processed: people, signatures (with a comment), an unsubscribe; all delivered.
    const petition = await openPetition(t.services, 'Save the wetlands');
    await t.services.petitions.signPetition(
      petition.slug,
      {
        email: 'rosa@example.org',
        givenName: 'Rosa',
        familyName: 'Luxemburg',
        postalCode: '10115',
        comment: 'The wetland heart of the city',
        consent: true,
      },
      { ip: null, userAgent: 'test' },
    );
    await sign(t.services, petition.slug, 'sam@example.org', { givenName: 'Sam' });
    rosaId = (await t.services.people.findPersonIdByEmail('rosa@example.org'))!;
    samId = (await t.services.people.findPersonIdByEmail('sam@example.org'))!;
    await updateEmailStatus(db(), 'rosa@example.org', 'unsubscribed', nowIso());
    await t.services.api.webhooks.scanChanges(justNow());
    await t.ctx.jobs.drain();

    // A signing attempt refused (no proof of work): its log keeps a hash of the address.
    const guarded = await t.services.petitions.createPetition({
      slug: `guarded-${Date.now().toString(36)}`,
      title: 'Guarded',
      requiresConfirmation: false,
      altchaEnabled: true,
    });
    await t.services.petitions.publishPetition(guarded.row.id);
    for (const email of ['rosa@example.org', 'sam@example.org']) {
      await t.services.petitions
        .signPetition(
          guarded.row.slug,
          { email, givenName: 'X', postalCode: '10115', consent: true },
          { ip: null, userAgent: 'test' },
        )
        .catch(() => undefined);
    }
    await t.services.petitions.flushPending();

    // Imports whose results quote the addresses: invalid addresses in rows, and a file whose first
    // row is data (no header), which the failure message quotes.
    const badRows = join(dir, 'bad-rows.csv');
    writeFileSync(badRows, 'email,given_name\n<rosa@example.org>,Rosa\n<sam@example.org>,Sam\n');
    await t.services.people.imports.runImport(
      await t.services.people.imports.createImport({ filename: 'bad-rows.csv', filePath: badRows }),
    );
    const noHeader = join(dir, 'no-header.csv');
    writeFileSync(noHeader, 'Rosa@Example.org,Rosa\nsam@example.org,Sam\n');
    await t.services.people.imports.runImport(
      await t.services.people.imports.createImport({ filename: 'no-header.csv', filePath: noHeader }),
    );

    // Searches typed into the people list: audited with the search terms.
    const viewer = await signIn(t, 'viewer');
    for (const q of ['Rosa@Example.org', 'sam@example.org']) {
      const page = await t.app.inject({
        url: `/admin/people?q=${encodeURIComponent(q)}`,
        headers: { cookie: viewer.cookie },
      });
      expect(page.statusCode).toBe(200);
    }

    // Waiting, not processed (no job runs until after the erasure):
    // a change to Rosa whose delivery is pending,
    const update = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/people/${rosaId}`,
      headers: { 'osdi-api-token': key },
      payload: { family_name: 'Luxemburg-Renamed' },
    });
    expect(update.statusCode).toBe(200);
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    // background API requests for Rosa (typed in capitals) and Sam,
    for (const address of ['ROSA@example.org', 'sam@example.org']) {
      const queued = await t.app.inject({
        method: 'POST',
        url: '/api/v1/people?background_request=true',
        headers: { 'osdi-api-token': key },
        payload: { person: { given_name: 'Queued', email_addresses: [{ address }] }, add_tags: ['later'] },
      });
      expect(queued.statusCode).toBe(202);
    }
    // and signings of another petition by both, still in the intake.
    const waiting = await openPetition(t.services, 'Waiting petition');
    waitingPetitionId = waiting.id;
    for (const email of ['rosa@example.org', 'sam@example.org']) {
      await t.services.petitions.signPetition(
        waiting.slug,
        { email, givenName: email.startsWith('rosa') ? 'Rosa' : 'Sam', postalCode: '10115', consent: true },
        { ip: null, userAgent: 'test' },
      );
    }
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('the data export lists what still waits and the webhook messages about the person', async () => {
    const admin = await signIn(t, 'admin');
    const res = await t.app.inject({
      url: `/admin/people/${rosaId}/data.json`,
      headers: { cookie: admin.cookie },
    });
    expect(res.statusCode).toBe(200);
    const data = JSON.parse(res.body);
    expect(data.pendingSignatures).toHaveLength(1);
    expect(data.pendingSignatures[0]).toMatchObject({
      petitionId: waitingPetitionId,
      fields: { email: 'rosa@example.org', givenName: 'Rosa' },
    });
    expect(data.pendingApiRequests).toHaveLength(1);
    expect(data.pendingApiRequests[0]).toMatchObject({ kind: 'person_signup' });
    expect(JSON.stringify(data.pendingApiRequests[0].body)).toContain('ROSA@example.org');
    const events = data.webhookDeliveries.map(
      (d: { event: string; status: string }) => `${d.event} ${d.status}`,
    );
    expect(events.sort()).toEqual([
      'person.created delivered',
      'person.unsubscribed delivered',
      'person.updated pending',
      'signature.created delivered',
    ]);
    // The receiver, without the path (it often holds a secret).
    expect(
      data.webhookDeliveries.every((d: { sentTo: string }) => d.sentTo === new URL(hookUrl).origin),
    ).toBe(true);
    expect(JSON.stringify(data)).not.toContain('sam@example.org');
  });

  it('erases the person from deliveries, requests, intake, imports, rejections and audit details', async () => {
    // Before: Rosa is in each of these places (and so is Sam).
    const deliveriesBefore = await deliveries();
    const rosaDeliveries = deliveriesBefore.filter((d) => mentionsRosa(d.payload)).map((d) => d.id);
    expect(rosaDeliveries).toHaveLength(4);
    expect(deliveriesBefore.some((d) => d.event_key.includes('rosa@example.org'))).toBe(true);
    const samDeliveries = deliveriesBefore.filter((d) => mentionsSam(d.payload));
    expect(samDeliveries.length).toBeGreaterThan(0);
    const requestsBefore = await requests();
    expect(requestsBefore.map((r) => [r.status, mentionsRosa(r.body), mentionsSam(r.body)])).toEqual([
      ['pending', true, false],
      ['pending', false, true],
    ]);
    const intakeBefore = await intake();
    expect(intakeBefore.map((r) => JSON.parse(r.payload!).fields.email).sort()).toEqual([
      'rosa@example.org',
      'sam@example.org',
    ]);
    const importsBefore = await imports();
    expect(importsBefore.map((i) => mentionsRosa(i.errors) || mentionsRosa(i.message))).toEqual([true, true]);
    const auditBefore = await audit();
    const searched = auditBefore.filter((a) => /rosa@example\.org/i.test(a.details ?? ''));
    expect(searched).toHaveLength(1);
    const rejectionsBefore = await rejections();
    expect(rejectionsBefore).toHaveLength(2);
    expect(rejectionsBefore.every((r) => r.email_hash !== null)).toBe(true);

    const owner = await signIn(t, 'owner');
    const erased = await t.app.inject({
      method: 'POST',
      url: `/admin/people/${rosaId}/erase`,
      headers: { cookie: owner.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: owner.csrf, confirm: 'yes' }).toString(),
    });
    expect(erased.statusCode).toBe(303);

    // Webhook deliveries: every row, status and time stays; Rosa's payloads and keys lose her data.
    const deliveriesAfter = await deliveries();
    expect(deliveriesAfter.map((d) => [d.id, d.status, d.attempts, d.created_at, d.delivered_at])).toEqual(
      deliveriesBefore.map((d) => [d.id, d.status, d.attempts, d.created_at, d.delivered_at]),
    );
    expect(deliveriesAfter.filter((d) => mentionsRosa(d.payload) || mentionsRosa(d.event_key))).toEqual([]);
    for (const d of deliveriesAfter.filter((d) => rosaDeliveries.includes(d.id))) {
      const payload = JSON.parse(d.payload);
      expect(payload.event).toBe(d.event);
      if (d.event === 'signature.created') {
        expect(payload.data.comments).toBeNull();
        expect(payload.data._links['osdi:person'].href).toContain(rosaId);
      } else {
        const person = d.event === 'person.unsubscribed' ? payload.data.person : payload.data;
        expect(person).toMatchObject({
          identifiers: [`undersign:${rosaId}`],
          given_name: null,
          family_name: null,
          email_addresses: [],
          postal_addresses: [],
        });
      }
    }
    expect(deliveriesAfter.filter((d) => mentionsSam(d.payload))).toEqual(samDeliveries);

    // Background requests: Rosa's is rejected as erased, its body gone; Sam's still waits.
    const requestsAfter = await requests();
    expect(requestsAfter[0]).toMatchObject({ status: 'rejected', error: 'erased', body: null });
    expect(requestsAfter[1]).toEqual(requestsBefore[1]);

    // Intake: Rosa's pending signing is gone, Sam's stays.
    expect(await intake()).toEqual(
      intakeBefore.filter((r) => JSON.parse(r.payload!).fields.email === 'sam@example.org'),
    );

    // Imports: the quoted address is erased, Sam's row errors stay.
    const importsAfter = await imports();
    expect(
      importsAfter.map((i) => [mentionsRosa(i.errors), mentionsRosa(i.message), mentionsRosa(i.mapping)]),
    ).toEqual([
      [false, false, false],
      [false, false, false],
    ]);
    expect(importsAfter[0]!.errors).toContain('[erased]');
    expect(importsAfter[0]!.errors).toContain('<sam@example.org>');
    expect(importsAfter[1]!.message).toContain('[erased]');

    // Audit: every entry stays (who looked when), the typed address does not.
    const auditAfter = await audit();
    expect(auditAfter.find((a) => a.id === searched[0]!.id)!.details).toBe(
      searched[0]!.details!.replace(/rosa@example\.org/i, '[erased]'),
    );
    expect(auditAfter.filter((a) => mentionsRosa(a.details))).toEqual([]);
    expect(auditAfter.filter((a) => a.details?.includes('sam@example.org'))).toHaveLength(1);
    const erasure = await t.services.auth.listAudit({ subjectType: 'person', subjectId: rosaId });
    expect(erasure.find((a) => a.action === 'person.erase')!.details).toBe(
      JSON.stringify({
        pendingSignings: 1,
        webhookDeliveries: 4,
        apiRequests: 1,
        imports: 2,
        auditEntries: 1,
      }),
    );

    // Rejected attempts stay counted; Rosa's loses the hash of her address.
    const rejectionsAfter = await rejections();
    expect(rejectionsAfter.map((r) => r.id)).toEqual(rejectionsBefore.map((r) => r.id));
    expect(rejectionsAfter.filter((r) => r.email_hash === null)).toHaveLength(1);

    // What was waiting runs now: Rosa is not made again, her pending delivery goes out without her
    // data, and Sam's request and signing are processed as usual.
    received.length = 0;
    await t.ctx.jobs.drain();
    expect(await t.services.people.findPersonIdByEmail('rosa@example.org')).toBeNull();
    expect((await t.services.people.searchPeople({ q: 'rosa' })).total).toBe(0);
    expect(received.map((r) => r.headers['undersign-event'])).toEqual(['person.updated']);
    expect(mentionsRosa(received[0]!.body)).toBe(false);
    expect(JSON.parse(received[0]!.body).data.identifiers).toEqual([`undersign:${rosaId}`]);
    expect((await requests())[1]).toMatchObject({ status: 'done', result_id: samId });
    const signers = await db()
      .selectFrom('signatures')
      .select('person_id')
      .where('petition_id', '=', waitingPetitionId)
      .execute();
    expect(signers.map((s) => s.person_id)).toEqual([samId]);
  });
});
