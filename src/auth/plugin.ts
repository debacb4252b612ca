import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../context.ts';
import { AppError, isAppError } from '../errors.ts';
import { requireRole, userOf } from './guard.ts';
import {
  accountPage,
  homePage,
  invitePage,
  loginPage,
  recoveryCodesPage,
  secondFactorPage,
  twoFactorSetupPage,
  usersPage,
} from './pages.ts';
import { qrCodeSvg } from './qr.ts';
import { isRole } from './roles.ts';
import { MIN_PASSWORD_LENGTH, type AuthService, type CurrentUser } from './service.ts';

export const SESSION_COOKIE = 'undersign_session';
const LOGIN_CSRF_COOKIE = 'undersign_login';
/** Carries the signed result of the password step to the code step (two-factor sign-in). */
const SECOND_FACTOR_COOKIE = 'undersign_2fa';

function meta(request: FastifyRequest) {
  return { ip: request.ip ?? null, userAgent: request.headers['user-agent'] ?? null };
}

/** Only same-site admin paths are followed after sign-in (no open redirect). */
function safeNext(next: string | undefined): string {
  if (next && /^\/admin(\/[^\\]*)?(\?.*)?$/.test(next) && !next.startsWith('//')) return next;
  return '/admin';
}

function isAdminPath(url: string): boolean {
  return url === '/admin' || url.startsWith('/admin/') || url.startsWith('/admin?');
}

const sessionExempt = /^\/admin\/(login(\/code)?|invite\/[^/?]+)(\?|$)/;

/**
 * Hooks on the root instance: every request under /admin learns who is signed in, and every
 * state-changing admin request must carry the session's CSRF token.
 */
export function installAuthHooks(app: FastifyInstance, auth: AuthService, ctx: AppContext): void {
  app.decorateRequest('currentUser', null);
  const secureCookie = ctx.config.publicUrl.startsWith('https://');

  // Callback hooks: public pages and signing pass both without a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isAdminPath(request.url) && !request.url.startsWith('/api/')) {
      done();
      return;
    }
    auth.userForSession(request.cookies[SESSION_COOKIE]).then((user) => {
      request.currentUser = user;
      done();
    }, done);
  });

  app.addHook('preHandler', (request, _reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return done();
    if (!isAdminPath(request.url) || sessionExempt.test(request.url)) return done();
    const user = request.currentUser;
    if (!user) return done(); // requireRole answers 401
    const body = request.body as Record<string, unknown> | undefined;
    const query = request.query as Record<string, unknown> | undefined;
    const token =
      (body && typeof body === 'object' ? body._csrf : undefined) ??
      request.headers['x-csrf-token'] ??
      query?._csrf;
    if (!auth.verifyCsrf(user, token)) {
      return done(
        new AppError(
          'forbidden',
          'This form has expired or did not come from this site. Reload the page and try again.',
        ),
      );
    }
    done();
  });

  app.decorate('sessionCookieOptions', {
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: secureCookie,
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    sessionCookieOptions: { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean };
  }
}

export interface AuthPluginOptions {
  ctx: AppContext;
  auth: AuthService;
  homeSections: () => readonly { href: string; label: string; text: string }[];
  /** The admin home page (the organisation dashboard); a list of links when absent. */
  home?: (user: CurrentUser) => Promise<{ value: string }>;
}

