import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppContext } from '../context.ts';
import type { Metrics } from './metrics.ts';

export interface OpsPluginOptions {
  ctx: AppContext;
  metrics: Metrics;
}

const healthTimeoutMs = 2000;

export async function opsPlugin(app: FastifyInstance, { ctx, metrics }: OpsPluginOptions): Promise<void> {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.get(
    '/healthz',
    {
      schema: {
        response: {
          200: { type: 'object', properties: { status: { type: 'string' }, database: { type: 'string' } } },
          503: { type: 'object', properties: { status: { type: 'string' }, database: { type: 'string' } } },
        },
      },
    },
    async (_request, reply) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        // A database that stopped answering is down for a load balancer too: answer within 2 s.
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('database did not answer within 2 s')), healthTimeoutMs);
        });
        await Promise.race([sql`select 1`.execute(ctx.db), timeout]);
        return { status: 'ok', database: ctx.dialect };
      } catch {
        return reply.status(503).send({ status: 'unavailable', database: ctx.dialect });
      } finally {
        clearTimeout(timer);
      }
    },
  );

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
