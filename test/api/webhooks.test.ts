import { createHmac } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, type ResolvedAddress } from '../../src/api/webhooks/address.ts';
import { nowIso } from '../../src/ids.ts';
import { updateEmailStatus } from '../../src/people/audience/index.ts';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A real HTTP receiver (on 127.0.0.1 unless told) that answers with the queued statuses, then 200. */
async function startReceiver(
  host = '127.0.0.1',
  port = 0,
): Promise<{
  url: string;
  received: Received[];
  answers: number[];
  server: Server;
}> {
  const received: Received[] = [];
  const answers: number[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answered = answers.shift() ?? 200;
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      response.statusCode = answered;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const bound = (server.address() as AddressInfo).port;
  return { url: `http://${host}:${bound}/hooks/undersign`, received, answers, server };
}

/** Everything written so far counts as settled (the scan normally waits a few seconds for slow commits). */
const justNow = () => ({ now: Date.now() + 1, settleMs: 0 });

function verify(secret: string, header: string, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest('hex');
  return expected === match[2];
}

describe('webhooks', () => {
  let t: TestApp;
  let admin: SignedIn;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let webhookId: string;
  let secret: string;
  let key: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    // The test receiver listens on loopback, which webhooks refuse unless allowed.
    t = await createTestApp({ WEBHOOK_RETRY_BASE_MS: '0', WEBHOOK_ALLOW_PRIVATE: 'true' });
    admin = await signIn(t, 'admin');
    key = (await t.services.api.createApiKey({ name: 'hooks', scope: 'write', createdBy: null })).secret;
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  const received = (event: string) =>
    receiver.received
      .filter((r) => r.headers['undersign-event'] === event && r.answered === 200)
      .map((r) => JSON.parse(r.body));

  it('an admin registers a URL for chosen events; the secret is shown on its page', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/webhooks',
      headers: { cookie: admin.cookie },
      payload: { _csrf: admin.csrf, url: 'ftp://example.org/x', events: 'person.created' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('must start with https:// or http://');
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/webhooks',
      headers: { cookie: admin.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams([
        ['_csrf', admin.csrf],
        ['url', receiver.url],
        ['events', 'person.created'],
        ['events', 'person.updated'],
        ['events', 'person.unsubscribed'],
        ['events', 'signature.created'],
        ['events', 'signature.confirmed'],
        ['events', 'mailing.sent'],
      ]).toString(),
    });
    expect(response.statusCode).toBe(303);
    webhookId = response.headers.location!.split('/').pop()!;
    const page = await t.app.inject({
      method: 'GET',
      url: `/admin/webhooks/${webhookId}`,
      headers: { cookie: admin.cookie },
    });
    expect(page.statusCode).toBe(200);
    secret = /<code>(whsec_[A-Za-z0-9_-]+)<\/code>/.exec(page.body)![1]!;
    expect(page.body).toContain(receiver.url);
  });

  it('delivers signed events for people, signatures, unsubscribes and mailings, retrying a failed delivery', async () => {
    // person.created through the API
    const signup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': key },
      payload: { person: { given_name: 'Hook', email_addresses: [{ address: 'hook@example.org' }] } },
    });
    expect(signup.statusCode).toBe(200);
    const personId = (signup.json().identifiers[0] as string).slice('undersign:'.length);
    // signature.created through the web form's service, then confirmed from the emailed link
    const petition = await t.services.petitions.createPetition({
      slug: 'hooks-petition',
      title: 'Hooks',
      altchaEnabled: false,
      requiresConfirmation: true,
      formSettings: { postalCode: 'optional' },
    });
    await t.services.petitions.publishPetition(petition.row.id);
    const signed = await t.services.petitions.signPetition(
      'hooks-petition',
      { email: 'signer@example.org', givenName: 'Signer' },
      { ip: '192.0.2.1', userAgent: 'test' },
    );
    await t.services.petitions.processPendingIntake();
    // The first attempt of the first delivery fails; the retry goes through.
    receiver.answers.push(500);
    const firstScan = await t.services.api.webhooks.scanChanges(justNow());
    expect(firstScan).toBe(3);
    await t.ctx.jobs.drain();
    const created = received('person.created').map((e) => e.data.identifiers[0]);
    expect(created).toHaveLength(2);
    expect(created).toContain(`undersign:${personId}`);
    expect(received('signature.created')).toHaveLength(1);
    expect(received('signature.created')[0].data.identifiers).toEqual([`undersign:${signed.signatureId}`]);

    const link = t.services.petitions.confirmationLink('hooks-petition', signed.signatureId, 'en');
    await t.services.petitions.confirmSignature('hooks-petition', new URL(link).searchParams.get('token')!);
    const update = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/people/${personId}`,
      headers: { 'osdi-api-token': key },
      payload: { family_name: 'Renamed' },
    });
    expect(update.statusCode).toBe(200);
    await updateEmailStatus(t.ctx.db, 'signer@example.org', 'unsubscribed', nowIso());
    const mailingId = await t.services.mailings.createMailing({
      fromName: 'Org',
      fromAddress: 'org@example.org',
      subject: 'Hello',
      body: 'Hi',
      format: 'markdown',
    });
    await t.ctx.db
      .updateTable('mailings')
      .set({ status: 'sent', finished_at: nowIso() })
      .where('id', '=', mailingId)
      .execute();
    const secondScan = await t.services.api.webhooks.scanChanges(justNow());
    expect(secondScan).toBe(4);
    await t.ctx.jobs.drain();

    expect(received('signature.confirmed')).toHaveLength(1);
    expect(received('signature.confirmed')[0].data.confirmed).toBe(true);
    expect(received('person.updated').map((e) => e.data.family_name)).toEqual(['Renamed']);
    expect(received('person.unsubscribed').map((e) => e.data.email_address)).toEqual(['signer@example.org']);
    expect(received('mailing.sent').map((e) => e.data.subject)).toEqual(['Hello']);

    // Every request is signed with the webhook's secret over the exact body.
    for (const r of receiver.received) {
      expect(verify(secret, String(r.headers['undersign-signature']), r.body)).toBe(true);
      expect(verify('wrong-secret', String(r.headers['undersign-signature']), r.body)).toBe(false);
    }
    // 7 events, one of them sent twice
    expect(receiver.received).toHaveLength(8);
    const deliveries = await t.ctx.db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute();
    expect(deliveries).toHaveLength(7);
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(deliveries.map((d) => d.attempts).sort()).toEqual([1, 1, 1, 1, 1, 1, 2]);

    // Scanning again finds nothing new: no duplicates.
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(0);
    await t.ctx.jobs.drain();
    expect(receiver.received).toHaveLength(8);
  });

  it('the admin shows the delivery log; a disabled webhook gets nothing more', async () => {
    const page = await t.app.inject({
      method: 'GET',
      url: `/admin/webhooks/${webhookId}`,
      headers: { cookie: admin.cookie },
    });
    expect(page.body).toContain('signature.confirmed');
    expect(page.body).toContain('delivered');
    const disable = await t.app.inject({
      method: 'POST',
      url: `/admin/webhooks/${webhookId}/disable`,
      headers: { cookie: admin.cookie },
      payload: { _csrf: admin.csrf },
    });
    expect(disable.statusCode).toBe(303);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { 'osdi-api-token': key },
      payload: { person: { email_addresses: [{ address: 'after-disable@example.org' }] } },
    });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(0);
    await t.ctx.jobs.drain();
    expect(receiver.received).toHaveLength(8);
  });

  it('gives up after repeated failures and says so in the log', async () => {
    const hook = await t.services.api.webhooks.createWebhook({
      url: receiver.url,
      events: ['person.created'],
      createdBy: null,
    });
    for (let i = 0; i < 10; i++) receiver.answers.push(503);
    await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'doomed@example.org' });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    await t.ctx.jobs.drain();
    const [delivery] = await t.services.api.webhooks.listDeliveries(hook.id);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 10,
      response_status: 503,
      last_error: 'HTTP 503',
    });
  });

  it('a new subscriber to an event gets what happens from now on, not the history', async () => {
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    await t.ctx.db.updateTable('mailings').set({ finished_at: hourAgo }).execute();
    // As if nobody had read the mailings feed for two hours.
    await t.ctx.db
      .updateTable('webhook_cursors')
      .set({ position: new Date(Date.now() - 7200_000).toISOString() })
      .where('source', '=', 'mailings')
      .execute();
    const hook = await t.services.api.webhooks.createWebhook({
      url: receiver.url,
      events: ['mailing.sent'],
      createdBy: null,
    });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(0);
    expect(await t.services.api.webhooks.listDeliveries(hook.id)).toEqual([]);
  });
});

describe('webhook change feed and late commits', () => {
  let t: TestApp;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
    t = await createTestApp({ WEBHOOK_RETRY_BASE_MS: '0', WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('a mailing that finishes sending is an event however many mailings were made after it', async () => {
    const hook = await t.services.api.webhooks.createWebhook({
      url: receiver.url,
      events: ['mailing.sent'],
      createdBy: null,
    });
    const mailing = (subject: string) =>
      t.services.mailings.createMailing({
        fromName: 'Org',
        fromAddress: 'org@example.org',
        subject,
        body: 'Hi',
        format: 'markdown',
      });
    const early = await mailing('Made first, sent last');
    for (let i = 0; i < 210; i++) await mailing(`Draft ${i}`);
    await t.ctx.db
      .updateTable('mailings')
      .set({ status: 'sent', finished_at: nowIso() })
      .where('id', '=', early)
      .execute();
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    const [delivery] = await t.services.api.webhooks.listDeliveries(hook.id);
    expect(JSON.parse(delivery!.payload).data.subject).toBe('Made first, sent last');
    await t.services.api.webhooks.disableWebhook(hook.id, null);
  });

  it('a change whose transaction commits after the feed read its time is still delivered, exactly once; a newer subscriber does not get it', async () => {
    const hook = await t.services.api.webhooks.createWebhook({
      url: receiver.url,
      events: ['person.created', 'person.updated'],
      createdBy: null,
    });
    // Registered an hour ago.
    const start = Date.now();
    await t.ctx.db
      .updateTable('webhooks')
      .set({ created_at: new Date(start - 3600_000).toISOString() })
      .where('id', '=', hook.id)
      .execute();
    expect(await t.services.api.webhooks.scanChanges({ now: start })).toBe(0);
    // A person stamped 10 s before that read, whose transaction was still open then: it is visible
    // only now. So is an update stamped 20 s before it.
    const stamped = new Date(start - 10_000).toISOString();
    const late = await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'late@example.org' });
    const known = await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'known@example.org' });
    await t.ctx.db
      .updateTable('people')
      .set({ created_at: stamped, updated_at: stamped })
      .where('id', '=', late.personId)
      .execute();
    await t.ctx.db
      .updateTable('people')
      .set({ created_at: '2025-01-01T00:00:00.000Z', updated_at: new Date(start - 20_000).toISOString() })
      .where('id', '=', known.personId)
      .execute();
    // A webhook registered after the change was stamped gets none of it.
    const newer = await t.services.api.webhooks.createWebhook({
      url: receiver.url,
      events: ['person.created', 'person.updated'],
      createdBy: null,
    });
    // The first read moved past that time and misses them; a later pass reads the window again.
    expect(await t.services.api.webhooks.scanChanges({ now: start + 10_000 })).toBe(0);
    expect(await t.services.api.webhooks.scanChanges({ now: start + 70_000 })).toBe(2);
    // Later passes read it once more: logged already, nothing new.
    expect(await t.services.api.webhooks.scanChanges({ now: start + 20 * 60_000 })).toBe(0);
    await t.ctx.jobs.drain();
    const events = receiver.received.map((r) => JSON.parse(r.body));
    expect(events.map((e) => [e.event, e.data.email_addresses[0].address]).sort()).toEqual([
      ['person.created', 'late@example.org'],
      ['person.updated', 'known@example.org'],
    ]);
    expect(receiver.received.every((r) => r.headers['undersign-delivery'])).toBe(true);
    expect(await t.services.api.webhooks.listDeliveries(newer.id)).toEqual([]);
    expect((await t.services.api.webhooks.listDeliveries(hook.id)).map((d) => d.status)).toEqual([
      'delivered',
      'delivered',
    ]);
  });

  it('housekeeping deletes delivery logs older than 30 days', async () => {
    const hook = (await t.services.api.webhooks.listWebhooks()).find((h) => !h.disabled_at);
    const before = await t.services.api.webhooks.listDeliveries(hook!.id);
    expect(before).toHaveLength(2);
    await t.ctx.db
      .updateTable('webhook_deliveries')
      .set({ updated_at: new Date(Date.now() - 31 * 24 * 3600_000).toISOString() })
      .where('id', '=', before[0]!.id)
      .execute();
    await t.services.api.purgeProcessed();
    expect((await t.services.api.webhooks.listDeliveries(hook!.id)).map((d) => d.id)).toEqual([
      before[1]!.id,
    ]);
  });
});

describe('webhook change feed volume', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('every unsubscribe of a bulk change with one timestamp becomes an event, past a page of 500', async () => {
    const hook = await t.services.api.webhooks.createWebhook({
      url: 'http://127.0.0.1:9/never-drained',
      events: ['person.unsubscribed'],
      createdBy: null,
    });
    const inputs = Array.from({ length: 1_234 }, (_, i) => ({
      email: `bulk${i}@example.org`,
      subscribe: true,
    }));
    await t.services.people.mergePeople(t.ctx.db, inputs);
    await t.ctx.db
      .updateTable('emails')
      .set({ status: 'unsubscribed', updated_at: new Date(Date.now() + 1).toISOString() })
      .where('address', 'like', 'bulk%')
      .execute();
    expect(await t.services.api.webhooks.scanChanges({ now: Date.now() + 10, settleMs: 0 })).toBe(1_234);
    const logged = await t.ctx.db
      .selectFrom('webhook_deliveries')
      .select('event_key')
      .where('webhook_id', '=', hook.id)
      .execute();
    expect(new Set(logged.map((d) => d.event_key)).size).toBe(1_234);
  });
});

describe('webhook address pinning', () => {
  let t: TestApp;
  let first: Awaited<ReturnType<typeof startReceiver>>;
  let second: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    // Two receivers on the same port of two loopback addresses: which one is reached shows which
    // answer of the resolver the connection used.
    first = await startReceiver('127.0.0.1');
    const port = Number(new URL(first.url).port);
    second = await startReceiver('127.0.0.2', port);
    t = await createTestApp({ WEBHOOK_RETRY_BASE_MS: '0', WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => first.server.close(resolve));
    await new Promise((resolve) => second.server.close(resolve));
  });

  it('resolves the name once per delivery and connects to that answer, keeping the Host header', async () => {
    const port = Number(new URL(first.url).port);
    const answers: string[] = [];
    // A name whose every lookup answers differently (as a rebinding attacker's DNS would).
    t.services.api.webhooks.useResolver(async (host): Promise<ResolvedAddress[]> => {
      expect(host).toBe('rebinding.test');
      const address = answers.length % 2 === 0 ? '127.0.0.1' : '127.0.0.2';
      answers.push(address);
      return [{ address, family: 4 }];
    });
    await t.services.api.webhooks.createWebhook({
      url: `http://rebinding.test:${port}/hooks`,
      events: ['person.created'],
      createdBy: null,
    });
    await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'pinned-one@example.org' });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    await t.ctx.jobs.drain();
    expect(answers).toEqual(['127.0.0.1']);
    expect(first.received.map((r) => r.headers.host)).toEqual([`rebinding.test:${port}`]);
    expect(second.received).toEqual([]);
    // The next delivery asks again, and goes where that answer says.
    await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'pinned-two@example.org' });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    await t.ctx.jobs.drain();
    expect(answers).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(first.received).toHaveLength(1);
    expect(second.received.map((r) => JSON.parse(r.body).data.email_addresses[0].address)).toEqual([
      'pinned-two@example.org',
    ]);
  });
});

