import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/auth/index.ts';
import { MAX_FAILED_LOGINS_PER_IP } from '../../src/auth/service.ts';
import { base32Decode, totp } from '../../src/auth/totp.ts';
import { buildApp } from '../../src/app.ts';
import { createServices } from '../../src/services.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';

type T = Awaited<ReturnType<typeof createTestApp>>;

function cookiesFrom(setCookie: string | string[] | undefined): Record<string, string> {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const out: Record<string, string> = {};
  for (const c of all) {
    const [pair] = c.split(';');
    const at = pair!.indexOf('=');
    out[pair!.slice(0, at)] = pair!.slice(at + 1);
  }
  return out;
}

const header = (cookies: Record<string, string>) =>
  Object.entries(cookies)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');

/** A browser's cookie jar driving the sign-in form through inject. */
async function openLoginForm(t: T, ip = '127.0.0.1', jar: Record<string, string> = {}) {
  const page = await t.app.inject({
    method: 'GET',
    url: '/admin/login',
    remoteAddress: ip,
    headers: { cookie: header(jar) },
  });
  Object.assign(jar, cookiesFrom(page.headers['set-cookie']));
  const loginCsrf = /name="_login_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  return {
    jar,
    async post(url: string, payload: Record<string, string>) {
      const csrf = /name="_login_csrf" value="([^"]+)"/.exec(this.lastBody)?.[1] ?? loginCsrf;
      const response = await t.app.inject({
        method: 'POST',
        url,
        remoteAddress: ip,
        headers: { cookie: header(jar) },
        payload: { ...payload, _login_csrf: csrf },
      });
      Object.assign(jar, cookiesFrom(response.headers['set-cookie']));
      this.lastBody = response.body;
      return response;
    },
    lastBody: page.body,
  };
}

