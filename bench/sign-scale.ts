/**
 * Scale-out of the web tier: the same signing load against 1 `undersign serve` process, then
 * against N of them (separate processes, EMBEDDED_WORKER=false, one SECRET_KEY, one PostgreSQL
 * database), printed as a throughput ratio. Each process gets its share of the connections from
 * its own autocannon (a tiny client-side round-robin). Runs in a database of its own, dropped after.
 *
 *   npm run bench:sign -- --db postgres --web 2
 *   npm run bench:sign -- --db postgres --web 4 --duration 20 --connections 100
 *   npm run bench:sign -- --db postgres --web 2 --cpu 0.5
 *
 * Each pair of rounds runs twice: as the machine allows, then with every serve process held to the
 * same CPU budget (`--cpu`, default 0.4 of a core, by the kernel's CPU controller; see cpu-cap.ts), so
 * the processes and not the machine's cores are the limit. Where the cgroup tree cannot be written,
 * only the first pair runs, and the printout says why.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { measureScaleOut, type CpuCaps } from './cpu-cap.ts';
import { pgStatement } from './pg-admin.ts';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const setupRequest = fileURLToPath(new URL('./sign-request.cjs', import.meta.url));

export interface WebScaleOptions {
  web: number;
  duration: number;
  connections: number;
  pgUrl: string;
  /** CPU budget per serve process in the capped rounds (share of one core). */
  cpu: number;
}

interface Round {
  processes: number;
  requestsPerSecond: number;
  created: number;
  non2xx: number;
  errors: number;
  committed: number;
}

function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function waitForAnswer(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within 60 s`);
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function round(
  options: WebScaleOptions,
  url: string,
  processes: number,
  slug: string,
  basePort: number,
  caps: CpuCaps | null,
): Promise<Round> {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-web-'));
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      const child = spawn(process.execPath, [cli, 'serve'], {
        env: {
          ...process.env,
          DATABASE_URL: url,
          PORT: String(basePort + i),
          HOST: '127.0.0.1',
          DATA_DIR: join(dataDir, String(i)),
          SECRET_KEY: 'bench-shared-secret-key',
          EMBEDDED_WORKER: 'false',
          LOG_LEVEL: 'warn',
          SIGN_ALTCHA: 'false',
          SIGN_RATE_IP: '0',
          SIGN_RATE_EMAIL: '0',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      if (caps && child.pid) caps.cap(child.pid);
    }
    for (let i = 0; i < processes; i++) {
      await waitForAnswer(`http://127.0.0.1:${basePort + i}/petitions/${slug}`, children[i]!);
    }
    const perProcess = Math.max(1, Math.floor(options.connections / processes));
    const results = await Promise.all(
      children.map((_, i) =>
        autocannon({
          url: `http://127.0.0.1:${basePort + i}/petitions/${slug}/sign`,
          method: 'POST',
          connections: perProcess,
          duration: options.duration,
          workers: 1,
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          requests: [
            {
              method: 'POST',
              setupRequest: setupRequest as unknown as autocannon.Request['setupRequest'],
            },
          ],
        }),
      ),
    );
    // SIGTERM: each process finishes its requests and writes pending counters before exiting.
    await stop(children);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    // A "signed" answer is a committed intake row (workers make the signatures from them later).
    const { rows } = await client.query<{ n: string }>(
      'select count(*) as n from signature_intake i join petitions p on p.id = i.petition_id where p.slug = $1',
      [slug],
    );
    await client.end();
    let created = 0;
    for (const result of results) {
      const stats = (result.statusCodeStats ?? {}) as Record<string, { count: number }>;
      created += stats['201']?.count ?? 0;
    }
    return {
      processes,
      requestsPerSecond: results.reduce((sum, r) => sum + r.requests.average, 0),
      created,
      non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
      errors: results.reduce((sum, r) => sum + r.errors, 0),
      committed: Number(rows[0]!.n),
    };
  } finally {
    await stop(children);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runWebScaleOut(options: WebScaleOptions): Promise<boolean> {
  const database = `undersign_bench_web_${process.pid}`;
  await pgStatement(options.pgUrl, `create database ${database}`);
  const url = databaseUrl(options.pgUrl, database);
  let ok = true;
  try {
    // Schema, pg-boss and two open petitions, made once by this process.
    const { openRuntime } = await import('../src/bootstrap.ts');
    const { loadConfig } = await import('../src/config.ts');
    const { createServices } = await import('../src/services.ts');
    const { createLogger } = await import('../src/log.ts');
    const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-web-'));
    const runtime = await openRuntime(
      loadConfig({ DATABASE_URL: url, DATA_DIR: dataDir, SECRET_KEY: 'bench-shared-secret-key' }),
      { log: createLogger('warn') },
    );
    const services = createServices(runtime.ctx);
    for (const slug of ['bench-one', 'bench-many', 'bench-one-capped', 'bench-many-capped']) {
      const created = await services.petitions.createPetition({
        slug,
        title: 'Benchmark petition',
        goal: 1000,
        altchaEnabled: false,
        requiresConfirmation: true,
      });
      await services.petitions.publishPetition(created.row.id);
    }
    await services.petitions.close();
    services.mailings.close();
    services.mail.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });

    console.log(
      `web scale-out on PostgreSQL: ${options.connections} connections in all, ${options.duration} s per round, ${cpus().length} CPU cores on this machine (load generator, web processes and PostgreSQL share them)`,
    );
    const pair = async (caps: CpuCaps | null, suffix: string, port: number): Promise<number> => {
      const one = await round(options, url, 1, `bench-one${suffix}`, port, caps);
      const many = await round(options, url, options.web, `bench-many${suffix}`, port + 10, caps);
      for (const r of [one, many]) {
        const committedOk = r.committed >= r.created && r.committed <= r.created + options.connections;
        if (!committedOk) ok = false;
        console.log(
          `  ${r.processes} serve process${r.processes === 1 ? ' ' : 'es'}: ${r.requestsPerSecond.toFixed(0).padStart(6)} req/s  (${r.created} new signatures answered 201, ${r.non2xx} non-2xx, ${r.errors} errors; ${r.committed} taken in${committedOk ? ' ✓' : ' ✗ MISMATCH'})`,
        );
      }
      return many.requestsPerSecond / one.requestsPerSecond;
    };
    await measureScaleOut({
      processes: options.web,
      cpu: options.cpu,
      noun: 'serve process',
      sharedBy: 'everything',
      pair: (caps) => (caps ? pair(caps, '-capped', 3420) : pair(null, '', 3400)),
    });
  } finally {
    await pgStatement(options.pgUrl, `drop database if exists ${database} with (force)`);
  }
  return ok;
}
