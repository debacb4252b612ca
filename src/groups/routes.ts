import {
  personFieldValues,
  personFieldsBody,
  personInputOf,
  type PersonFieldValues,
} from '../web/person-fields.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasRole, requireRole, userOf, type AuthService } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { AppError, isAppError } from '../errors.ts';
import type { EventsService } from '../events/index.ts';
import type { PeopleService } from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';
import { choosePublicLanguage, type PublicLanguage } from '../web/language.ts';
import { addAdminNavItem } from '../web/layout.ts';
import { groupMessages } from './i18n.ts';
import {
  groupAdminPage,
  groupMembersPage,
  groupPublicPage,
  groupsListPage,
  type GroupsAdminContext,
} from './pages.ts';
import type { GroupInput, GroupsService } from './service.ts';
import type { GroupRow } from './tables.ts';

export interface GroupsPluginOptions {
  ctx: AppContext;
  groups: GroupsService;
  auth: AuthService;
  people: PeopleService;
  petitions: PetitionService;
  events: EventsService;
  /**
   * Members per group as the dashboard last counted them (every few minutes in the background), by
   * group id. Without it, or for a group created since, the pages count members on each view.
   */
  keptMemberCounts?: () => Promise<{ members: ReadonlyMap<string, number>; countedAt: string }>;
}

const slugParams = Type.Object({ slug: Type.String({ minLength: 1, maxLength: 100 }) });
const langQuery = Type.Object({ lang: Type.Optional(Type.String({ maxLength: 10 })) });
const idParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const groupBody = Type.Object({
  _csrf: Type.Optional(Type.String()),
  name: Type.Optional(Type.String({ maxLength: 300 })),
  slug: Type.Optional(Type.String({ maxLength: 100 })),
  level: Type.Optional(Type.String({ maxLength: 20 })),
  parent_id: Type.Optional(Type.String({ maxLength: 64 })),
  description: Type.Optional(Type.String({ maxLength: 10_000 })),
});

function groupInput(body: typeof groupBody.static): GroupInput {
  return {
    name: body.name ?? '',
    slug: body.slug ?? null,
    level: body.level ?? 'local',
    parentId: body.parent_id || null,
    description: body.description ?? '',
  };
}

