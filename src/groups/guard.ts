import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.ts';
import type { GroupsService } from './service.ts';

/**
 * Admin pages that show or reach people organisation-wide and do not yet narrow to a group:
 * mailings and their audience counts, the outbox, and petition dashboards and deliveries (signer
 * names). A group leader is refused them rather than shown everyone.
 */
const unscopedPages = [
  /^\/admin\/mailings(\/|\?|$)/,
  /^\/admin\/outbox(\/|\?|$)/,
  /^\/admin\/petitions\/[^/?]+(\?|$)/,
  /^\/admin\/petitions\/[^/?]+\/(signatures\.csv|delivery\.pdf)(\?|$)/,
];
const allowedPetitionPages = /^\/admin\/petitions\/new(\?|$)/;

/** Installs the check on the root instance (after the auth hooks, before the capability plugins). */
export function installLeaderGuard(app: FastifyInstance, groups: GroupsService): void {
  app.addHook('preHandler', async (request) => {
    const user = request.currentUser;
    if (!user || !request.url.startsWith('/admin/')) return;
    if (!unscopedPages.some((page) => page.test(request.url)) || allowedPetitionPages.test(request.url))
      return;
    if ((await groups.groupScope(user)) === null) return;
    throw new AppError(
      'forbidden',
      'Group leaders cannot use this page yet: it would show or reach people outside your groups.',
    );
  });
}
