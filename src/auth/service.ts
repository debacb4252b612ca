import { hash, verify } from '@node-rs/argon2';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../context.ts';
import type { Executor, UserRow } from '../db/index.ts';
import { isUniqueViolation } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { clientPseudonym } from '../log.ts';
import { SharedFailureCounter } from '../ratelimit/index.ts';
import { hasRole, isRole, type Role } from './roles.ts';
import * as store from './store.ts';
import { base32Decode, matchTotp, newTotpSecret, openSecret, otpauthUri, sealSecret } from './totp.ts';

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
  /** Signing in also asks for an authenticator code. */
  twoFactor: boolean;
  createdAt: string;
}

const SESSION_IDLE_MS = 12 * 3600_000;
const SESSION_MAX_MS = 14 * 24 * 3600_000;
const INVITE_MS = 7 * 24 * 3600_000;
const MAX_FAILED_LOGINS = 8;
const LOCKOUT_MS = 15 * 60_000;
/**
 * Failed sign-ins (any account) one client address may make per window before it must wait; the
 * windows are the clock's quarter hours, the same in every process.
 */
export const MAX_FAILED_LOGINS_PER_IP = 30;
const IP_WINDOW_MS = 15 * 60_000;
/** How long the password step stays valid while the person types their authenticator code. */
const SECOND_FACTOR_MS = 5 * 60_000;
const RECOVERY_CODES = 10;
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
    twoFactor: user.totp_enabled_at !== null,
    createdAt: user.created_at,
  };
}

// A fixed hash so an unknown email costs the same time as a wrong password.
const dummyHashPromise = hash('undersign-dummy-password');

/** What the password step of a sign-in leads to: a session, or a request for the second factor. */
export type SignInResult = { session: string } | { secondFactor: string };

function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function newRecoveryCode(): string {
  const text = randomBytes(8)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
  const padded = (text + randomBytes(8).toString('hex')).slice(0, 10);
  return `${padded.slice(0, 5)}-${padded.slice(5)}`;
}

