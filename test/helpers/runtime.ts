import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { openRuntime, type Runtime } from '../../src/bootstrap.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createLogger, type Logger } from '../../src/log.ts';

export interface TestRuntime extends Runtime {
  config: Config;
  services: Services;
  dataDir: string;
}

/**
 * A fresh, migrated database for one test file: an SQLite file in a temp folder, or — when
 * DATABASE_URL is set — a PostgreSQL schema of its own, dropped afterwards.
 */
export async function createTestRuntime(
  env: Record<string, string> = {},
  options: { log?: Logger } = {},
): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-test-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: 'test-secret-key-for-undersign-tests',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...env,
  });
  const pgSchema = config.databaseUrl ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const runtime = await openRuntime(config, {
    log: options.log ?? createLogger(config.logLevel),
    ...(pgSchema ? { pgSchema } : {}),
  });
  const services = createServices(runtime.ctx);
  return {
    ...runtime,
    config,
    services,
    dataDir,
    async close() {
      await runtime.close();
      if (pgSchema && config.databaseUrl) {
        const client = new pg.Client({ connectionString: config.databaseUrl });
        await client.connect();
        await client.query(`drop schema if exists ${pgSchema} cascade`);
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createTestApp(
  env: Record<string, string> = {},
  options: { log?: Logger } = {},
): Promise<TestRuntime & { app: FastifyInstance }> {
  const runtime = await createTestRuntime(env, options);
  const app = await buildApp(runtime.ctx, runtime.services);
  await app.ready();
  return {
    ...runtime,
    app,
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}
