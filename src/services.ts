import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

/**
 * Every capability's service, built once per process. Capabilities reach each other only through
 * these services (never each other's stores); job handlers are registered here so that a
 * `undersign worker` process has them without the web app.
 */
export interface Services {
  ctx: AppContext;
  /** Run once the server listens (e.g. printing the first-owner link). */
  afterListen?: Array<() => Promise<void>>;
}

export function createServices(ctx: AppContext): Services {
  return { ctx };
}

/** Registers each capability's Fastify plugin. */
export async function registerPlugins(
  _app: FastifyInstance,
  _ctx: AppContext,
  _services: Services,
): Promise<void> {}
