import type { Selectable } from 'kysely';

/** Group tables (migration 0007-groups-events), merged into the app's Database type. */
export interface GroupsTable {
  id: string;
  parent_id: string | null;
  slug: string;
  name: string;
  /** national | state | local */
  level: string;
  description: string;
  created_at: string;
  updated_at: string;
}

export interface GroupRulesTable {
  id: string;
  group_id: string;
  /** postal_prefix | district */
  kind: string;
  value: string;
  created_at: string;
}

export interface GroupMembersTable {
  group_id: string;
  person_id: string;
  /** joined | admin */
  source: string;
  created_at: string;
}

export interface GroupRolesTable {
  user_id: string;
  group_id: string;
  /** leader */
  role: string;
  created_at: string;
}

declare module '../db/database.ts' {
  interface Database {
    groups: GroupsTable;
    group_rules: GroupRulesTable;
    group_members: GroupMembersTable;
    group_roles: GroupRolesTable;
  }
}

export type GroupRow = Selectable<GroupsTable>;
export type GroupRuleRow = Selectable<GroupRulesTable>;
