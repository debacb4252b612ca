import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/auth/index.ts';
import { clientPseudonym, createLogger, maskPersonalData } from '../../src/log.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition } from '../petitions/helpers.ts';

type T = Awaited<ReturnType<typeof createTestApp>>;

function cookieValue(setCookie: string | string[] | undefined, name: string): string | undefined {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
}

/** The app's logger at debug level, writing each line into `lines`. */
function loggerInto(lines: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return createLogger('debug', sink);
}

describe('secrets and personal data stay out of the logs', () => {
  let t: T;
  const lines: string[] = [];
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' }, { log: loggerInto(lines) });
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('logs a sign-in, a signing and its confirmation link without the password, the address or the token', async () => {
    const email = 'log.owner@example.org';
    const password = 'a very secret pass phrase';
    await t.services.auth.createUser({ email, password, role: 'owner' });
    const form = await t.app.inject({ method: 'GET', url: '/admin/login' });
    const loginCsrf = /name="_login_csrf" value="([^"]+)"/.exec(form.body)![1]!;
    const loginCookie = cookieValue(form.headers['set-cookie'], 'undersign_login')!;
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { cookie: `undersign_login=${loginCookie}` },
      payload: { email, password: 'not the pass phrase', _login_csrf: loginCsrf },
    });
    expect(wrong.statusCode).toBe(401);
    const retry = /name="_login_csrf" value="([^"]+)"/.exec(wrong.body)![1]!;
    const retryCookie = cookieValue(wrong.headers['set-cookie'], 'undersign_login')!;
    const signedIn = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { cookie: `undersign_login=${retryCookie}`, authorization: 'Bearer some-bearer-secret' },
      payload: { email, password, _login_csrf: retry },
    });
    expect(signedIn.statusCode).toBe(303);
    const session = cookieValue(signedIn.headers['set-cookie'], SESSION_COOKIE)!;
    // An admin search for an address: the query is in the URL, not in the log.
    const search = await t.app.inject({
      method: 'GET',
      url: `/admin/people?q=${encodeURIComponent('searched.person@example.org')}`,
      headers: { cookie: `${SESSION_COOKIE}=${session}` },
    });
    expect(search.statusCode).toBe(200);

    const petition = await openPetition(t, { requiresConfirmation: true });
    const signer = 'signer.in.logs@example.org';
    const signed = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        email: signer,
        given_name: 'Lou',
        postal_code: '94110',
        consent: 'yes',
      }).toString(),
    });
    expect(signed.statusCode, signed.body.slice(0, 300)).toBe(303);
    // The job that turns the signing into a person, a signature and an email logs too.
    await t.ctx.jobs.drain();
    const message = await t.ctx.db
      .selectFrom('transactional_emails')
      .selectAll()
      .where('to_address', '=', signer)
      .executeTakeFirstOrThrow();
    const token = decodeURIComponent(/confirm\?token=([^\s&"\\]+)/.exec(JSON.stringify(message))![1]!);
    const link = `/petitions/${petition.row.slug}/confirm?token=${encodeURIComponent(token)}`;
    const confirmed = await t.app.inject({ method: 'GET', url: link });
    expect(confirmed.statusCode, confirmed.body.slice(0, 500)).toBe(200);
    const bad = await t.app.inject({ method: 'GET', url: `/nowhere/${signer}?token=${token}` });
    expect(bad.statusCode).toBe(404);
    // An error message naming the address (the sign-in form's refusal of a duplicate user).
    await expect(t.services.auth.createUser({ email, password, role: 'owner' })).rejects.toThrow(email);
    t.ctx.log.warn({ err: new Error(`SMTP said 550 ${signer} unknown`) }, `delivery to ${signer} failed`);

    const log = lines.join('\n');
    expect(lines.filter((l) => l.includes('incoming request')).length).toBeGreaterThanOrEqual(7);
    expect(log).toContain('/petitions/:slug/confirm'); // the route pattern stands for the address
    for (const secret of [
      password,
      'not the pass phrase',
      session,
      loginCookie,
      'some-bearer-secret',
      token,
    ]) {
      expect(log).not.toContain(secret);
    }
    for (const address of [email, signer, 'searched.person@example.org', 'searched.person%40example.org']) {
      expect(log.toLowerCase()).not.toContain(address.toLowerCase());
    }
    expect(log).not.toContain('token=');
  });

  it('masks addresses in free text', () => {
    expect(maskPersonalData('550 5.1.1 <ana.lopez+news@mail.example.org>: user unknown')).toBe(
      '550 5.1.1 <[email]>: user unknown',
    );
    expect(maskPersonalData('/people/ana%40example.org?x=1')).toBe('/people/[email]?x=1');
    expect(maskPersonalData('no address @ here, 100%40 off')).toBe('no address @ here, 100%40 off');
  });
});

