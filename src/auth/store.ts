import type { Executor, SessionRow, UserRow } from '../db/index.ts';
import type { Insertable, Updateable } from 'kysely';
import type { AuditLogTable, InvitesTable, UsersTable } from '../db/database.ts';
import type { RecoveryCodesTable } from './tables.ts';

export async function findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function findUserById(db: Executor, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listUsers(db: Executor): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('email').execute();
}

export async function countUsers(
  db: Executor,
  filter: { role?: string; activeOnly?: boolean } = {},
): Promise<number> {
  let query = db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count'));
  if (filter.role) query = query.where('role', '=', filter.role);
  if (filter.activeOnly) query = query.where('disabled_at', 'is', null);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function insertUser(db: Executor, user: Insertable<UsersTable>): Promise<void> {
  await db.insertInto('users').values(user).execute();
}

export async function updateUser(db: Executor, id: string, changes: Updateable<UsersTable>): Promise<void> {
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

export async function insertSession(db: Executor, session: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(session).execute();
}

export async function findSessionWithUser(
  db: Executor,
  sessionId: string,
): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const session = await db.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
  if (!session) return undefined;
  const user = await findUserById(db, session.user_id);
  return user ? { session, user } : undefined;
}

export async function touchSession(
  db: Executor,
  sessionId: string,
  lastSeenAt: string,
  expiresAt: string,
): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ last_seen_at: lastSeenAt, expires_at: expiresAt })
    .where('id', '=', sessionId)
    .execute();
}

export async function deleteSession(db: Executor, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
}

export async function deleteSessionsOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
}

export async function deleteOtherSessionsOfUser(db: Executor, userId: string, keepId: string): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).where('id', '!=', keepId).execute();
}

export async function deleteExpiredSessions(db: Executor, now: string): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
}

export async function insertInvite(db: Executor, invite: Insertable<InvitesTable>): Promise<void> {
  await db.insertInto('invites').values(invite).execute();
}

export async function findInvite(db: Executor, id: string) {
  return db.selectFrom('invites').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Marks an invite used; returns false when it was already used (a second click or a race). */
export async function markInviteUsed(db: Executor, id: string, usedAt: string): Promise<boolean> {
  const result = await db
    .updateTable('invites')
    .set({ used_at: usedAt })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function insertAuditEntry(db: Executor, entry: Insertable<AuditLogTable>): Promise<void> {
  await db.insertInto('audit_log').values(entry).execute();
}

export async function listAuditEntries(
  db: Executor,
  filter: { subjectType?: string; subjectId?: string; limit: number },
) {
  let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.subjectType) query = query.where('subject_type', '=', filter.subjectType);
  if (filter.subjectId) query = query.where('subject_id', '=', filter.subjectId);
  return query.execute();
}

/** Audit entries whose details mention one of the (lower-case) texts, matched without regard to case. */
export function listAuditDetailsMentioning(
  db: Executor,
  needles: readonly string[],
): Promise<Array<{ id: string; details: string | null }>> {
  if (needles.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('audit_log')
    .select(['id', 'details'])
    .where((eb) =>
      eb.or(needles.map((needle) => eb(eb.fn<string>('lower', ['details']), 'like', `%${needle}%`))),
    )
    .execute();
}

export async function updateAuditDetails(db: Executor, id: string, details: string): Promise<void> {
  await db.updateTable('audit_log').set({ details }).where('id', '=', id).execute();
}

export async function insertRecoveryCodes(
  db: Executor,
  rows: Insertable<RecoveryCodesTable>[],
): Promise<void> {
  if (rows.length) await db.insertInto('recovery_codes').values(rows).execute();
}

export async function deleteRecoveryCodesOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
}

/** Marks an unused recovery code used; false when there is no such unused code. */
export async function useRecoveryCode(
  db: Executor,
  userId: string,
  codeHash: string,
  usedAt: string,
): Promise<boolean> {
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: usedAt })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function countUnusedRecoveryCodes(db: Executor, userId: string): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Records the step a TOTP code was accepted for, unless a code of that step or later was used. */
export async function advanceTotpStep(db: Executor, userId: string, step: number): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
