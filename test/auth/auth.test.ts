import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/auth/index.ts';
import { signIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';

type T = Awaited<ReturnType<typeof createTestApp>>;

function cookieFrom(setCookie: string | string[] | undefined, name: string): string | undefined {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const found = all.find((c) => c.startsWith(`${name}=`));
  return found?.split(';')[0]?.slice(name.length + 1);
}

async function loginForm(t: T) {
  const page = await t.app.inject({ method: 'GET', url: '/admin/login' });
  const loginCsrf = /name="_login_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  const cookie = cookieFrom(page.headers['set-cookie'], 'undersign_login');
  return { loginCsrf: loginCsrf!, cookie: `undersign_login=${cookie}` };
}

describe('admin sign-in, sessions, CSRF and roles', () => {
  let t: T;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends signed-out visitors of admin pages to the sign-in page', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/admin/users' });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/admin/login?next=%2Fadmin%2Fusers');
  });

  it('signs in with email and password, stores the session, and signs out', async () => {
    await t.services.auth.createUser({
      email: 'Owner@Example.org',
      password: 'correct horse battery',
      role: 'owner',
    });
    const form = await loginForm(t);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { cookie: form.cookie },
      payload: { email: 'owner@example.org', password: 'wrong password!', _login_csrf: form.loginCsrf },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('The email or password is not correct.');

    const ok = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { cookie: form.cookie },
      payload: {
        email: 'OWNER@example.org',
        password: 'correct horse battery',
        _login_csrf: form.loginCsrf,
        next: '/admin/users',
      },
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/admin/users');
    const token = cookieFrom(ok.headers['set-cookie'], SESSION_COOKIE)!;
    const sessions = await t.ctx.db.selectFrom('sessions').selectAll().execute();
    expect(sessions.some((s) => s.id !== token)).toBe(true); // stored hashed, never the token itself

    const users = await t.app.inject({
      method: 'GET',
      url: '/admin/users',
      headers: { cookie: `${SESSION_COOKIE}=${token}` },
    });
    expect(users.statusCode).toBe(200);
    expect(users.body).toContain('owner@example.org');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(users.body)![1]!;

    const out = await t.app.inject({
      method: 'POST',
      url: '/admin/logout',
      headers: { cookie: `${SESSION_COOKIE}=${token}` },
      payload: { _csrf: csrf },
    });
    expect(out.statusCode).toBe(303);
    const after = await t.app.inject({
      method: 'GET',
      url: '/admin/users',
      headers: { cookie: `${SESSION_COOKIE}=${token}` },
    });
    expect(after.statusCode).toBe(303);
  });

  it('rejects a sign-in form without its CSRF token and never follows an outside next link', async () => {
    const noToken = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      payload: { email: 'owner@example.org', password: 'correct horse battery' },
    });
    expect(noToken.statusCode).toBe(403);
    const form = await loginForm(t);
    const ok = await t.app.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { cookie: form.cookie },
      payload: {
        email: 'owner@example.org',
        password: 'correct horse battery',
        _login_csrf: form.loginCsrf,
        next: '//evil.example/admin',
      },
    });
    expect(ok.headers.location).toBe('/admin');
  });

  it('rejects admin form posts without the session CSRF token', async () => {
    const owner = await signIn(t, 'owner');
    const without = await t.app.inject({
      method: 'POST',
      url: '/admin/users/invite',
      headers: { cookie: owner.cookie },
      payload: { role: 'viewer', _csrf: 'forged' },
    });
    expect(without.statusCode).toBe(403);
    expect(without.body).toContain('Reload the page');
    const invites = await t.ctx.db
      .selectFrom('invites')
      .selectAll()
      .where('created_by', '=', owner.userId)
      .execute();
    expect(invites).toHaveLength(0);
  });

  it('enforces roles on the server: only owners manage users', async () => {
    const admin = await signIn(t, 'admin');
    const page = await t.app.inject({
      method: 'GET',
      url: '/admin/users',
      headers: { cookie: admin.cookie },
    });
    expect(page.statusCode).toBe(403);
    const post = await t.app.inject({
      method: 'POST',
      url: '/admin/users/invite',
      headers: { cookie: admin.cookie },
      payload: { role: 'owner', _csrf: admin.csrf },
    });
    expect(post.statusCode).toBe(403);
    const viewer = await signIn(t, 'viewer');
    const home = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie: viewer.cookie } });
    expect(home.statusCode).toBe(200);
    expect(home.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('invites a user with a one-time link that creates the account and signs them in', async () => {
    const owner = await signIn(t, 'owner');
    const made = await t.app.inject({
      method: 'POST',
      url: '/admin/users/invite',
      headers: { cookie: owner.cookie },
      payload: { role: 'organiser', email: 'new.organiser@example.org', _csrf: owner.csrf },
    });
    expect(made.statusCode).toBe(200);
    const url = /id="invite-url" type="text" readonly value="([^"]+)"/.exec(made.body)![1]!;
    const path = new URL(url).pathname;
    const short = await t.app.inject({ method: 'POST', url: path, payload: { password: 'short' } });
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain('at least 10 characters');
    const accept = await t.app.inject({
      method: 'POST',
      url: path,
      payload: { password: 'a long enough password', display_name: 'Ana' },
    });
    expect(accept.statusCode).toBe(303);
    const user = await t.ctx.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', 'new.organiser@example.org')
      .executeTakeFirst();
    expect(user?.role).toBe('organiser');
    const again = await t.app.inject({ method: 'GET', url: path });
    expect(again.statusCode).toBe(404);
    expect(again.body).toContain('not valid');
  });

  it('keeps at least one owner and locks an account after repeated wrong passwords', async () => {
    const owner = await signIn(t, 'owner');
    await t.ctx.db
      .updateTable('users')
      .set({ role: 'admin' })
      .where('id', '!=', owner.userId)
      .where('role', '=', 'owner')
      .execute();
    const demote = await t.app.inject({
      method: 'POST',
      url: `/admin/users/${owner.userId}/role`,
      headers: { cookie: owner.cookie },
      payload: { role: 'viewer', _csrf: owner.csrf },
    });
    expect(demote.statusCode).toBe(409);
    expect(demote.body).toContain('at least one owner');

    await t.services.auth.createUser({
      email: 'lock@example.org',
      password: 'the right password',
      role: 'viewer',
    });
    for (let i = 0; i < 8; i++) {
      await expect(
        t.services.auth.signIn('lock@example.org', 'wrong', { ip: null, userAgent: null }),
      ).rejects.toThrow();
    }
    await expect(
      t.services.auth.signIn('lock@example.org', 'the right password', { ip: null, userAgent: null }),
    ).rejects.toThrow(/Too many failed sign-in attempts/);
  });
});
