/**
 * Signing benchmark: autocannon against the real sign endpoint (distinct emails with ~5% repeats,
 * ALTCHA off, rate limits off) and, in the same run, against a bare Fastify POST that parses the
 * same form body. Both listen on loopback in this process; autocannon runs in a worker thread. Runs on a fresh SQLite file, then on a
 * fresh PostgreSQL schema when DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) answers.
 * After each run it checks that every 201 answer is a committed signature. Each round also prints
 * the CPU time per answered request of the server's thread and of the whole process: on a machine
 * whose speed changes from minute to minute they tell a slower machine from a slower endpoint.
 *
 *   npm run bench:sign
 *   npm run bench:sign -- --duration 20 --connections 50 --rounds 5 --engine sqlite
 */
import formbody from '@fastify/formbody';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.ts';
import { openRuntime } from '../src/bootstrap.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { createServices } from '../src/services.ts';
import { pgAnswers, pgStatement } from './pg-admin.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '100' },
    engine: { type: 'string', default: 'both' },
    rounds: { type: 'string', default: '3' },
    // Scale-out of the web tier: `--db postgres --web N` (see sign-scale.ts).
    db: { type: 'string' },
    web: { type: 'string' },
    cpu: { type: 'string', default: '0.4' },
  },
});
const roundCount = Number(values.rounds);
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmUpSeconds = 2;
const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Measured {
  requestsPerSecond: number;
  /** CPU time of the server's thread (this process's main thread) per answered request, in µs (NaN: unknown). */
  mainCpuUs: number;
  /** The same for every thread of this process (server, its helper threads, the load generator). */
  processCpuUs: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  byStatus: Record<string, number>;
}

// The load generator runs in a worker thread of this process, so it does not share the server's
// event loop; the request bodies come from this module.
const setupRequest = fileURLToPath(new URL('./sign-request.cjs', import.meta.url));

// Node 23.9 and later; on Node 22 only the whole process's CPU is printed.
const threadCpu = (previous?: NodeJS.CpuUsage): NodeJS.CpuUsage | null =>
  typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage(previous) : null;

async function load(url: string, seconds = duration): Promise<Measured> {
  const cpuBefore = threadCpu();
  const allBefore = process.cpuUsage();
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    workers: 1,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    // A file path: autocannon loads it in the worker (a function cannot cross threads).
    requests: [
      { method: 'POST', setupRequest: setupRequest as unknown as autocannon.Request['setupRequest'] },
    ],
  });
  const byStatus: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    byStatus[code] = (stat as { count: number }).count;
  }
  const cpu = cpuBefore && threadCpu(cpuBefore);
  const all = process.cpuUsage(allBefore);
  return {
    requestsPerSecond: result.requests.average,
    mainCpuUs: cpu ? (cpu.user + cpu.system) / Math.max(1, result.requests.total) : NaN,
    processCpuUs: (all.user + all.system) / Math.max(1, result.requests.total),
    p99: result.latency.p99,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    byStatus,
  };
}

/** A bare Fastify POST that parses the same form body: the ceiling for any endpoint here. */
async function startBare(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false });
  await app.register(formbody);
  app.post('/sign', async (request) => {
    const body = request.body as Record<string, string>;
    return { status: 'signed', email: body.email };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/sign`, close: () => app.close() };
}

interface Signed {
  /** 201 answers over all rounds. */
  created: number;
  committed: number;
  processed: number;
  processPerSecond: number;
}

interface Round {
  baseline: Measured;
  signing: Measured;
}

/**
 * Loads the bare endpoint and the sign endpoint in turns (`rounds` times each), so that both see
 * the same machine: a busy neighbour slows both instead of skewing the ratio.
 */
async function real(
  engine: 'sqlite' | 'postgres',
  bareUrl: string,
): Promise<{ rounds: Round[]; result: Signed }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-'));
  const schema = engine === 'postgres' ? `bench_${Date.now().toString(36)}` : undefined;
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: 'bench-secret',
    LOG_LEVEL: 'silent',
    SIGN_ALTCHA: 'false',
    SIGN_RATE_IP: '0',
    SIGN_RATE_EMAIL: '0',
    ...(engine === 'postgres' ? { DATABASE_URL: pgUrl } : {}),
  });
  const runtime = await openRuntime(config, {
    log: createLogger('silent'),
    ...(schema ? { pgSchema: schema } : {}),
  });
  const services = createServices(runtime.ctx);
  const app = await buildApp(runtime.ctx, services);
  try {
    const petition = await services.petitions.createPetition({
      slug: 'bench',
      title: 'Benchmark petition',
      goal: 1000,
      altchaEnabled: false,
      requiresConfirmation: true,
    });
    await services.petitions.publishPetition(petition.row.id);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    const rounds: Round[] = [];
    // Both endpoints warm up first (JIT, statement cache, page cache), uncounted.
    await load(bareUrl, warmUpSeconds);
    const warmUp = await load(`http://127.0.0.1:${address.port}/petitions/bench/sign`, warmUpSeconds);
    for (let i = 0; i < roundCount; i++) {
      const baseline = await load(bareUrl);
      const signing = await load(`http://127.0.0.1:${address.port}/petitions/bench/sign`);
      rounds.push({ baseline, signing });
    }
    // Every "signed" answer is a committed intake row; the job then makes people and signatures.
    // Requests autocannon cut off may still be committing: let them land before counting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const intake = await services.petitions.countIntake();
    const started = performance.now();
    await services.petitions.flushPending();
    const processSeconds = (performance.now() - started) / 1000;
    const exact = await runtime.ctx.db
      .selectFrom('signatures')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const created = rounds.reduce(
      (n, r) => n + (r.signing.byStatus['201'] ?? 0),
      warmUp.byStatus['201'] ?? 0,
    );
    return {
      rounds,
      result: {
        created,
        committed: intake.total,
        processed: Number(exact.n),
        processPerSecond: intake.pending / processSeconds,
      },
    };
  } finally {
    await app.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (schema) await pgStatement(pgUrl, `drop schema if exists ${schema} cascade`);
  }
}

