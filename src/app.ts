import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import type { AppContext } from './context.ts';
import { requestLoggerFactory, type Logger } from './log.ts';
import { createMetrics } from './ops/metrics.ts';
import { opsPlugin } from './ops/plugin.ts';
import { createServices, registerPlugins, type Services } from './services.ts';
import { errorHandler, notFoundHandler } from './web/errors.ts';
import { installHeadGuard } from './web/head-requests.ts';
import { installInputGuard } from './web/input-guard.ts';
import { installSecurityHeaders } from './web/security-headers.ts';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

const css = readFileSync(new URL('./web/static/app.css', import.meta.url));

export interface BuiltApp {
  app: FastifyInstance;
  services: Services;
}

/** Builds the whole app from the capability plugins. Only `cli.ts` listens; tests use `inject()`. */
export async function buildApp(
  ctx: AppContext,
  services: Services = createServices(ctx),
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    childLoggerFactory: (logger, bindings, options) =>
      requestLoggerFactory(logger as Logger, bindings, options, ctx.config.secretKey) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    trustProxy: ctx.config.trustProxy,
    // Keep-alive sockets must not hold a graceful shutdown open.
    forceCloseConnections: 'idle',
  });

  app.decorate('services', services);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  installSecurityHeaders(app);
  installInputGuard(app);
  installHeadGuard(app);
  await app.register(formbody, { bodyLimit: 1024 * 1024 });
  await app.register(cookie);

  app.get('/static/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  );

  await app.register(opsPlugin, { ctx, metrics: createMetrics() });
  await registerPlugins(app, ctx, services);
  return app;
}
