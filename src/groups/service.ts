import type { AuthService } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { isUniqueViolation, type Executor } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import {
  selectPersonIdsByAddress,
  type PersonIdSubquery,
  type PostalCodeSubquery,
} from '../people/audience/index.ts';
import type { PeopleService, PeopleViewer } from '../people/index.ts';
import { PublicFormLimits } from '../web/form-limits.ts';
import { groupMessages } from './i18n.ts';
import * as store from './store.ts';
import type { GroupRow, GroupRuleRow } from './tables.ts';

export const groupLevels = ['national', 'state', 'local'] as const;
export type GroupLevel = (typeof groupLevels)[number];
export const ruleKinds = ['postal_prefix', 'district'] as const;
export type RuleKind = (typeof ruleKinds)[number];

const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const emailPattern = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

export interface GroupInput {
  name: string;
  slug?: string | null;
  level: string;
  parentId?: string | null;
  description?: string | null;
}

export interface GroupNode extends GroupRow {
  depth: number;
}

export interface GroupsDeps {
  people: PeopleService;
  auth: AuthService;
  /** Postal codes a district map puts in these districts (district rules match them too). */
  districtPostalCodes?: (districtIds: readonly string[]) => PostalCodeSubquery;
  /**
   * Person ids of the counted signers of the petitions these groups own (one subquery per
   * petition): signing a group's petition makes a person a member, like RSVPing to its event.
   */
  petitionSigners?: (groupIds: readonly string[]) => Promise<PersonIdSubquery[]>;
}

function slugify(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60)
      .replace(/-+$/g, '') || 'group'
  );
}

/** Roles whose rights are organisation-wide whatever groups they lead. */
const globalRoles = new Set(['owner', 'admin']);