const fmt = (n: number) => n.toFixed(0).padStart(7);
/** CPU per request: the server's thread / the whole process (with the load generator), in µs. */
const cpuOf = (m: Measured) =>
  `${Number.isNaN(m.mainCpuUs) ? '–' : m.mainCpuUs.toFixed(0)}/${m.processCpuUs.toFixed(0)} µs`;

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function report(name: string, rounds: Round[], signed: Signed): void {
  console.log(`\n${name}`);
  for (const [i, { baseline, signing }] of rounds.entries()) {
    console.log(
      `  round ${i + 1}   : bare ${fmt(baseline.requestsPerSecond)} req/s (p99 ${baseline.p99} ms, cpu ${cpuOf(baseline)})   sign ${fmt(signing.requestsPerSecond)} req/s (p99 ${signing.p99} ms, cpu ${cpuOf(signing)}, ${signing.byStatus['201'] ?? 0} new, ${signing.byStatus['200'] ?? 0} already signed, ${signing.non2xx} non-2xx, ${signing.errors} errors)   ratio ${(signing.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)}`,
    );
  }
  const bare = median(rounds.map((r) => r.baseline.requestsPerSecond));
  const sign = median(rounds.map((r) => r.signing.requestsPerSecond));
  const ratio = median(rounds.map((r) => r.signing.requestsPerSecond / r.baseline.requestsPerSecond));
  console.log(`  bare POST : ${fmt(bare)} req/s (median)`);
  console.log(`  sign      : ${fmt(sign)} req/s (median)`);
  console.log(
    `  ratio     : ${ratio.toFixed(2)} (median of rounds)${name.startsWith('SQLite') ? '   (target >= 0.5)' : ''}`,
  );
  // Requests still in flight when autocannon stops are committed but not counted as answers.
  const ok = committedOk(signed);
  console.log(
    `  committed : ${signed.committed} signatures taken in for ${signed.created} "signed" answers${ok ? ' ✓ (each 2xx committed)' : ' ✗ MISMATCH'}`,
  );
  console.log(
    `  processed : ${signed.processed} signatures made from them afterwards, ${fmt(signed.processPerSecond).trim()} per second (the job's pace: people merged, emails queued)`,
  );
}

function committedOk(signed: Signed): boolean {
  return (
    signed.committed >= signed.created &&
    signed.committed <= signed.created + connections * (roundCount + 1) &&
    signed.processed === signed.committed
  );
}

if (values.web) {
  if (values.db !== 'postgres')
    throw new Error('--web N runs separate serve processes on PostgreSQL: add --db postgres');
  const { runWebScaleOut } = await import('./sign-scale.ts');
  const ok = await runWebScaleOut({
    web: Number(values.web),
    duration,
    connections,
    pgUrl,
    cpu: Number(values.cpu),
  });
  process.exit(ok ? 0 : 1);
}

console.log(
  `autocannon: ${connections} connections, ${roundCount} rounds of ${duration} s per endpoint after a ${warmUpSeconds} s warm-up of each, taking turns, loopback, in-process`,
);
console.log(
  'cpu: CPU time per answered request, of the server thread / of the whole process (with the load generator)',
);
const engines: Array<'sqlite' | 'postgres'> =
  values.engine === 'sqlite'
    ? ['sqlite']
    : values.engine === 'postgres'
      ? ['postgres']
      : ['sqlite', 'postgres'];
let failed = false;
for (const engine of engines) {
  if (engine === 'postgres' && !(await pgAnswers(pgUrl))) {
    console.log(`\nPostgreSQL: skipped (${pgUrl} does not answer)`);
    continue;
  }
  const bare = await startBare();
  try {
    const { rounds, result } = await real(engine, bare.url);
    report(engine === 'sqlite' ? 'SQLite' : 'PostgreSQL', rounds, result);
    if (!committedOk(result)) failed = true;
  } finally {
    await bare.close();
  }
}
process.exit(failed ? 1 : 0);