describe('client IP addresses stay out of the logs', () => {
  let t: T;
  const lines: string[] = [];
  // Behind a proxy (TRUST_PROXY): the client is the X-Forwarded-For address, the socket the proxy's.
  const client = '198.51.100.213';
  const proxy = '192.0.2.201';
  const via = { remoteAddress: proxy, headers: { 'x-forwarded-for': client } };
  beforeAll(async () => {
    t = await createTestApp(
      { TRUST_PROXY: 'true', SIGN_RATE_IP: '1', SIGN_RATE_EMAIL: '0' },
      { log: loggerInto(lines) },
    );
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('logs requests, refused signings and a failed sign-in with a pseudonym at most', async () => {
    const petition = await openPetition(t);
    const page = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}`, ...via });
    expect(page.statusCode).toBe(200);

    const sign = (fields: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: `/petitions/${petition.row.slug}/sign`,
        remoteAddress: proxy,
        headers: { ...via.headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ given_name: 'Ip', postal_code: '94110', ...fields }).toString(),
      });
    const honeypot = await sign({ email: 'bot@example.org', website: 'http://spam.example' });
    expect(honeypot.statusCode).toBeGreaterThanOrEqual(400);
    expect(honeypot.statusCode).toBeLessThan(500);
    expect((await sign({ email: 'first@example.org' })).statusCode).toBe(303);
    expect((await sign({ email: 'second@example.org' })).statusCode).toBe(429);

    await t.services.auth.createUser({
      email: 'ip.owner@example.org',
      password: 'the right password',
      role: 'owner',
    });
    const form = await t.app.inject({ method: 'GET', url: '/admin/login', ...via });
    const csrf = /name="_login_csrf" value="([^"]+)"/.exec(form.body)![1]!;
    const loginCookie = cookieValue(form.headers['set-cookie'], 'undersign_login')!;
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      remoteAddress: proxy,
      headers: { ...via.headers, cookie: `undersign_login=${loginCookie}` },
      payload: { email: 'ip.owner@example.org', password: 'not the password', _login_csrf: csrf },
    });
    expect(wrong.statusCode).toBe(401);
    // The signing attempts are kept as data (the dashboard's refusals), with the address.
    await t.services.petitions.flushPending();
    const kept = await t.ctx.db
      .selectFrom('signing_rejections')
      .select(['reason', 'ip'])
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(kept.map((row) => row.ip)).toEqual([client, client]);

    const rejected = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'signing attempt rejected');
    expect(rejected.map((line) => line.reason).sort()).toEqual(['honeypot', 'rate_limited_ip']);
    // Both refusals name the same client by a pseudonym keyed with the secret, not by its address.
    const pseudonym = clientPseudonym(t.config.secretKey, client);
    expect(rejected.map((line) => line.client)).toEqual([pseudonym, pseudonym]);
    const incoming = lines
      .map((line) => JSON.parse(line) as { msg?: string; req?: { client?: string } })
      .filter((line) => line.msg === 'incoming request');
    expect(incoming.length).toBeGreaterThanOrEqual(6);
    // Request lines name the client by the same pseudonym, so one client's requests can be followed.
    expect(new Set(incoming.map((line) => line.req?.client))).toEqual(new Set([pseudonym]));
    const log = lines.join('\n');
    const parsed = lines.map(
      (line) => JSON.parse(line) as { reqId?: string; req?: { url?: string }; res?: { statusCode?: number } },
    );
    const loginPosts = new Set(
      parsed.filter((line) => line.req?.url === '/admin/login').map((line) => line.reqId),
    );
    expect(parsed.some((line) => loginPosts.has(line.reqId) && line.res?.statusCode === 401)).toBe(true);
    expect(log).not.toContain(client);
    expect(log).not.toContain(proxy);
  });
});
