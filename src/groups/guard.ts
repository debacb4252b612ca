import type { FastifyInstance } from 'fastify';
import type { CurrentUser } from '../auth/index.ts';
import { AppError } from '../errors.ts';
import type { GroupsService } from './service.ts';

/**
 * Admin pages that show or reach people organisation-wide and cannot narrow to a group: the local
 * outbox holds every message sent to anyone. A group leader is refused it rather than shown
 * everyone. (Mailings and petitions narrow to the leader's groups in their services and pages.)
 */
const unscopedPages = [/^\/admin\/outbox(\/|\?|$)/];

/** Installs the check on the root instance (after the auth hooks, before the capability plugins). */
export function installLeaderGuard(app: FastifyInstance, groups: GroupsService): void {
  async function refuseLeader(user: CurrentUser): Promise<void> {
    if ((await groups.groupScope(user)) === null) return;
    throw new AppError(
      'forbidden',
      'Group leaders cannot use this page: it shows messages sent to people outside your groups.',
    );
  }
  // A callback hook: the public pages and signing pass without a promise.
  app.addHook('preHandler', (request, _reply, done) => {
    const user = request.currentUser;
    if (
      !user ||
      !request.url.startsWith('/admin/') ||
      !unscopedPages.some((page) => page.test(request.url))
    ) {
      done();
      return;
    }
    refuseLeader(user).then(() => done(), done);
  });
}
