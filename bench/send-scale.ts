/**
 * Scale-out of the workers: the same mailing(s) sent by 1 `undersign worker` process, then by N,
 * on PostgreSQL (pg-boss queues) to an smtp-server sink in a child process; prints messages per
 * second and the ratio. The workers are started and idle before the mailing starts, so their start
 * time is not counted. Runs in a database of its own, dropped afterwards.
 *
 *   npm run bench:send -- --db postgres --workers 2
 *   npm run bench:send -- --db postgres --workers 2 --recipients 100000 --mailings 2
 *   npm run bench:send -- --db postgres --workers 2 --cpu 0.5
 *
 * The pair of rounds runs twice: as the machine allows, then with every worker held to the same CPU
 * budget (`--cpu`, default 0.4 of a core, by the kernel's CPU controller; see cpu-cap.ts), so the
 * workers and not the machine's cores are the limit. Where the cgroup tree cannot be written, only
 * the first pair runs, and the printout says why. One mailing is shared by the workers (sender slots,
 * MAIL_SENDERS), so a second worker helps one mailing too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureScaleOut, type CpuCaps } from './cpu-cap.ts';
import { pgStatement } from './pg-admin.ts';
import type { PersonInput } from '../src/people/index.ts';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

export interface SendScaleOptions {
  workers: number;
  recipients: number;
  mailings: number;
  connections: number;
  pgUrl: string;
  smtpUrl: string;
  sinkCount(): Promise<number>;
  /** CPU budget per worker in the capped rounds (share of one core). */
  cpu: number;
}

function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function startWorkers(
  count: number,
  env: Record<string, string>,
  caps: CpuCaps | null,
): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [cli, 'worker'], {
      env: { ...process.env, ...env, DATA_DIR: join(env.DATA_DIR!, String(i)) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    if (caps && child.pid) caps.cap(child.pid);
  }
  // Ready when each has logged "worker started" (pino, one JSON line per entry).
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          let text = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            if (text.includes('worker started')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  for (const child of children) child.stdout!.resume();
  return children;
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }),
  );
}

export async function runSendScaleOut(options: SendScaleOptions): Promise<boolean> {
  const database = `undersign_bench_send_${process.pid}`;
  await pgStatement(options.pgUrl, `create database ${database}`);
  const url = databaseUrl(options.pgUrl, database);
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-send-'));
  const env = {
    DATABASE_URL: url,
    DATA_DIR: dataDir,
    SECRET_KEY: 'bench-secret',
    SMTP_URL: options.smtpUrl,
    MAIL_RATE: '0',
    MAIL_CONCURRENCY: String(options.connections),
    PUBLIC_URL: 'https://act.example.org',
    ORG_POSTAL_ADDRESS: '1 Bench Street, 10115 Berlin',
    LOG_LEVEL: 'info',
  };
  const { loadConfig } = await import('../src/config.ts');
  const { openRuntime } = await import('../src/bootstrap.ts');
  const { createServices } = await import('../src/services.ts');
  const { createLogger } = await import('../src/log.ts');
  const runtime = await openRuntime(loadConfig({ ...process.env, ...env, LOG_LEVEL: 'warn' }), {
    log: createLogger('warn'),
  });
  const services = createServices(runtime.ctx);
  let ok = true;
  try {
    process.stdout.write(
      `Creating ${options.recipients.toLocaleString('en')} subscribed people (PostgreSQL)… `,
    );
    const t0 = performance.now();
    for (let start = 0; start < options.recipients; start += 2000) {
      const batch: PersonInput[] = [];
      for (let i = start; i < Math.min(options.recipients, start + 2000); i++) {
        batch.push({
          email: `person${i}@bench${i % 50}.example`,
          givenName: i % 3 ? 'Ada' : null,
          tags: [`bench${i % options.mailings}`],
          subscribe: true,
        });
      }
      await runtime.ctx.db.transaction().execute((trx) => services.people.mergePeople(trx, batch));
    }
    console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const pair = async (caps: CpuCaps | null): Promise<number> => {
      const rounds: Array<{ workers: number; seconds: number; sent: number }> = [];
      for (const workers of [1, options.workers]) {
        const ids: string[] = [];
        for (let m = 0; m < options.mailings; m++) {
          ids.push(
            await services.mailings.createMailing({
              fromName: 'Bench Campaign',
              fromAddress: 'news@bench.example',
              subject: '{{ given_name | default: "Friend" }}, the vote is on Wednesday',
              body: 'Dear {{ given_name | default: "Friend" }},\n\n[Read the plan](https://example.org/plan).',
              format: 'markdown',
              audience: { tags: [`bench${m}`] },
              tracking: true,
            }),
          );
        }
        const children = await startWorkers(workers, env, caps);
        try {
          const before = await options.sinkCount();
          const t1 = performance.now();
          let materialised = 0;
          for (const id of ids) materialised += await services.mailings.startSending(id);
          for (;;) {
            const statuses = await Promise.all(ids.map((id) => services.mailings.getMailing(id)));
            if (statuses.every((m) => m.status === 'sent')) break;
            if (children.some((c) => c.exitCode !== null)) throw new Error('a worker exited');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          const seconds = (performance.now() - t1) / 1000;
          const delivered = (await options.sinkCount()) - before;
          if (delivered < materialised) ok = false;
          rounds.push({ workers, seconds, sent: delivered });
          console.log(
            `  ${workers} worker${workers === 1 ? ' ' : 's'}: ${(delivered / seconds).toFixed(0).padStart(6)} msgs/s  (${delivered} accepted by the sink for ${materialised} recipients in ${seconds.toFixed(1)} s, ${options.mailings} mailing${options.mailings === 1 ? '' : 's'})`,
          );
        } finally {
          await stop(children);
        }
      }
      const [one, many] = rounds as [(typeof rounds)[0], (typeof rounds)[0]];
      return many.sent / many.seconds / (one.sent / one.seconds);
    };
    await measureScaleOut({
      processes: options.workers,
      cpu: options.cpu,
      noun: 'worker',
      sharedBy: 'the workers, PostgreSQL and the sink',
      pair,
    });
  } finally {
    services.mailings.close();
    services.mail.close();
    await services.petitions.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
    await pgStatement(options.pgUrl, `drop database if exists ${database} with (force)`);
  }
  return ok;
}