/** Public group pages with a join form; admin pages for the group tree, rules, leaders and members. */
export async function groupsPlugin(instance: FastifyInstance, options: GroupsPluginOptions): Promise<void> {
  const { ctx, groups, auth, people, petitions, events, keptMemberCounts } = options;
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  addAdminNavItem({ href: '/admin/groups', label: 'Groups', section: 'groups' });
  const sendHtml = (reply: FastifyReply, page: { value: string }) =>
    reply.type('text/html; charset=utf-8').send(page.value);

  /* ---------- public ---------- */

  async function publicPage(
    group: GroupRow,
    lang: PublicLanguage,
    extra: { error?: string; notice?: string; values?: PersonFieldValues } = {},
  ) {
    const tree = await groups.listTree();
    const ids = await groups.withDescendants([group.id]);
    const open = (await petitions.listPetitions()).filter(
      (p) => p.status === 'open' && p.group_id && ids.includes(p.group_id),
    );
    return groupPublicPage({
      group,
      parent: tree.find((g) => g.id === group.parent_id) ?? null,
      children: tree.filter((g) => g.parent_id === group.id),
      petitions: open.map((p) => ({ slug: p.slug, title: p.title })),
      events: await events.listEvents({ groupIds: ids, upcoming: true, limit: 20 }),
      lang,
      ...extra,
    });
  }

  /** ?lang= (or the form's lang field), else the browser's Accept-Language. */
  const languageOf = (request: FastifyRequest, requested?: string) =>
    choosePublicLanguage(requested, request.headers['accept-language']);

  app.get(
    '/groups/:slug',
    { schema: { params: slugParams, querystring: langQuery } },
    async (request, reply) =>
      sendHtml(
        reply,
        await publicPage(
          await groups.getGroupBySlug(request.params.slug),
          languageOf(request, request.query.lang),
        ),
      ),
  );

  app.post(
    '/groups/:slug/join',
    { schema: { params: slugParams, body: personFieldsBody } },
    async (request, reply) => {
      const group = await groups.getGroupBySlug(request.params.slug);
      const b = request.body;
      const values = personFieldValues(b);
      const lang = languageOf(request, b.lang);
      const welcome = groupMessages(lang).welcome(group.name);
      if (b.website) {
        // A filled honeypot is a bot: answer like a success, change nothing.
        ctx.log.info({ group: group.id }, 'group join honeypot filled');
        return sendHtml(reply, await publicPage(group, lang, { notice: welcome }));
      }
      try {
        await groups.joinGroup(
          group.slug,
          { ...personInputOf(b), language: lang },
          { ip: request.ip ?? null },
        );
        return sendHtml(reply, await publicPage(group, lang, { notice: welcome }));
      } catch (error) {
        if (!isAppError(error) || (error.code !== 'invalid' && error.code !== 'rate_limited')) throw error;
        // Too many attempts: 429 with the form, the reason and when to try again.
        if (typeof error.details?.retryAfter === 'number')
          reply.header('retry-after', String(error.details.retryAfter));
        reply.status(error.status);
        return sendHtml(reply, await publicPage(group, lang, { error: error.message, values }));
      }
    },
  );

  /* ---------- admin ---------- */

  const context = (request: FastifyRequest): GroupsAdminContext => {
    const user = userOf(request);
    return { user, orgName: ctx.config.orgName, canManage: hasRole(user.role, 'admin') };
  };

  /** The group, when the user may see it: leaders only within the groups they lead. */
  async function groupFor(request: FastifyRequest, id: string): Promise<GroupRow> {
    const group = await groups.getGroup(id);
    const scope = await groups.groupScope(userOf(request));
    if (scope && !scope.includes(group.id)) throw new AppError('not_found', 'There is no such group.');
    return group;
  }

  async function listPage(
    request: FastifyRequest,
    extra: { error?: string; values?: Record<string, string> } = {},
  ) {
    const scope = await groups.groupScope(userOf(request));
    const tree = (await groups.listTree()).filter((g) => !scope || scope.includes(g.id));
    const kept = await keptMemberCounts?.();
    const withCounts = [];
    for (const node of tree) withCounts.push({ ...node, members: await membersOf(node.id, kept) });
    return groupsListPage(context(request), {
      tree: withCounts,
      ...(kept ? { countedAt: kept.countedAt } : {}),
      ...extra,
    });
  }

  /** The kept count of a group's members; counted now only for a group the kept numbers lack. */
  async function membersOf(
    groupId: string,
    kept: { members: ReadonlyMap<string, number> } | undefined,
  ): Promise<number> {
    return kept?.members.get(groupId) ?? (await groups.countMembers(groupId));
  }

  async function detailPage(
    request: FastifyRequest,
    group: GroupRow,
    extra: { error?: string; notice?: string } = {},
  ) {
    const kept = await keptMemberCounts?.();
    return groupAdminPage(context(request), {
      group,
      tree: await groups.listTree(),
      members: await membersOf(group.id, kept),
      ...(kept?.members.has(group.id) ? { countedAt: kept.countedAt } : {}),
      rules: await groups.listRules(group.id),
      leaders: await groups.leadersOf(group.id),
      ...extra,
    });
  }

  app.get('/admin/groups', { preHandler: requireRole('viewer') }, async (request, reply) =>
    sendHtml(reply, await listPage(request)),
  );

  app.post(
    '/admin/groups',
    { preHandler: requireRole('admin'), schema: { body: groupBody } },
    async (request, reply) => {
      try {
        const group = await groups.createGroup(groupInput(request.body));
        await auth.audit({
          userId: userOf(request).id,
          action: 'group.create',
          subjectType: 'group',
          subjectId: group.id,
          ip: request.ip,
        });
        return reply.redirect(`/admin/groups/${group.id}`, 303);
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'not_found'].includes(error.code)) throw error;
        reply.status(error.status === 404 ? 400 : error.status);
        const { _csrf, ...values } = request.body;
        void _csrf;
        return sendHtml(
          reply,
          await listPage(request, { error: error.message, values: values as Record<string, string> }),
        );
      }
    },
  );

  app.get(
    '/admin/groups/:id',
    { preHandler: requireRole('viewer'), schema: { params: idParams } },
    async (request, reply) =>
      sendHtml(reply, await detailPage(request, await groupFor(request, request.params.id))),
  );

  async function adminAction(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    action: (group: GroupRow) => Promise<string>,
  ) {
    const group = await groups.getGroup(id);
    try {
      const notice = await action(group);
      await auth.audit({
        userId: userOf(request).id,
        action: `group.${notice}`,
        subjectType: 'group',
        subjectId: group.id,
        ip: request.ip,
      });
      return reply.redirect(`/admin/groups/${group.id}`, 303);
    } catch (error) {
      if (!isAppError(error) || !['invalid', 'conflict'].includes(error.code)) throw error;
      reply.status(error.status);
      return sendHtml(reply, await detailPage(request, await groups.getGroup(id), { error: error.message }));
    }
  }

  app.post(
    '/admin/groups/:id',
    { preHandler: requireRole('admin'), schema: { params: idParams, body: groupBody } },
    async (request, reply) =>
      adminAction(request, reply, request.params.id, async (group) => {
        await groups.updateGroup(group.id, groupInput(request.body));
        return 'update';
      }),
  );

  app.post(
    '/admin/groups/:id/rules',
    {
      preHandler: requireRole('admin'),
      schema: {
        params: idParams,
        body: Type.Object({
          _csrf: Type.Optional(Type.String()),
          kind: Type.String({ maxLength: 20 }),
          value: Type.String({ maxLength: 100 }),
        }),
      },
    },
    async (request, reply) =>
      adminAction(request, reply, request.params.id, async (group) => {
        await groups.addRule(group.id, request.body.kind, request.body.value);
        return 'rule.add';
      }),
  );

  app.post(
    '/admin/groups/:id/rules/:ruleId/delete',
    {
      preHandler: requireRole('admin'),
      schema: {
        params: Type.Object({ id: Type.String({ maxLength: 64 }), ruleId: Type.String({ maxLength: 64 }) }),
      },
    },
    async (request, reply) =>
      adminAction(request, reply, request.params.id, async (group) => {
        await groups.removeRule(group.id, request.params.ruleId);
        return 'rule.remove';
      }),
  );

  app.post(
    '/admin/groups/:id/leaders',
    {
      preHandler: requireRole('admin'),
      schema: {
        params: idParams,
        body: Type.Object({ _csrf: Type.Optional(Type.String()), email: Type.String({ maxLength: 320 }) }),
      },
    },
    async (request, reply) =>
      adminAction(request, reply, request.params.id, async (group) => {
        await groups.setLeader(group.id, request.body.email);
        return 'leader.add';
      }),
  );

  app.post(
    '/admin/groups/:id/leaders/:userId/delete',
    {
      preHandler: requireRole('admin'),
      schema: {
        params: Type.Object({ id: Type.String({ maxLength: 64 }), userId: Type.String({ maxLength: 64 }) }),
      },
    },
    async (request, reply) =>
      adminAction(request, reply, request.params.id, async (group) => {
        await groups.removeLeader(group.id, request.params.userId);
        return 'leader.remove';
      }),
  );

  app.get(
    '/admin/groups/:id/members',
    { preHandler: requireRole('viewer'), schema: { params: idParams } },
    async (request, reply) => {
      const group = await groupFor(request, request.params.id);
      // Through the people service: the viewer's own scope applies too, and the view is audited.
      const result = await people.searchPeople({
        within: await groups.memberIdsQuery([group.id]),
        viewer: userOf(request),
        perPage: 200,
      });
      return sendHtml(
        reply,
        groupMembersPage(context(request), { group, people: result.people, total: result.total }),
      );
    },
  );
}
