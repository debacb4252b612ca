import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A GET that writes something (an open or a click recorded): HEAD must not run it. */
    sideEffects?: boolean;
  }
}

/** Reads there may write an audit row (who looked at people) or run an export. */
function underAdminOrApi(url: string): boolean {
  return url === '/admin' || url.startsWith('/admin/') || url === '/api' || url.startsWith('/api/');
}

async function refuseHead(_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return reply.code(405).header('allow', 'GET').header('cache-control', 'no-store').send();
}

/**
 * Fastify answers HEAD on every GET route by running the GET handler and dropping the body, so a
 * HEAD on an export or an audited page would do the work and write the audit row. HEAD on admin
 * and API routes, and on public GETs marked `sideEffects`, is answered 405 (Allow: GET) before the
 * handler runs. Must be installed before the routes are added.
 */
export function installHeadGuard(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') return;
    if (!route.config?.sideEffects && !underAdminOrApi(route.url ?? route.path ?? '')) return;
    const own: onRequestHookHandler[] = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [refuseHead, ...own];
  });
}