export function createAuthService(ctx: AppContext) {
  const { db } = ctx;
  // Counted in the database: every web process refuses a client as soon as it reaches the limit.
  const ipFailures = new SharedFailureCounter(MAX_FAILED_LOGINS_PER_IP, IP_WINDOW_MS, {
    db,
    scope: 'sign-in-ip',
    secret: ctx.config.secretKey,
  });

  async function checkIpAllowed(ip: string | null): Promise<void> {
    const wait = ip ? await ipFailures.blockedFor(ip) : 0;
    if (wait > 0) {
      ctx.log.warn(
        { client: clientPseudonym(ctx.config.secretKey, ip), retryAfter: wait },
        'sign-in refused: too many failed attempts from one client',
      );
      throw new AppError(
        'rate_limited',
        `Too many failed sign-in attempts from your network. Try again in ${Math.ceil(wait / 60)} minutes.`,
        { retryAfter: wait },
      );
    }
  }

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
      totp_secret: null,
      totp_enabled_at: null,
      totp_last_step: null,
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
    await checkIpAllowed(ip);
    let email: string;
    try {
      email = normaliseUserEmail(emailText);
    } catch {
      if (ip) await ipFailures.fail(ip);
      throw wrong;
    }
    const user = await store.findUserByEmail(db, email);
    if (!user || !user.password_hash || user.disabled_at) {
      await verify(await dummyHashPromise, password).catch(() => false);
      if (ip) await ipFailures.fail(ip);
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
      if (ip) await ipFailures.fail(ip);
      await countFailure(user, ip, now);
      throw wrong;
    }
    if (user.failed_logins > 0 || user.locked_until) {
      await store.updateUser(db, user.id, { failed_logins: 0, locked_until: null, updated_at: nowIso() });
    }
    return user;
  }

  /** One more wrong password or code for the account; locks it for a while after too many. */
  async function countFailure(user: UserRow, ip: string | null, now: number): Promise<void> {
    const failed = user.failed_logins + 1;
    const lock = failed >= MAX_FAILED_LOGINS;
    await store.updateUser(db, user.id, {
      failed_logins: lock ? 0 : failed,
      locked_until: lock ? new Date(now + LOCKOUT_MS).toISOString() : user.locked_until,
      updated_at: nowIso(),
    });
    await audit({ userId: user.id, action: lock ? 'login.locked' : 'login.failed', ip });
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

  /**
   * The password step. Without two-factor sign-in it starts a session; with it, it returns a
   * short-lived signed ticket that `completeSecondFactor` takes with the code.
   */
  async function signIn(
    email: string,
    password: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<SignInResult> {
    const user = await authenticate(email, password, meta.ip);
    if (user.totp_enabled_at && user.totp_secret) return { secondFactor: secondFactorTicket(user.id) };
    return { session: await startSession(user.id, meta) };
  }

  function ticketMac(userId: string, expires: number): string {
    return createHmac('sha256', ctx.config.secretKey)
      .update(`second-factor:${userId}:${expires}`)
      .digest('base64url');
  }

  function secondFactorTicket(userId: string, now = Date.now()): string {
    const expires = now + SECOND_FACTOR_MS;
    return `${userId}.${expires}.${ticketMac(userId, expires)}`;
  }

  /** The user a second-factor ticket was made for, or null when it is forged or expired. */
  function ticketUser(ticket: string | undefined): string | null {
    if (!ticket || ticket.length > 300) return null;
    const [userId, expiresText, mac] = ticket.split('.');
    const expires = Number(expiresText);
    if (!userId || !mac || !Number.isFinite(expires) || expires < Date.now()) return null;
    const expected = Buffer.from(ticketMac(userId, expires));
    const given = Buffer.from(mac);
    return expected.length === given.length && timingSafeEqual(expected, given) ? userId : null;
  }

  /**
   * The second step: a code from the authenticator app (each works once) or an unused recovery
   * code. Wrong codes count towards the same lockout as wrong passwords.
   */
  async function completeSecondFactor(
    ticket: string | undefined,
    code: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<string> {
    const expired = new AppError(
      'unauthorized',
      'The sign-in took too long. Please enter your password again.',
    );
    const userId = ticketUser(ticket);
    if (!userId) throw expired;
    await checkIpAllowed(meta.ip);
    const user = await store.findUserById(db, userId);
    if (!user || user.disabled_at || !user.totp_enabled_at || !user.totp_secret) throw expired;
    const now = Date.now();
    if (user.locked_until && Date.parse(user.locked_until) > now) {
      throw new AppError('rate_limited', 'Too many failed sign-in attempts. Try again in 15 minutes.', {
        retryAfter: Math.ceil((Date.parse(user.locked_until) - now) / 1000),
      });
    }
    let accepted = false;
    const digits = code.replace(/\s/g, '');
    if (/^\d{6}$/.test(digits)) {
      const secret = base32Decode(openSecret(user.totp_secret, ctx.config.secretKey));
      const step = matchTotp(secret, digits, now, user.totp_last_step);
      accepted = step !== null && (await store.advanceTotpStep(db, user.id, step));
    } else if (normaliseRecoveryCode(code).length === 10) {
      accepted = await store.useRecoveryCode(db, user.id, sha256(normaliseRecoveryCode(code)), nowIso());
      if (accepted) await audit({ userId: user.id, action: 'login.recovery_code', ip: meta.ip });
    }
    if (!accepted) {
      if (meta.ip) await ipFailures.fail(meta.ip);
      await countFailure(user, meta.ip, now);
      throw new AppError(
        'unauthorized',
        'That code is not correct (or was used already). Try the current one.',
      );
    }
    if (user.failed_logins > 0) {
      await store.updateUser(db, user.id, { failed_logins: 0, locked_until: null, updated_at: nowIso() });
    }
    return startSession(user.id, meta);
  }

  /** Two-factor state of the signed-in user's own account. */
  async function twoFactorStatus(userId: string): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
    const user = await store.findUserById(db, userId);
    if (!user?.totp_enabled_at) return { enabled: false, recoveryCodesLeft: 0 };
    return { enabled: true, recoveryCodesLeft: await store.countUnusedRecoveryCodes(db, userId) };
  }

  /**
   * Starts (or continues) setting up an authenticator app: the secret to enter or scan. It takes
   * effect only once `confirmTwoFactor` sees a code made from it.
   */
  async function beginTwoFactor(actor: CurrentUser): Promise<{ secret: string; uri: string }> {
    const user = await store.findUserById(db, actor.id);
    if (!user) throw new AppError('not_found', 'There is no such user.');
    if (user.totp_enabled_at) throw new AppError('conflict', 'Two-factor sign-in is already on.');
    let secret = user.totp_secret ? openSecret(user.totp_secret, ctx.config.secretKey) : null;
    if (!secret) {
      secret = newTotpSecret();
      await store.updateUser(db, user.id, {
        totp_secret: sealSecret(secret, ctx.config.secretKey),
        totp_last_step: null,
        updated_at: nowIso(),
      });
    }
    return { secret, uri: otpauthUri({ issuer: ctx.config.orgName, account: user.email, secret }) };
  }

  /** Turns two-factor sign-in on when the code matches; returns the recovery codes (shown once). */
  async function confirmTwoFactor(actor: CurrentUser, code: string): Promise<string[]> {
    const user = await store.findUserById(db, actor.id);
    if (!user?.totp_secret)
      throw new AppError('invalid', 'Start the set-up again: no authenticator key is waiting.');
    if (user.totp_enabled_at) throw new AppError('conflict', 'Two-factor sign-in is already on.');
    const secret = base32Decode(openSecret(user.totp_secret, ctx.config.secretKey));
    const step = matchTotp(secret, code, Date.now());
    if (step === null) {
      throw new AppError(
        'invalid',
        'That code does not match. Check that the app shows the account you just added, and type the current code.',
      );
    }
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    const now = nowIso();
    await db.transaction().execute(async (trx) => {
      await store.updateUser(trx, user.id, { totp_enabled_at: now, totp_last_step: step, updated_at: now });
      await store.deleteRecoveryCodesOfUser(trx, user.id);
      // Whoever else held a session (a stolen password's) is signed out.
      await store.deleteOtherSessionsOfUser(trx, user.id, actor.sessionId);
      await store.insertRecoveryCodes(
        trx,
        codes.map((c) => ({
          id: newId(),
          user_id: user.id,
          code_hash: sha256(normaliseRecoveryCode(c)),
          used_at: null,
          created_at: now,
        })),
      );
    });
    await audit({ userId: user.id, action: 'two_factor.enabled', subjectType: 'user', subjectId: user.id });
    return codes;
  }

  /**
   * An owner turns another user's two-factor sign-in off (a lost phone and lost recovery codes);
   * that user's sessions end, and they sign in with their password alone until they set it up again.
   */
  async function resetTwoFactor(actor: CurrentUser, userId: string): Promise<void> {
    await requireOwner(actor);
    const user = await store.findUserById(db, userId);
    if (!user) throw new AppError('not_found', 'There is no such user.');
    if (userId === actor.id) {
      throw new AppError('conflict', 'Turn your own two-factor sign-in off from your account page.');
    }
    await db.transaction().execute(async (trx) => {
      await clearTwoFactor(trx, user.id);
      await store.deleteSessionsOfUser(trx, user.id);
    });
    await audit({ userId: actor.id, action: 'two_factor.reset', subjectType: 'user', subjectId: user.id });
  }

  /** Forgets the user's authenticator key and recovery codes. */
  async function clearTwoFactor(trx: Executor, userId: string): Promise<void> {
    await store.updateUser(trx, userId, {
      totp_secret: null,
      totp_enabled_at: null,
      totp_last_step: null,
      updated_at: nowIso(),
    });
    await store.deleteRecoveryCodesOfUser(trx, userId);
  }

  /** Turns two-factor sign-in off; the password is asked again so a left-open session cannot. */
  async function disableTwoFactor(actor: CurrentUser, password: string): Promise<void> {
    const user = await store.findUserById(db, actor.id);
    if (!user?.password_hash || !(await verify(user.password_hash, password).catch(() => false))) {
      throw new AppError('invalid', 'The password is not correct.');
    }
    await db.transaction().execute((trx) => clearTwoFactor(trx, user.id));
    await audit({ userId: user.id, action: 'two_factor.disabled', subjectType: 'user', subjectId: user.id });
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

  /**
   * Erasure: rewrites the details of audit entries that mention one of `needles` (lower-case; e.g. an
   * address typed into the people search) with `redact`. The entries stay: who looked when is the point.
   */
  async function redactAuditDetails(
    executor: Executor,
    needles: readonly string[],
    redact: (details: string) => string,
  ): Promise<number> {
    let changed = 0;
    for (const row of await store.listAuditDetailsMentioning(executor, needles)) {
      if (row.details === null) continue;
      const details = redact(row.details);
      if (details === row.details) continue;
      await store.updateAuditDetails(executor, row.id, details);
      changed++;
    }
    return changed;
  }

  async function purgeExpiredSessions(): Promise<void> {
    await store.deleteExpiredSessions(db, nowIso());
  }

  return {
    audit,
    redactAuditDetails,
    createUser,
    signIn,
    completeSecondFactor,
    twoFactorStatus,
    beginTwoFactor,
    confirmTwoFactor,
    disableTwoFactor,
    resetTwoFactor,
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
