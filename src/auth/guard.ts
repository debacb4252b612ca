import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import { hasRole, roleRank, type Role } from './roles.ts';
import type { CurrentUser } from './service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    currentUser: CurrentUser | null;
  }
}

/**
 * A preHandler that lets a request through when the signed-in user has at least the least
 * powerful of `roles` (roles are ranked owner > admin > organiser > viewer).
 * Signed-out page requests are sent to the sign-in page; anything else gets 401.
 */
export function requireRole(...allowed: Role[]) {
  const minimum = allowed.reduce<Role>((low, role) => (roleRank(role) < roleRank(low) ? role : low), 'owner');
  return async function checkRole(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const user = request.currentUser;
    if (!user) {
      if (request.method === 'GET' && !request.url.startsWith('/api/')) {
        await reply.redirect(`/admin/login?next=${encodeURIComponent(request.url)}`, 303);
        return;
      }
      throw new AppError('unauthorized', 'Please sign in first.');
    }
    if (!hasRole(user.role, minimum)) {
      throw new AppError(
        'forbidden',
        `This needs the ${minimum} role or higher; you are signed in as ${user.role}.`,
      );
    }
  };
}

/** The signed-in user, for handlers behind requireRole. */
export function userOf(request: FastifyRequest): CurrentUser {
  if (!request.currentUser) throw new AppError('unauthorized', 'Please sign in first.');
  return request.currentUser;
}
