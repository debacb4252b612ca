import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A GET that writes something (an open or a click recorded): HEAD must not run it. */
    sideEffects?: boolean;
    /** Set by the guard on the HEAD twin of such a route. */
    refuseHead?: boolean;
  }
}

/** Reads there may write an audit row (who looked at people) or run an export. */
function underAdminOrApi(url: string): boolean {
  return url === '/admin' || url.startsWith('/admin/') || url === '/api' || url.startsWith('/api/');
}

/**
 * Fastify answers HEAD on every GET route by running the GET handler and dropping the body, so a
 * HEAD on an export or an audited page would do the work and write the audit row. HEAD on admin
 * and API routes, and on public GETs marked `sideEffects`, is answered 405 (Allow: GET) before the
 * handler runs, and before any other hook (the session lookup, the API key check). Must be
 * installed on the root instance before the routes and the other onRequest hooks are added.
 */
export function installHeadGuard(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') return;
    if (!route.config?.sideEffects && !underAdminOrApi(route.url ?? route.path ?? '')) return;
    // A copy: the HEAD route shares its config object with the GET route it was made from.
    route.config = { ...route.config, refuseHead: true };
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'HEAD' || !request.routeOptions.config?.refuseHead) {
      done();
      return;
    }
    void reply.code(405).header('allow', 'GET').header('cache-control', 'no-store').send();
  });
}
