import type { FastifyInstance } from 'fastify';

export interface RegisteredRoute {
  method: string;
  url: string;
}

/** The app's routes as registered, read from Fastify's printed tree (each level indents by 4). */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = Math.round((at - 1) / 4);
    const match = /^(\S+)(?: \(([A-Z, ]+)\))?/.exec(line.slice(at + 3))!;
    const path = (prefixes[depth - 1] ?? '') + match[1]!;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of match[2]?.split(', ') ?? []) routes.push({ method, url: path });
  }
  return routes;
}

/** A concrete path for a route pattern: each parameter replaced by `value` (already URL-safe). */
export function concretePath(url: string, value: (name: string) => string): string {
  return url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => value(name)).replace(/\*$/, 'x');
}
