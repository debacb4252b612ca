import type { Updateable } from 'kysely';
import type { Executor } from '../db/index.ts';
import type { PersonIdSubquery } from '../people/audience/index.ts';
import type { GroupRow, GroupRuleRow, GroupsTable } from './tables.ts';

/* Every SQL statement about groups, their rules, members and leaders. */

export async function insertGroup(db: Executor, row: GroupRow): Promise<void> {
  await db.insertInto('groups').values(row).execute();
}

export async function updateGroup(db: Executor, id: string, changes: Updateable<GroupsTable>): Promise<void> {
  await db.updateTable('groups').set(changes).where('id', '=', id).execute();
}

export function listGroups(db: Executor): Promise<GroupRow[]> {
  return db.selectFrom('groups').selectAll().orderBy('name').orderBy('id').execute();
}

export function findGroupById(db: Executor, id: string): Promise<GroupRow | undefined> {
  return db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findGroupBySlug(db: Executor, slug: string): Promise<GroupRow | undefined> {
  return db.selectFrom('groups').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export async function insertRule(db: Executor, row: GroupRuleRow): Promise<void> {
  await db.insertInto('group_rules').values(row).execute();
}

export async function deleteRule(db: Executor, groupId: string, ruleId: string): Promise<void> {
  await db.deleteFrom('group_rules').where('id', '=', ruleId).where('group_id', '=', groupId).execute();
}

export function listRules(db: Executor, groupIds?: readonly string[]): Promise<GroupRuleRow[]> {
  let query = db.selectFrom('group_rules').selectAll();
  if (groupIds) {
    if (groupIds.length === 0) return Promise.resolve([]);
    query = query.where('group_id', 'in', groupIds);
  }
  return query.orderBy('kind').orderBy('value').execute();
}

/** Adds a member; joining twice changes nothing. */
export async function insertMember(
  db: Executor,
  row: { group_id: string; person_id: string; source: string; created_at: string },
): Promise<boolean> {
  const result = await db
    .insertInto('group_members')
    .values(row)
    .onConflict((oc) => oc.columns(['group_id', 'person_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function deleteMember(db: Executor, groupId: string, personId: string): Promise<void> {
  await db
    .deleteFrom('group_members')
    .where('group_id', '=', groupId)
    .where('person_id', '=', personId)
    .execute();
}

export function listGroupsOfPerson(db: Executor, personId: string) {
  return db
    .selectFrom('group_members')
    .innerJoin('groups', 'groups.id', 'group_members.group_id')
    .select(['groups.id', 'groups.name', 'groups.slug', 'group_members.source', 'group_members.created_at'])
    .where('group_members.person_id', '=', personId)
    .orderBy('groups.name')
    .execute();
}

export async function deleteMembershipsOfPerson(db: Executor, personId: string): Promise<void> {
  await db.deleteFrom('group_members').where('person_id', '=', personId).execute();
}

/**
 * Person ids in any of `groupIds`: joined members, plus everyone the given rule subqueries
 * match. A union, so each person appears once.
 */
export function memberIdsSubquery(
  db: Executor,
  groupIds: readonly string[],
  ruleMatches: readonly PersonIdSubquery[],
): PersonIdSubquery {
  let query: PersonIdSubquery = db
    .selectFrom('group_members')
    .select('group_members.person_id')
    .where('group_members.group_id', 'in', groupIds.length ? [...groupIds] : ['']);
  // UNION ALL: a person may come twice (a member who also signed); every use reads it with IN,
  // EXISTS or a distinct count. UNION made SQLite sort all signatures by person to merge them.
  for (const match of ruleMatches) query = query.unionAll(match);
  return query;
}

export async function countPersonIds(db: Executor, ids: PersonIdSubquery): Promise<number> {
  const row = await db
    .selectFrom(ids.as('members'))
    .select((eb) => eb.fn.count<number>('members.person_id').distinct().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function isPersonIn(db: Executor, personId: string, ids: PersonIdSubquery): Promise<boolean> {
  const row = await db
    .selectFrom(ids.as('members'))
    .select('members.person_id')
    .where('members.person_id', '=', personId)
    .executeTakeFirst();
  return row !== undefined;
}

/* Leaders */

export async function upsertGroupRole(
  db: Executor,
  row: { user_id: string; group_id: string; role: string; created_at: string },
): Promise<void> {
  await db
    .insertInto('group_roles')
    .values(row)
    .onConflict((oc) => oc.columns(['user_id', 'group_id']).doUpdateSet({ role: row.role }))
    .execute();
}

export async function deleteGroupRole(db: Executor, userId: string, groupId: string): Promise<void> {
  await db.deleteFrom('group_roles').where('user_id', '=', userId).where('group_id', '=', groupId).execute();
}

export function listGroupRolesOfUser(db: Executor, userId: string) {
  return db.selectFrom('group_roles').selectAll().where('user_id', '=', userId).execute();
}

export function listGroupRoles(db: Executor, groupId: string) {
  return db
    .selectFrom('group_roles')
    .selectAll()
    .where('group_id', '=', groupId)
    .orderBy('created_at')
    .execute();
}
