import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openRuntime, type Runtime } from '../../src/bootstrap.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createServices, type Services } from '../../src/services.ts';

/** Short runs in CI; CHAOS_LONG=1 runs longer and repeats each fault. */
export const long = process.env.CHAOS_LONG === '1' || process.env.CHAOS_LONG === 'true';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const secretKey = 'chaos-secret-key-for-undersign-tests';
const children = new Set<ChildProcess>();

// However a test file ends, no child outlives it.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * One database shared by the test and the processes it starts: an SQLite file in a temp folder, or
 * (DATABASE_URL set) a PostgreSQL schema of its own. The test reads and writes it through the same
 * services the product uses.
 */
export interface ChaosDatabase {
  dataDir: string;
  schema: string | undefined;
  /** The environment a child process gets (its own DATA_DIR or search_path). */
  childEnv(extra?: Record<string, string>, databaseUrl?: string): NodeJS.ProcessEnv;
  /** DATABASE_URL pointing at this schema through another host:port (a proxy). */
  urlVia(port: number): string;
  config: Config;
  runtime: Runtime;
  services: Services;
  close(): Promise<void>;
}

export async function openChaosDatabase(settings: Record<string, string> = {}): Promise<ChaosDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-chaos-'));
  const baseUrl = process.env.DATABASE_URL;
  const schema = baseUrl ? `chaos_${randomBytes(5).toString('hex')}` : undefined;
  const schemaUrl = (url: URL) => {
    url.searchParams.set('options', `-c search_path=${schema}`);
    return url.toString();
  };
  const env = {
    DATA_DIR: dataDir,
    SECRET_KEY: secretKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(baseUrl ? { DATABASE_URL: baseUrl } : {}),
    ...settings,
  };
  const config = loadConfig(env);
  const runtime = await openRuntime(config, {
    log: createLogger(config.logLevel),
    ...(schema ? { pgSchema: schema } : {}),
  });
  const services = createServices(runtime.ctx);
  return {
    dataDir,
    schema,
    config,
    runtime,
    services,
    childEnv(extra = {}, databaseUrl) {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'warn', ...extra };
      delete childEnv.DATABASE_URL;
      if (baseUrl) childEnv.DATABASE_URL = databaseUrl ?? schemaUrl(new URL(baseUrl));
      return childEnv;
    },
    urlVia(port) {
      const url = new URL(baseUrl!);
      url.host = `127.0.0.1:${port}`;
      return schemaUrl(url);
    },
    async close() {
      services.mailings.close();
      await services.petitions.close();
      await runtime.close();
      if (schema && baseUrl) {
        const client = new pg.Client({ connectionString: baseUrl });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A `node src/cli.ts <command>` child process, its output kept (the tail) for failure messages. */
export interface CliProcess {
  child: ChildProcess;
  port: number;
  url: string;
  output(): string;
  exited: Promise<number | null>;
  alive(): boolean;
  /** kill -9: no shutdown handler runs. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCli(
  command: 'serve' | 'worker',
  env: NodeJS.ProcessEnv,
  options: { port?: number; ready?: RegExp } = {},
): Promise<CliProcess> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [cli, command], {
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let seen = '';
  const keep = (chunk: Buffer) => {
    seen = (seen + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc: CliProcess = {
    child,
    port,
    url,
    output: () => seen,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!proc.alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (!proc.alive()) throw new Error(`${command} exited while starting:\n${seen}`);
      if (Date.now() > deadline) throw new Error(`${command} did not start within 60 s:\n${seen}`);
      if (options.ready) {
        if (options.ready.test(seen)) break;
      } else if (command === 'serve') {
        const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
      } else if (/worker started/.test(seen)) {
        break;
      }
      await sleep(100);
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return proc;
}

/** Kills every child process still running (afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/**
 * A TCP proxy on a fixed loopback port. `down()` closes the listener and cuts every connection (the
 * far side looks gone: refused connections, reset sockets); `up()` listens again on the same port.
 * `stall()` forwards nothing more, on open connections or new ones (a server or network that stopped
 * answering); `heal()` drops what stalled, as a partition ending does, and forwards again.
 */
export interface TcpProxy {
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  stall(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket | null }>();
  let stalled = false;
  let server: Server | null = null;
  const port = await freePort();
  const drop = (pair: { client: Socket; upstream: Socket | null }) => {
    pair.client.destroy();
    pair.upstream?.destroy();
    pairs.delete(pair);
  };
  const listen = async () => {
    const s = createServer((client) => {
      const pair: { client: Socket; upstream: Socket | null } = { client, upstream: null };
      pairs.add(pair);
      client.on('error', () => drop(pair));
      client.on('close', () => drop(pair));
      if (stalled) {
        client.pause(); // accepted, never answered
        return;
      }
      const upstream = new Socket();
      pair.upstream = upstream;
      upstream.on('error', () => drop(pair));
      upstream.on('close', () => drop(pair));
      upstream.connect(target.port, target.host, () => {
        if (stalled) return;
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const down = async () => {
    const s = server;
    server = null;
    for (const pair of [...pairs]) drop(pair);
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    port,
    down,
    up: listen,
    stall() {
      stalled = true;
      for (const { client, upstream } of pairs) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    heal() {
      stalled = false;
      for (const pair of [...pairs]) drop(pair);
    },
    close: down,
  };
}
