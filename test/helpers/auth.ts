import { randomBytes } from 'node:crypto';
import type { Role } from '../../src/auth/index.ts';
import { SESSION_COOKIE } from '../../src/auth/index.ts';
import type { TestRuntime } from './runtime.ts';

export interface SignedIn {
  /** Value for the `cookie` header of `inject` or a browser context. */
  cookie: string;
  /** The session's CSRF token, for `_csrf` form fields or the `x-csrf-token` header. */
  csrf: string;
  userId: string;
  email: string;
  password: string;
  sessionToken: string;
}

/** Creates a user with `role` and a signed-in session for it. */
export async function signIn(
  t: Pick<TestRuntime, 'services'>,
  role: Role,
  email?: string,
): Promise<SignedIn> {
  const address = email ?? `${role}-${randomBytes(4).toString('hex')}@example.org`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const user = await t.services.auth.createUser({
    email: address,
    password,
    role,
    displayName: `Test ${role}`,
  });
  const sessionToken = await t.services.auth.startSession(user.id, { ip: '127.0.0.1', userAgent: 'test' });
  const current = await t.services.auth.userForSession(sessionToken);
  if (!current) throw new Error('session did not start');
  return {
    cookie: `${SESSION_COOKIE}=${sessionToken}`,
    csrf: current.csrfToken,
    userId: user.id,
    email: address,
    password,
    sessionToken,
  };
}
