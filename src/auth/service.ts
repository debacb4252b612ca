import { hash, verify } from '@node-rs/argon2';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../context.ts';
import type { UserRow } from '../db/index.ts';
import { isUniqueViolation } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { hasRole, isRole, type Role } from './roles.ts';
import * as store from './store.ts';

export interface CurrentUser {
  id: string;
  email: string;
  displayName: string | null;
  role: Role;
  sessionId: string;
  csrfToken: string;
}

export interface PublicUser {
  id: string;
  email: string;
  displayName: string | null;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

const SESSION_IDLE_MS = 12 * 3600_000;
const SESSION_MAX_MS = 14 * 24 * 3600_000;
const INVITE_MS = 7 * 24 * 3600_000;
const MAX_FAILED_LOGINS = 8;
const LOCKOUT_MS = 15 * 60_000;
export const MIN_PASSWORD_LENGTH = 10;

const EMAIL_PATTERN = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function normaliseUserEmail(email: string): string {
  const address = email.trim().toLowerCase();
  if (!EMAIL_PATTERN.test(address) || address.length > 254) {
    throw new AppError('invalid', `"${email.trim().slice(0, 80)}" is not a valid email address.`);
  }
  return address;
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AppError('invalid', `The password must be at least ${MIN_PASSWORD_LENGTH} characters long.`);
  }
  if (password.length > 1000) throw new AppError('invalid', 'The password is too long.');
}

function toPublicUser(user: UserRow): PublicUser {
  return {
    id: user.id,
    email: user.email,
    displayName: user.display_name,
    role: isRole(user.role) ? user.role : 'viewer',
    disabled: user.disabled_at !== null,
    createdAt: user.created_at,
  };
}

// A fixed hash so an unknown email costs the same time as a wrong password.
const dummyHashPromise = hash('undersign-dummy-password');