describe('sign-in security: session rotation, throttling, two-factor', () => {
  let t: T;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('gives a new session id at every sign-in and ends the one the browser came with', async () => {
    const email = 'rotate@example.org';
    await t.services.auth.createUser({ email, password: 'rotate password 1', role: 'admin' });
    const first = await openLoginForm(t);
    const one = await first.post('/admin/login', { email, password: 'rotate password 1' });
    expect(one.statusCode).toBe(303);
    const before = first.jar[SESSION_COOKIE]!;
    expect(before).toBeTruthy();

    // Signing in again from a browser that still sends the old session cookie.
    const second = await openLoginForm(t);
    second.jar[SESSION_COOKIE] = before;
    const two = await second.post('/admin/login', { email, password: 'rotate password 1' });
    expect(two.statusCode).toBe(303);
    const after = second.jar[SESSION_COOKIE]!;
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);

    const withOld = await t.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { cookie: `${SESSION_COOKIE}=${before}` },
    });
    expect(withOld.statusCode).toBe(303); // sent to the sign-in page: the old id no longer works
    const withNew = await t.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { cookie: `${SESSION_COOKIE}=${after}` },
    });
    expect(withNew.statusCode).toBe(200);
  });

  it('ends the session the browser came with when an invitation creates an account', async () => {
    const previous = await signIn(t, 'viewer');
    const invite = await t.services.auth.createInvite({ role: 'organiser', createdBy: null });
    const accepted = await t.app.inject({
      method: 'POST',
      url: new URL(invite.url).pathname,
      headers: { cookie: previous.cookie },
      payload: { email: 'invited.rotation@example.org', password: 'a long enough password' },
    });
    expect(accepted.statusCode).toBe(303);
    expect(await t.services.auth.userForSession(previous.sessionToken)).toBeNull();
  });

  it('slows down one address trying many accounts, without locking others out', async () => {
    const email = 'sprayed@example.org';
    await t.services.auth.createUser({ email, password: 'the real password', role: 'viewer' });
    const form = await openLoginForm(t, '203.0.113.9');
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_IP; i++) {
      const wrong = await form.post('/admin/login', {
        email: `nobody${i}@example.org`,
        password: 'guess guess',
      });
      expect(wrong.statusCode).toBe(401);
    }
    const blocked = await form.post('/admin/login', { email, password: 'the real password' });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.body).toContain('Too many failed sign-in attempts from your network');
    expect(blocked.headers['retry-after']).toBeDefined();
    expect(form.jar[SESSION_COOKIE]).toBeUndefined();

    const elsewhere = await openLoginForm(t, '198.51.100.7');
    const ok = await elsewhere.post('/admin/login', { email, password: 'the real password' });
    expect(ok.statusCode).toBe(303);
  });

  it('throttles failures from one address spread across two web processes together', async () => {
    // A second app on the same database, with its own services and memory: another web process.
    const otherServices = createServices(t.ctx);
    const other = await buildApp(t.ctx, otherServices);
    await other.ready();
    try {
      const email = 'spread@example.org';
      await t.services.auth.createUser({ email, password: 'the spread password', role: 'viewer' });
      const ip = '203.0.113.77';
      const forms = [await openLoginForm(t, ip), await openLoginForm({ ...t, app: other }, ip)];
      // Half the failures on each process: neither alone reaches the limit.
      for (let i = 0; i < MAX_FAILED_LOGINS_PER_IP; i++) {
        const wrong = await forms[i % 2]!.post('/admin/login', {
          email: `spread${i}@example.org`,
          password: 'guess guess',
        });
        expect(wrong.statusCode).toBe(401);
      }
      for (const form of forms) {
        const blocked = await form.post('/admin/login', { email, password: 'the spread password' });
        expect(blocked.statusCode).toBe(429);
        expect(blocked.body).toContain('Too many failed sign-in attempts from your network');
        expect(form.jar[SESSION_COOKIE]).toBeUndefined();
      }
      // The shared count names the address only by a keyed hash.
      const rows = await t.ctx.db
        .selectFrom('rate_counts')
        .selectAll()
        .where('scope', '=', 'sign-in-ip')
        .execute();
      expect(rows.some((row) => Number(row.hits) >= MAX_FAILED_LOGINS_PER_IP)).toBe(true);
      expect(JSON.stringify(rows)).not.toContain(ip);
    } finally {
      await other.close();
      otherServices.mailings.close();
      await otherServices.petitions.close();
    }
  });

  it('sets up two-factor sign-in from the account page, then asks for a code at sign-in', async () => {
    const me = await signIn(t, 'organiser');
    const asMe = { cookie: me.cookie };
    const elsewhere = await t.services.auth.startSession(me.userId, {
      ip: '203.0.113.1',
      userAgent: 'other',
    });
    const account = await t.app.inject({ method: 'GET', url: '/admin/account', headers: asMe });
    expect(account.statusCode).toBe(200);
    expect(account.body).toContain('Set up two-factor sign-in');

    const setup = await t.app.inject({ method: 'GET', url: '/admin/account/two-factor', headers: asMe });
    expect(setup.statusCode).toBe(200);
    const uri = /(otpauth:\/\/totp\/[^<\s]+)/.exec(setup.body)![1]!.replace(/&amp;/g, '&');
    const secretText = new URL(uri).searchParams.get('secret')!;
    expect(setup.body).toMatch(/<svg [^>]*role="img"/); // the QR code, drawn on the server
    const stored = await t.ctx.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', me.userId)
      .executeTakeFirstOrThrow();
    expect(stored.totp_secret).not.toContain(secretText); // sealed at rest
    expect(stored.totp_enabled_at).toBeNull(); // not on before a code confirms it

    const secret = base32Decode(secretText);
    const wrongCode = await t.app.inject({
      method: 'POST',
      url: '/admin/account/two-factor',
      headers: asMe,
      payload: { code: '000000', _csrf: me.csrf },
    });
    expect(wrongCode.statusCode).toBe(400);
    expect(wrongCode.body).toContain('That code does not match');

    // Confirmed with the code of the previous step: the next sign-in uses the current one.
    const confirm = await t.app.inject({
      method: 'POST',
      url: '/admin/account/two-factor',
      headers: asMe,
      payload: { code: totp(secret, Date.now() - 30_000), _csrf: me.csrf },
    });
    expect(confirm.statusCode).toBe(200);
    expect(await t.services.auth.userForSession(elsewhere)).toBeNull(); // other sessions end
    expect(await t.services.auth.userForSession(me.sessionToken)).not.toBeNull(); // this one stays
    const codes = [...confirm.body.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map(
      (m) => m[1]!,
    );
    expect(codes).toHaveLength(10);
    const hashes = await t.ctx.db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('user_id', '=', me.userId)
      .execute();
    expect(hashes).toHaveLength(10);
    expect(hashes.map((h) => h.code_hash)).not.toContain(codes[0]); // stored hashed

    // Password alone no longer signs in.
    const form = await openLoginForm(t, '192.0.2.50');
    const step1 = await form.post('/admin/login', { email: me.email, password: me.password });
    expect(step1.statusCode).toBe(200);
    expect(step1.body).toContain('Code from your authenticator app');
    expect(form.jar[SESSION_COOKIE]).toBeUndefined();

    const wrong = await form.post('/admin/login/code', { code: '123456' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('That code is not correct');
    expect(form.jar[SESSION_COOKIE]).toBeUndefined();

    const code = totp(secret, Date.now());
    const step2 = await form.post('/admin/login/code', { code });
    expect(step2.statusCode).toBe(303);
    const session = form.jar[SESSION_COOKIE]!;
    const home = await t.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { cookie: `${SESSION_COOKIE}=${session}` },
    });
    expect(home.statusCode).toBe(200);

    // The same code does not sign in a second time (someone who saw it cannot reuse it).
    const again = await openLoginForm(t, '192.0.2.51');
    await again.post('/admin/login', { email: me.email, password: me.password });
    const replay = await again.post('/admin/login/code', { code });
    expect(replay.statusCode).toBe(401);

    // A recovery code works once.
    const recovered = await again.post('/admin/login/code', { code: codes[0]!.toUpperCase() });
    expect(recovered.statusCode).toBe(303);
    const third = await openLoginForm(t, '192.0.2.52');
    await third.post('/admin/login', { email: me.email, password: me.password });
    expect((await third.post('/admin/login/code', { code: codes[0]! })).statusCode).toBe(401);

    // The code step cannot be reached without the password step.
    const skipper = await openLoginForm(t, '192.0.2.53');
    const skipped = await skipper.post('/admin/login/code', { code: totp(secret, Date.now()) });
    expect(skipped.statusCode).toBe(401);
    expect(skipped.body).toContain('enter your password again');
    const forged = await openLoginForm(t, '192.0.2.54', {
      undersign_2fa: `${me.userId}.${Date.now() + 60_000}.forged`,
    });
    expect((await forged.post('/admin/login/code', { code: totp(secret, Date.now()) })).statusCode).toBe(401);

    const status = await t.services.auth.twoFactorStatus(me.userId);
    expect(status).toEqual({ enabled: true, recoveryCodesLeft: 9 });

    // Phone and codes lost: an owner turns it off from the users page; the user's sessions end.
    const owner = await signIn(t, 'owner');
    const users = await t.app.inject({
      method: 'GET',
      url: '/admin/users',
      headers: { cookie: owner.cookie },
    });
    expect(users.body).toContain(`Turn off two-factor sign-in of ${me.email}`);
    const reset = await t.app.inject({
      method: 'POST',
      url: `/admin/users/${me.userId}/two-factor/reset`,
      headers: { cookie: owner.cookie },
      payload: { _csrf: owner.csrf },
    });
    expect(reset.statusCode).toBe(200);
    expect(await t.services.auth.twoFactorStatus(me.userId)).toEqual({
      enabled: false,
      recoveryCodesLeft: 0,
    });
    expect(await t.services.auth.userForSession(session)).toBeNull();
    const passwordOnly = await openLoginForm(t, '192.0.2.55');
    expect(
      (await passwordOnly.post('/admin/login', { email: me.email, password: me.password })).statusCode,
    ).toBe(303);
    const notOwner = await t.app.inject({
      method: 'POST',
      url: `/admin/users/${owner.userId}/two-factor/reset`,
      headers: { cookie: me.cookie },
      payload: { _csrf: me.csrf },
    });
    expect(notOwner.statusCode).toBe(401); // me's sessions ended with the reset
  });

  it('turns two-factor sign-in off only with the password', async () => {
    const me = await signIn(t, 'admin');
    const setup = await t.app.inject({
      method: 'GET',
      url: '/admin/account/two-factor',
      headers: { cookie: me.cookie },
    });
    const secretText = /secret=([A-Z2-7]+)/.exec(setup.body)![1]!;
    await t.app.inject({
      method: 'POST',
      url: '/admin/account/two-factor',
      headers: { cookie: me.cookie },
      payload: { code: totp(base32Decode(secretText), Date.now()), _csrf: me.csrf },
    });
    expect((await t.services.auth.twoFactorStatus(me.userId)).enabled).toBe(true);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/admin/account/two-factor/disable',
      headers: { cookie: me.cookie },
      payload: { password: 'not it at all', _csrf: me.csrf },
    });
    expect(wrong.statusCode).toBe(400);
    expect((await t.services.auth.twoFactorStatus(me.userId)).enabled).toBe(true);
    const off = await t.app.inject({
      method: 'POST',
      url: '/admin/account/two-factor/disable',
      headers: { cookie: me.cookie },
      payload: { password: me.password, _csrf: me.csrf },
    });
    expect(off.statusCode).toBe(200);
    expect(off.body).toContain('Two-factor sign-in is off.');
    expect(await t.services.auth.twoFactorStatus(me.userId)).toEqual({
      enabled: false,
      recoveryCodesLeft: 0,
    });
    const form = await openLoginForm(t, '192.0.2.60');
    expect((await form.post('/admin/login', { email: me.email, password: me.password })).statusCode).toBe(
      303,
    );
  });
});