/** A self-signed certificate for `name`, made with the openssl command (null when it is missing). */
function selfSignedCertificate(name: string): { key: string; cert: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'undersign-tls-'));
  try {
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    if (made.status !== 0) return null;
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('webhook address pinning over HTTPS', () => {
  const certificate = selfSignedCertificate('pinned.test');
  let t: TestApp;
  let server: HttpsServer;
  const seen: Array<{ host: string | undefined; servername: string | false | null }> = [];
  const defaultCas = getCACertificates('default');

  beforeAll(async () => {
    if (!certificate) return;
    setDefaultCACertificates([...defaultCas, certificate.cert]);
    server = createHttpsServer(certificate, (request, response) => {
      seen.push({ host: request.headers.host, servername: (request.socket as TLSSocket).servername });
      request.resume();
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t = await createTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    if (!certificate) return;
    setDefaultCACertificates(defaultCas);
    await t.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it.skipIf(!certificate)(
    'connects to the pinned address with the name for SNI and certificate checks',
    async () => {
      const port = (server.address() as AddressInfo).port;
      t.services.api.webhooks.useResolver(async () => [{ address: '127.0.0.1', family: 4 }]);
      const good = await t.services.api.webhooks.createWebhook({
        url: `https://pinned.test:${port}/hook`,
        events: ['person.created'],
        createdBy: null,
      });
      // Same address, a name the certificate is not for: refused by the certificate check.
      const wrong = await t.services.api.webhooks.createWebhook({
        url: `https://elsewhere.test:${port}/hook`,
        events: ['person.created'],
        createdBy: null,
      });
      await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'tls@example.org' });
      expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(2);
      await t.ctx.jobs.drain();
      expect(seen).toEqual([{ host: `pinned.test:${port}`, servername: 'pinned.test' }]);
      expect((await t.services.api.webhooks.listDeliveries(good.id)).map((d) => d.status)).toEqual([
        'delivered',
      ]);
      const [refused] = await t.services.api.webhooks.listDeliveries(wrong.id);
      expect(refused!.status).toBe('pending');
      expect(refused!.last_error).toMatch(/altnames/);
    },
  );
});

describe('webhook addresses', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses addresses inside the server network unless the operator allows them', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.1.2.3/hook',
      'http://[::1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::ffff:192.168.0.1]/hook',
    ]) {
      await expect(
        t.services.api.webhooks.createWebhook({ url, events: ['person.created'], createdBy: null }),
      ).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('inside this server') });
    }
    expect(await t.ctx.db.selectFrom('webhooks').selectAll().execute()).toEqual([]);
  });

  it('checks every address a name resolves to, at registration and again at each delivery', async () => {
    const receiver = await startReceiver();
    const port = Number(new URL(receiver.url).port);
    let answer: ResolvedAddress[] = [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.8', family: 4 },
    ];
    const lookups: string[] = [];
    t.services.api.webhooks.useResolver(async (host) => {
      lookups.push(host);
      return answer;
    });
    await expect(
      t.services.api.webhooks.createWebhook({
        url: `http://mixed.test:${port}/hook`,
        events: ['person.created'],
        createdBy: null,
      }),
    ).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('inside this server') });
    // Public when registered, pointed at the server itself by the time of the delivery.
    answer = [{ address: '93.184.216.34', family: 4 }];
    const hook = await t.services.api.webhooks.createWebhook({
      url: `http://rebound.test:${port}/hook`,
      events: ['person.created'],
      createdBy: null,
    });
    answer = [{ address: '127.0.0.1', family: 4 }];
    await t.services.people.mergePersonByEmail(t.ctx.db, { email: 'rebound@example.org' });
    expect(await t.services.api.webhooks.scanChanges(justNow())).toBe(1);
    await t.ctx.jobs.drain();
    expect(lookups).toEqual(['mixed.test', 'rebound.test', 'rebound.test']);
    expect(receiver.received).toEqual([]);
    const [delivery] = await t.services.api.webhooks.listDeliveries(hook.id);
    expect(delivery!.last_error).toContain('inside this server');
    expect(delivery!.response_status).toBeNull();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('tells private from public addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
    ]) {
      expect(isPrivateAddress(ip)).toBe(true);
    }
    for (const ip of [
      '93.184.216.34',
      '172.32.0.1',
      '8.8.8.8',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '::ffff:808:808',
    ]) {
      expect(isPrivateAddress(ip)).toBe(false);
    }
  });
});