export function createAuthService(ctx: AppContext) {
  const { db } = ctx;

  function csrfTokenFor(sessionId: string): string {
    return createHmac('sha256', ctx.config.secretKey).update(`csrf:${sessionId}`).digest('base64url');
  }

  async function audit(entry: {
    userId: string | null;
    action: string;
    subjectType?: string;
    subjectId?: string;
    details?: Record<string, unknown>;
    ip?: string | null;
  }): Promise<void> {
    await store.insertAuditEntry(db, {
      id: newId(),
      user_id: entry.userId,
      action: entry.action,
      subject_type: entry.subjectType ?? null,
      subject_id: entry.subjectId ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
      ip: entry.ip ?? null,
      created_at: nowIso(),
    });
  }

  async function createUser(input: {
    email: string;
    password: string;
    role: Role;
    displayName?: string | null;
  }): Promise<PublicUser> {
    const email = normaliseUserEmail(input.email);
    checkPassword(input.password);
    const now = nowIso();
    const row = {
      id: newId(),
      email,
      display_name: input.displayName?.trim() || null,
      password_hash: await hash(input.password),
      role: input.role,
      failed_logins: 0,
      locked_until: null,
      disabled_at: null,
      created_at: now,
      updated_at: now,
    };
    try {
      await store.insertUser(db, row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('conflict', `A user with the email ${email} already exists.`);
      throw error;
    }
    return toPublicUser(row);
  }

  /** Checks email and password; counts failures and locks the account for a while after too many. */
  async function authenticate(emailText: string, password: string, ip: string | null): Promise<UserRow> {
    const wrong = new AppError('unauthorized', 'The email or password is not correct.');
    let email: string;
    try {
      email = normaliseUserEmail(emailText);
    } catch {
      throw wrong;
    }
    const user = await store.findUserByEmail(db, email);
    if (!user || !user.password_hash || user.disabled_at) {
      await verify(await dummyHashPromise, password).catch(() => false);
      throw wrong;
    }
    const now = Date.now();
    if (user.locked_until && Date.parse(user.locked_until) > now) {
      throw new AppError('rate_limited', 'Too many failed sign-in attempts. Try again in 15 minutes.', {
        retryAfter: Math.ceil((Date.parse(user.locked_until) - now) / 1000),
      });
    }
    const ok = await verify(user.password_hash, password).catch(() => false);
    if (!ok) {
      const failed = user.failed_logins + 1;
      const lock = failed >= MAX_FAILED_LOGINS;
      await store.updateUser(db, user.id, {
        failed_logins: lock ? 0 : failed,
        locked_until: lock ? new Date(now + LOCKOUT_MS).toISOString() : user.locked_until,
        updated_at: nowIso(),
      });
      await audit({ userId: user.id, action: lock ? 'login.locked' : 'login.failed', ip });
      throw wrong;
    }
    if (user.failed_logins > 0 || user.locked_until) {
      await store.updateUser(db, user.id, { failed_logins: 0, locked_until: null, updated_at: nowIso() });
    }
    return user;
  }

  /** Starts a new session (a fresh id at every sign-in); returns the token for the cookie. */
  async function startSession(
    userId: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<string> {
    const token = randomToken();
    const now = new Date();
    await store.insertSession(db, {
      id: sha256(token),
      user_id: userId,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + SESSION_IDLE_MS).toISOString(),
      last_seen_at: now.toISOString(),
      ip: meta.ip,
      user_agent: meta.userAgent?.slice(0, 300) ?? null,
    });
    await audit({ userId, action: 'login', ip: meta.ip });
    return token;
  }

  async function signIn(
    email: string,
    password: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<string> {
    const user = await authenticate(email, password, meta.ip);
    return startSession(user.id, meta);
  }

  /** The signed-in user for a session cookie, or null when it is unknown, expired or disabled. */
  async function userForSession(token: string | undefined): Promise<CurrentUser | null> {
    if (!token || token.length > 200) return null;
    const sessionId = sha256(token);
    const found = await store.findSessionWithUser(db, sessionId);
    if (!found) return null;
    const { session, user } = found;
    const now = Date.now();
    if (
      Date.parse(session.expires_at) < now ||
      Date.parse(session.created_at) + SESSION_MAX_MS < now ||
      user.disabled_at
    ) {
      await store.deleteSession(db, sessionId);
      return null;
    }
    // Slide the idle expiry at most once a minute, not on every request.
    if (now - Date.parse(session.last_seen_at) > 60_000) {
      await store.touchSession(
        db,
        sessionId,
        new Date(now).toISOString(),
        new Date(now + SESSION_IDLE_MS).toISOString(),
      );
    }
    return {
      id: user.id,
      email: user.email,
      displayName: user.display_name,
      role: isRole(user.role) ? user.role : 'viewer',
      sessionId,
      csrfToken: csrfTokenFor(sessionId),
    };
  }

  function verifyCsrf(user: CurrentUser, token: unknown): boolean {
    if (typeof token !== 'string' || token.length === 0) return false;
    const expected = Buffer.from(user.csrfToken);
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  async function signOut(token: string | undefined): Promise<void> {
    if (token) await store.deleteSession(db, sha256(token));
  }

  /** A one-time link to create an account with `role`; the token is shown once and stored hashed. */
  async function createInvite(input: {
    role: Role;
    email?: string | null;
    createdBy: string | null;
    validForMs?: number;
  }): Promise<{ token: string; url: string; expiresAt: string }> {
    const token = randomToken();
    const email = input.email ? normaliseUserEmail(input.email) : null;
    if (email && (await store.findUserByEmail(db, email))) {
      throw new AppError('conflict', `A user with the email ${email} already exists.`);
    }
    const expiresAt = new Date(Date.now() + (input.validForMs ?? INVITE_MS)).toISOString();
    await store.insertInvite(db, {
      id: sha256(token),
      email,
      role: input.role,
      created_by: input.createdBy,
      created_at: nowIso(),
      expires_at: expiresAt,
      used_at: null,
    });
    if (input.createdBy) {
      await audit({ userId: input.createdBy, action: 'user.invite', details: { role: input.role } });
    }
    return { token, url: `${ctx.config.publicUrl}/admin/invite/${token}`, expiresAt };
  }

  async function findUsableInvite(token: string) {
    const invite = await store.findInvite(db, sha256(token));
    if (!invite || invite.used_at || Date.parse(invite.expires_at) < Date.now()) {
      throw new AppError(
        'not_found',
        'This invitation link is not valid: it was used already or has expired.',
      );
    }
    return invite;
  }

  async function acceptInvite(
    token: string,
    input: { email: string; password: string; displayName?: string | null },
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<string> {
    const invite = await findUsableInvite(token);
    const email = invite.email ?? input.email;
    checkPassword(input.password);
    normaliseUserEmail(email);
    if (!(await store.markInviteUsed(db, invite.id, nowIso()))) {
      throw new AppError('not_found', 'This invitation link was used already.');
    }
    const role = isRole(invite.role) ? invite.role : 'viewer';
    const user = await createUser({
      email,
      password: input.password,
      role,
      displayName: input.displayName ?? null,
    });
    await audit({
      userId: user.id,
      action: 'user.created',
      subjectType: 'user',
      subjectId: user.id,
      ip: meta.ip,
    });
    return startSession(user.id, meta);
  }

  async function listAllUsers(): Promise<PublicUser[]> {
    return (await store.listUsers(db)).map(toPublicUser);
  }

  async function countAllUsers(): Promise<number> {
    return store.countUsers(db);
  }

  async function requireOwner(actor: CurrentUser): Promise<void> {
    if (!hasRole(actor.role, 'owner')) throw new AppError('forbidden', 'Only owners can manage users.');
  }

  async function changeRole(actor: CurrentUser, userId: string, role: Role): Promise<void> {
    await requireOwner(actor);
    const user = await store.findUserById(db, userId);
    if (!user) throw new AppError('not_found', 'There is no such user.');
    if (
      user.role === 'owner' &&
      role !== 'owner' &&
      (await store.countUsers(db, { role: 'owner', activeOnly: true })) <= 1
    ) {
      throw new AppError('conflict', 'There must always be at least one owner.');
    }
    await store.updateUser(db, userId, { role, updated_at: nowIso() });
    await store.deleteSessionsOfUser(db, userId);
    await audit({
      userId: actor.id,
      action: 'user.role',
      subjectType: 'user',
      subjectId: userId,
      details: { role },
    });
  }

  async function setDisabled(actor: CurrentUser, userId: string, disabled: boolean): Promise<void> {
    await requireOwner(actor);
    const user = await store.findUserById(db, userId);
    if (!user) throw new AppError('not_found', 'There is no such user.');
    if (userId === actor.id && disabled)
      throw new AppError('conflict', 'You cannot disable your own account.');
    if (
      disabled &&
      user.role === 'owner' &&
      (await store.countUsers(db, { role: 'owner', activeOnly: true })) <= 1
    ) {
      throw new AppError('conflict', 'There must always be at least one active owner.');
    }
    await store.updateUser(db, userId, { disabled_at: disabled ? nowIso() : null, updated_at: nowIso() });
    if (disabled) await store.deleteSessionsOfUser(db, userId);
    await audit({
      userId: actor.id,
      action: disabled ? 'user.disable' : 'user.enable',
      subjectType: 'user',
      subjectId: userId,
    });
  }

  async function setPassword(userId: string, password: string): Promise<void> {
    checkPassword(password);
    await store.updateUser(db, userId, { password_hash: await hash(password), updated_at: nowIso() });
    await store.deleteSessionsOfUser(db, userId);
  }

  async function findUserByEmail(email: string): Promise<PublicUser | undefined> {
    const user = await store.findUserByEmail(db, normaliseUserEmail(email));
    return user ? toPublicUser(user) : undefined;
  }

  async function listAudit(filter: { subjectType?: string; subjectId?: string; limit?: number } = {}) {
    return store.listAuditEntries(db, { ...filter, limit: filter.limit ?? 100 });
  }

  async function purgeExpiredSessions(): Promise<void> {
    await store.deleteExpiredSessions(db, nowIso());
  }

  return {
    audit,
    createUser,
    signIn,
    startSession,
    userForSession,
    verifyCsrf,
    signOut,
    createInvite,
    findUsableInvite,
    acceptInvite,
    listAllUsers,
    countAllUsers,
    changeRole,
    setDisabled,
    setPassword,
    findUserByEmail,
    listAudit,
    purgeExpiredSessions,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