export async function authPlugin(
  instance: FastifyInstance,
  { ctx, auth, homeSections, home }: AuthPluginOptions,
): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const orgName = ctx.config.orgName;
  const html = (reply: FastifyReply) => reply.type('text/html; charset=utf-8');

  function newLoginCsrf(reply: FastifyReply): string {
    const token = randomBytes(18).toString('base64url');
    reply.setCookie(LOGIN_CSRF_COOKIE, token, { ...instance.sessionCookieOptions, path: '/admin' });
    return token;
  }

  app.get(
    '/admin/login',
    { schema: { querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 2000 })) }) } },
    async (request, reply) => {
      if (request.currentUser) return reply.redirect(safeNext(request.query.next), 303);
      return html(reply).send(
        loginPage({ next: safeNext(request.query.next), loginCsrf: newLoginCsrf(reply), orgName }).value,
      );
    },
  );

  /** A sign-in form is current when it carries the token its cookie holds. */
  function loginFormCurrent(request: FastifyRequest, token: string | undefined): boolean {
    const cookieToken = request.cookies[LOGIN_CSRF_COOKIE];
    return Boolean(cookieToken) && cookieToken === token;
  }

  /** An expired sign-in form is shown again (with a fresh token), keeping the typed address. */
  function sendExpiredLoginForm(reply: FastifyReply, next: string, email?: string) {
    reply.status(403);
    return html(reply).send(
      loginPage({
        next,
        loginCsrf: newLoginCsrf(reply),
        ...(email === undefined ? {} : { email }),
        error: 'The sign-in form expired. Please try again.',
        orgName,
      }).value,
    );
  }

  app.post(
    '/admin/login',
    {
      schema: {
        body: Type.Object({
          email: Type.String({ maxLength: 320 }),
          password: Type.String({ maxLength: 1000 }),
          next: Type.Optional(Type.String({ maxLength: 2000 })),
          _login_csrf: Type.Optional(Type.String({ maxLength: 100 })),
        }),
      },
    },
    async (request, reply) => {
      const next = safeNext(request.body.next);
      if (!loginFormCurrent(request, request.body._login_csrf)) {
        return sendExpiredLoginForm(reply, next, request.body.email);
      }
      try {
        const result = await auth.signIn(request.body.email, request.body.password, meta(request));
        if ('secondFactor' in result) {
          reply.setCookie(SECOND_FACTOR_COOKIE, result.secondFactor, {
            ...instance.sessionCookieOptions,
            path: '/admin/login',
            maxAge: 300,
          });
          return html(reply).send(secondFactorPage({ next, loginCsrf: newLoginCsrf(reply), orgName }).value);
        }
        return await startSignedIn(request, reply, result.session, next);
      } catch (error) {
        if (!isAppError(error) || (error.code !== 'unauthorized' && error.code !== 'rate_limited'))
          throw error;
        if (typeof error.details?.retryAfter === 'number') {
          reply.header('retry-after', String(error.details.retryAfter));
        }
        reply.status(error.status);
        return html(reply).send(
          loginPage({
            next,
            loginCsrf: newLoginCsrf(reply),
            email: request.body.email,
            error: error.message,
            orgName,
          }).value,
        );
      }
    },
  );

  /**
   * Hands out a new session: the session the browser came with (if any) ends, so a sign-in
   * always changes the session id and an id known before it is worthless after.
   */
  async function startSignedIn(request: FastifyRequest, reply: FastifyReply, token: string, next: string) {
    await auth.signOut(request.cookies[SESSION_COOKIE]);
    reply.clearCookie(LOGIN_CSRF_COOKIE, { path: '/admin' });
    reply.clearCookie(SECOND_FACTOR_COOKIE, { path: '/admin/login' });
    reply.setCookie(SESSION_COOKIE, token, instance.sessionCookieOptions);
    return reply.redirect(next, 303);
  }

  app.post(
    '/admin/login/code',
    {
      schema: {
        body: Type.Object({
          code: Type.String({ maxLength: 100 }),
          next: Type.Optional(Type.String({ maxLength: 2000 })),
          _login_csrf: Type.Optional(Type.String({ maxLength: 100 })),
        }),
      },
    },
    async (request, reply) => {
      const next = safeNext(request.body.next);
      if (!loginFormCurrent(request, request.body._login_csrf)) return sendExpiredLoginForm(reply, next);
      try {
        const token = await auth.completeSecondFactor(
          request.cookies[SECOND_FACTOR_COOKIE],
          request.body.code,
          meta(request),
        );
        return await startSignedIn(request, reply, token, next);
      } catch (error) {
        if (!isAppError(error) || (error.code !== 'unauthorized' && error.code !== 'rate_limited'))
          throw error;
        if (typeof error.details?.retryAfter === 'number') {
          reply.header('retry-after', String(error.details.retryAfter));
        }
        reply.status(error.status);
        const ticketStillGood = error.code === 'unauthorized' && !/took too long/.test(error.message);
        return html(reply).send(
          (ticketStillGood
            ? secondFactorPage({ next, loginCsrf: newLoginCsrf(reply), error: error.message, orgName })
            : loginPage({ next, loginCsrf: newLoginCsrf(reply), error: error.message, orgName })
          ).value,
        );
      }
    },
  );

  app.post('/admin/logout', async (request, reply) => {
    await auth.signOut(request.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/admin/login', 303);
  });

  app.get('/admin', { preHandler: requireRole('viewer') }, async (request, reply) =>
    html(reply).send(
      home ? (await home(userOf(request))).value : homePage(userOf(request), orgName, homeSections()).value,
    ),
  );

  const inviteParams = Type.Object({ token: Type.String({ maxLength: 100 }) });

  app.get('/admin/invite/:token', { schema: { params: inviteParams } }, async (request, reply) => {
    const invite = await auth.findUsableInvite(request.params.token);
    return html(reply).send(
      invitePage({
        token: request.params.token,
        email: invite.email,
        role: invite.role,
        orgName,
        minPassword: MIN_PASSWORD_LENGTH,
      }).value,
    );
  });

  app.post(
    '/admin/invite/:token',
    {
      schema: {
        params: inviteParams,
        body: Type.Object({
          email: Type.Optional(Type.String({ maxLength: 320 })),
          display_name: Type.Optional(Type.String({ maxLength: 200 })),
          password: Type.String({ maxLength: 1000 }),
        }),
      },
    },
    async (request, reply) => {
      const invite = await auth.findUsableInvite(request.params.token);
      try {
        const token = await auth.acceptInvite(
          request.params.token,
          {
            email: request.body.email ?? '',
            password: request.body.password,
            displayName: request.body.display_name ?? null,
          },
          meta(request),
        );
        await auth.signOut(request.cookies[SESSION_COOKIE]);
        reply.setCookie(SESSION_COOKIE, token, instance.sessionCookieOptions);
        return reply.redirect('/admin', 303);
      } catch (error) {
        if (!isAppError(error) || (error.code !== 'invalid' && error.code !== 'conflict')) throw error;
        reply.status(error.status);
        return html(reply).send(
          invitePage({
            token: request.params.token,
            email: invite.email,
            role: invite.role,
            error: error.message,
            values: { email: request.body.email ?? '', displayName: request.body.display_name ?? '' },
            orgName,
            minPassword: MIN_PASSWORD_LENGTH,
          }).value,
        );
      }
    },
  );

  const signedIn = { preHandler: requireRole('viewer') };

  async function renderAccount(
    request: FastifyRequest,
    reply: FastifyReply,
    message: { error?: string; notice?: string } = {},
  ) {
    const user = userOf(request);
    const twoFactor = await auth.twoFactorStatus(user.id);
    return html(reply).send(accountPage({ user, orgName, twoFactor, ...message }).value);
  }

  app.get('/admin/account', signedIn, async (request, reply) => renderAccount(request, reply));

  async function renderSetup(request: FastifyRequest, reply: FastifyReply, error?: string) {
    const user = userOf(request);
    const { secret, uri } = await auth.beginTwoFactor(user);
    return html(reply).send(
      twoFactorSetupPage({
        user,
        orgName,
        secret,
        uri,
        qrSvg: qrCodeSvg(uri, 'QR code of the authenticator key'),
        ...(error ? { error } : {}),
      }).value,
    );
  }

  app.get('/admin/account/two-factor', signedIn, async (request, reply) => {
    if ((await auth.twoFactorStatus(userOf(request).id)).enabled) {
      return reply.redirect('/admin/account', 303);
    }
    return renderSetup(request, reply);
  });

  app.post(
    '/admin/account/two-factor',
    {
      ...signedIn,
      schema: { body: Type.Object({ code: Type.String({ maxLength: 100 }), _csrf: Type.String() }) },
    },
    async (request, reply) => {
      const user = userOf(request);
      try {
        const codes = await auth.confirmTwoFactor(user, request.body.code);
        return html(reply).send(recoveryCodesPage({ user, orgName, codes }).value);
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        if (error.code === 'conflict') return renderAccount(request, reply, { error: error.message });
        return renderSetup(request, reply, error.message);
      }
    },
  );

  app.post(
    '/admin/account/two-factor/disable',
    {
      ...signedIn,
      schema: { body: Type.Object({ password: Type.String({ maxLength: 1000 }), _csrf: Type.String() }) },
    },
    async (request, reply) => {
      try {
        await auth.disableTwoFactor(userOf(request), request.body.password);
        return renderAccount(request, reply, { notice: 'Two-factor sign-in is off.' });
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return renderAccount(request, reply, { error: error.message });
      }
    },
  );

  const ownerOnly = { preHandler: requireRole('owner') };

  app.get('/admin/users', ownerOnly, async (request, reply) =>
    html(reply).send(usersPage({ user: userOf(request), users: await auth.listAllUsers(), orgName }).value),
  );

  app.post(
    '/admin/users/invite',
    {
      ...ownerOnly,
      schema: {
        body: Type.Object({
          email: Type.Optional(Type.String({ maxLength: 320 })),
          role: Type.String(),
          _csrf: Type.String(),
        }),
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const role = request.body.role;
      try {
        if (!isRole(role)) throw new AppError('invalid', 'Choose one of the listed roles.');
        const invite = await auth.createInvite({
          role,
          email: request.body.email || null,
          createdBy: user.id,
        });
        return html(reply).send(
          usersPage({
            user,
            users: await auth.listAllUsers(),
            orgName,
            invite: { url: invite.url, role, expiresAt: invite.expiresAt },
          }).value,
        );
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return html(reply).send(
          usersPage({ user, users: await auth.listAllUsers(), orgName, error: error.message }).value,
        );
      }
    },
  );

  const userParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

  app.post(
    '/admin/users/:id/role',
    {
      ...ownerOnly,
      schema: { params: userParams, body: Type.Object({ role: Type.String(), _csrf: Type.String() }) },
    },
    async (request, reply) => {
      const user = userOf(request);
      try {
        if (!isRole(request.body.role)) throw new AppError('invalid', 'Choose one of the listed roles.');
        await auth.changeRole(user, request.params.id, request.body.role);
        if (request.params.id === user.id) return reply.redirect('/admin/login', 303);
        return html(reply).send(
          usersPage({ user, users: await auth.listAllUsers(), orgName, notice: 'Role changed.' }).value,
        );
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return html(reply).send(
          usersPage({ user, users: await auth.listAllUsers(), orgName, error: error.message }).value,
        );
      }
    },
  );

  app.post(
    '/admin/users/:id/two-factor/reset',
    { ...ownerOnly, schema: { params: userParams, body: Type.Object({ _csrf: Type.String() }) } },
    async (request, reply) => {
      const user = userOf(request);
      try {
        await auth.resetTwoFactor(user, request.params.id);
        return html(reply).send(
          usersPage({
            user,
            users: await auth.listAllUsers(),
            orgName,
            notice:
              'Two-factor sign-in turned off; the user signs in with their password until they set it up again.',
          }).value,
        );
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return html(reply).send(
          usersPage({ user, users: await auth.listAllUsers(), orgName, error: error.message }).value,
        );
      }
    },
  );

  for (const action of ['disable', 'enable'] as const) {
    app.post(
      `/admin/users/:id/${action}`,
      { ...ownerOnly, schema: { params: userParams, body: Type.Object({ _csrf: Type.String() }) } },
      async (request, reply) => {
        const user = userOf(request);
        try {
          await auth.setDisabled(user, request.params.id, action === 'disable');
          return html(reply).send(
            usersPage({ user, users: await auth.listAllUsers(), orgName, notice: `User ${action}d.` }).value,
          );
        } catch (error) {
          if (!isAppError(error)) throw error;
          reply.status(error.status);
          return html(reply).send(
            usersPage({ user, users: await auth.listAllUsers(), orgName, error: error.message }).value,
          );
        }
      },
    );
  }
}
