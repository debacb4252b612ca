import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

function policy(directives: Record<string, string>): string {
  return Object.entries(directives)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
}

// No inline scripts or handlers anywhere: every script is a file served by this site.
const common = {
  'default-src': "'self'",
  'script-src': "'self'",
  'style-src': "'self'",
  'form-action': "'self'",
  'base-uri': "'none'",
  'object-src': "'none'",
};

/** Public pages show organisers' images (petition hero images) from any https address. */
export const publicCsp = policy({
  ...common,
  'img-src': "'self' data: https:",
  'frame-ancestors': "'none'",
});
export const embeddableCsp = policy({ ...common, 'img-src': "'self' data: https:", 'frame-ancestors': '*' });
export const adminCsp = policy({ ...common, 'img-src': "'self' data:", 'frame-ancestors': "'none'" });

/**
 * The petition widget other sites frame, and where its form leads inside the frame (the form
 * again with an error, the thank-you page). Everything else refuses to be framed.
 */
export const embeddableRoutes: ReadonlySet<string> = new Set([
  '/petitions/:slug/embed',
  '/petitions/:slug/sign',
  '/petitions/:slug/thanks',
]);

function isAdminPath(url: string): boolean {
  return url === '/admin' || url.startsWith('/admin/') || url.startsWith('/admin?');
}

function setDefault(reply: FastifyReply, name: string, value: string): void {
  if (!reply.hasHeader(name)) reply.header(name, value);
}

/**
 * Security headers on every response (pages, JSON, assets, errors). A route that needs another
 * policy sets its own header first (the framed mail preview keeps the email's inline styles).
 */
export function applySecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  const embeddable = embeddableRoutes.has(request.routeOptions.url ?? '');
  const admin = isAdminPath(request.url);
  setDefault(reply, 'content-security-policy', embeddable ? embeddableCsp : admin ? adminCsp : publicCsp);
  if (!embeddable) setDefault(reply, 'x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  setDefault(reply, 'referrer-policy', 'same-origin');
  if (admin) reply.header('cache-control', 'no-store');
  // Only over TLS (directly, or as the trusted proxy says): a plain-http install must stay reachable.
  if (request.protocol === 'https') {
    reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  }
}

export function installSecurityHeaders(app: FastifyInstance): void {
  // Callback hooks, here and in the other hooks every request runs: no promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    applySecurityHeaders(request, reply);
    done(null, payload);
  });
}