export function createGroupsService(ctx: AppContext, deps: GroupsDeps) {
  const { db, config } = ctx;
  // The public join form is limited like signing a petition (the same settings, counted apart).
  const limits = new PublicFormLimits(
    'group_join',
    { perIp: config.signRateIp, perEmail: config.signRateEmail },
    ctx.log,
    { db, secret: config.secretKey },
  );

  async function listTree(): Promise<GroupNode[]> {
    const rows = await store.listGroups(db);
    const children = new Map<string | null, GroupRow[]>();
    for (const row of rows) {
      const key = row.parent_id && rows.some((r) => r.id === row.parent_id) ? row.parent_id : null;
      const list = children.get(key) ?? [];
      list.push(row);
      children.set(key, list);
    }
    const out: GroupNode[] = [];
    const walk = (parent: string | null, depth: number) => {
      for (const row of children.get(parent) ?? []) {
        out.push({ ...row, depth });
        walk(row.id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  /** The groups and every group below them (the tree is small: read whole). */
  async function withDescendants(groupIds: readonly string[], executor: Executor = db): Promise<string[]> {
    const rows = await store.listGroups(executor);
    const result = new Set(groupIds.filter((id) => rows.some((r) => r.id === id)));
    let grew = true;
    while (grew) {
      grew = false;
      for (const row of rows) {
        if (row.parent_id && result.has(row.parent_id) && !result.has(row.id)) {
          result.add(row.id);
          grew = true;
        }
      }
    }
    return [...result];
  }

  async function getGroup(id: string): Promise<GroupRow> {
    const group = await store.findGroupById(db, id);
    if (!group) throw new AppError('not_found', 'There is no such group.');
    return group;
  }

  async function getGroupBySlug(slug: string): Promise<GroupRow> {
    const group = slugPattern.test(slug) ? await store.findGroupBySlug(db, slug) : undefined;
    if (!group) throw new AppError('not_found', 'There is no such group.');
    return group;
  }

  async function validate(input: GroupInput, selfId?: string) {
    const name = (input.name ?? '').trim();
    if (!name || name.length > 200)
      throw new AppError('invalid', 'The name is required (up to 200 characters).');
    if (!(groupLevels as readonly string[]).includes(input.level)) {
      throw new AppError('invalid', 'The level must be national, state or local.');
    }
    const parentId = (input.parentId ?? '').trim() || null;
    if (parentId) {
      await getGroup(parentId);
      if (selfId && (await withDescendants([selfId])).includes(parentId)) {
        throw new AppError('invalid', 'A group cannot sit inside itself or one of its sub-groups.');
      }
    }
    const slug = (input.slug ?? '').trim().toLowerCase() || null;
    if (slug && (!slugPattern.test(slug) || slug.length > 80)) {
      throw new AppError('invalid', 'The address must be lower-case letters, digits and single dashes.');
    }
    return {
      name,
      level: input.level,
      parent_id: parentId,
      description: (input.description ?? '').trim().slice(0, 10_000),
      slug,
    };
  }

  async function createGroup(input: GroupInput): Promise<GroupRow> {
    const { slug, ...fields } = await validate(input);
    const now = nowIso();
    const base = slug ?? slugify(fields.name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const row: GroupRow = {
        id: newId(),
        slug: attempt === 0 ? base : `${base}-${attempt + 1}`,
        ...fields,
        created_at: now,
        updated_at: now,
      };
      try {
        await store.insertGroup(db, row);
        return row;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        if (slug) throw new AppError('conflict', `Another group already uses the address "${slug}".`);
      }
    }
    throw new AppError('conflict', 'Choose another address for this group.');
  }

  async function updateGroup(id: string, input: GroupInput): Promise<GroupRow> {
    const current = await getGroup(id);
    const { slug, ...fields } = await validate(input, id);
    const updated = { ...current, ...fields, slug: slug ?? current.slug, updated_at: nowIso() };
    try {
      await store.updateGroup(db, id, { ...fields, slug: updated.slug, updated_at: updated.updated_at });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('conflict', `Another group already uses the address "${slug}".`);
      throw error;
    }
    return updated;
  }

  async function addRule(groupId: string, kind: string, value: string): Promise<GroupRuleRow> {
    await getGroup(groupId);
    if (!(ruleKinds as readonly string[]).includes(kind))
      throw new AppError('invalid', 'Choose a postal code or district rule.');
    const text = value.trim().replace(/\s+/g, ' ');
    if (!text || text.length > 40)
      throw new AppError('invalid', 'Give a postal code beginning or a district id (up to 40 characters).');
    const row: GroupRuleRow = {
      id: newId(),
      group_id: groupId,
      kind,
      value: kind === 'postal_prefix' ? text.toUpperCase() : text,
      created_at: nowIso(),
    };
    await store.insertRule(db, row);
    return row;
  }

  /** Person ids in any of the groups (each with its sub-groups): joined members and rule matches. */
  async function memberIdsQuery(
    groupIds: readonly string[],
    executor: Executor = db,
  ): Promise<PersonIdSubquery> {
    const all = await withDescendants(groupIds, executor);
    const rules = await store.listRules(executor, all);
    const postalPrefixes = rules.filter((r) => r.kind === 'postal_prefix').map((r) => r.value);
    const districts = rules.filter((r) => r.kind === 'district').map((r) => r.value);
    const matches: PersonIdSubquery[] =
      postalPrefixes.length || districts.length
        ? [
            selectPersonIdsByAddress(db, {
              postalPrefixes,
              districts,
              ...(districts.length && deps.districtPostalCodes
                ? { districtPostalCodes: deps.districtPostalCodes(districts) }
                : {}),
            }),
          ]
        : [];
    if (deps.petitionSigners) matches.push(...(await deps.petitionSigners(all)));
    return store.memberIdsSubquery(db, all, matches);
  }

  async function countMembers(groupId: string): Promise<number> {
    return store.countPersonIds(db, await memberIdsQuery([groupId]));
  }

  async function isMember(groupId: string, personId: string): Promise<boolean> {
    return store.isPersonIn(db, personId, await memberIdsQuery([groupId]));
  }

  /** Groups whose leader the user is (directly; rights extend to sub-groups). */
  async function ledGroupIds(userId: string): Promise<string[]> {
    return (await store.listGroupRolesOfUser(db, userId))
      .filter((r) => r.role === 'leader')
      .map((r) => r.group_id);
  }

  /**
   * The groups a user's rights are limited to (the groups they lead and everything below), or
   * null when their role applies to the whole organisation.
   */
  async function groupScope(user: PeopleViewer): Promise<string[] | null> {
    if (globalRoles.has(user.role)) return null;
    const led = await ledGroupIds(user.id);
    if (led.length === 0) return null;
    return withDescendants(led);
  }

  /** Groups a user may work with (a leader: theirs and below), indented as a tree. */
  async function groupChoices(user: PeopleViewer | null): Promise<Array<{ id: string; name: string }>> {
    const scope = user ? await groupScope(user) : null;
    return (await listTree())
      .filter((g) => !scope || scope.includes(g.id))
      .map((g) => ({ id: g.id, name: `${'— '.repeat(g.depth)}${g.name}` }));
  }

  /** People a user may see: null for everyone, else their groups' members. */
  async function peopleScope(user: PeopleViewer): Promise<PersonIdSubquery | null> {
    const scope = await groupScope(user);
    return scope === null ? null : memberIdsQuery(scope);
  }

  /** Public join form: the person is merged by email and becomes a member. */
  async function joinGroup(
    slug: string,
    input: {
      email: string;
      givenName?: string | null;
      familyName?: string | null;
      postalCode?: string | null;
      subscribe?: boolean;
      /** The page's language: messages for the person come back in it; stored on a new person. */
      language?: string | null;
    },
    meta: { ip: string | null },
  ): Promise<{ personId: string; joined: boolean }> {
    const group = await getGroupBySlug(slug);
    const m = groupMessages(input.language);
    const email = (input.email ?? '').trim();
    if (!emailPattern.test(email) || email.length > 254) throw new AppError('invalid', m.errors.email);
    limits.check(meta, email, group, (reason, wait) => {
      const minutes = m.errors.minutes(Math.ceil(wait / 60));
      return reason === 'rate_limited_ip' ? m.errors.rateIp(minutes) : m.errors.rateEmail(minutes);
    });
    return db.transaction().execute(async (trx) => {
      const merged = await deps.people.mergePersonByEmail(trx, {
        email,
        givenName: input.givenName?.trim() || null,
        familyName: input.familyName?.trim() || null,
        ...(input.language ? { language: input.language } : {}),
        address: input.postalCode?.trim() ? { postalCode: input.postalCode.trim().slice(0, 20) } : null,
        source: `group:${group.slug}`,
        subscribe: input.subscribe === true,
        consent: input.subscribe ? { what: 'email', source: `group:${group.slug}`, ip: meta.ip } : null,
      });
      const joined = await store.insertMember(trx, {
        group_id: group.id,
        person_id: merged.personId,
        source: 'joined',
        created_at: nowIso(),
      });
      if (joined) {
        await deps.people.addActivity(trx, merged.personId, 'group.join', `Joined ${group.name}`, {
          groupId: group.id,
        });
      }
      return { personId: merged.personId, joined };
    });
  }

  /** Membership from an RSVP to one of the group's events, in the RSVP's transaction. */
  async function addMemberFromEvent(executor: Executor, groupId: string, personId: string): Promise<void> {
    const added = await store.insertMember(executor, {
      group_id: groupId,
      person_id: personId,
      source: 'event',
      created_at: nowIso(),
    });
    if (added)
      await deps.people.addActivity(
        executor,
        personId,
        'group.join',
        'Joined the group by RSVPing to its event',
        { groupId },
      );
  }

  async function addMember(groupId: string, personId: string): Promise<void> {
    await getGroup(groupId);
    await deps.people.getPerson(personId);
    await store.insertMember(db, {
      group_id: groupId,
      person_id: personId,
      source: 'admin',
      created_at: nowIso(),
    });
  }

  async function setLeader(groupId: string, email: string): Promise<void> {
    await getGroup(groupId);
    const user = await deps.auth.findUserByEmail(email).catch(() => undefined);
    if (!user)
      throw new AppError(
        'invalid',
        `There is no user with the email ${email.trim().slice(0, 80)}; invite them first.`,
      );
    await store.upsertGroupRole(db, {
      user_id: user.id,
      group_id: groupId,
      role: 'leader',
      created_at: nowIso(),
    });
  }

  async function leadersOf(groupId: string) {
    const roles = await store.listGroupRoles(db, groupId);
    const users = await deps.auth.listAllUsers();
    return roles.map((r) => ({ ...r, user: users.find((u) => u.id === r.user_id) ?? null }));
  }

  async function groupCounts() {
    const tree = await listTree();
    const out = [];
    for (const node of tree) {
      out.push({
        id: node.id,
        name: node.name,
        level: node.level,
        depth: node.depth,
        members: await countMembers(node.id),
      });
    }
    return out;
  }

  return {
    listTree,
    withDescendants,
    getGroup,
    getGroupBySlug,
    createGroup,
    updateGroup,
    addRule,
    removeRule: (groupId: string, ruleId: string) => store.deleteRule(db, groupId, ruleId),
    listRules: (groupId: string) => store.listRules(db, [groupId]),
    memberIdsQuery,
    countMembers,
    isMember,
    joinGroup,
    addMember,
    addMemberFromEvent,
    removeMember: (groupId: string, personId: string) => store.deleteMember(db, groupId, personId),
    setLeader,
    removeLeader: (groupId: string, userId: string) => store.deleteGroupRole(db, userId, groupId),
    leadersOf,
    ledGroupIds,
    groupScope,
    groupChoices,
    peopleScope,
    groupCounts,
    groupsOfPerson: (personId: string) => store.listGroupsOfPerson(db, personId),
    forgetPerson: (personId: string) => store.deleteMembershipsOfPerson(db, personId),
  };
}

export type GroupsService = ReturnType<typeof createGroupsService>;
