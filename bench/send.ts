/**
 * Bulk send benchmark: a mailing with personalisation and open/click tracking to N recipients,
 * sent by the real sender (materialised recipients, id-ordered batches, per-message "sent" marks)
 * to a local smtp-server sink, against, in the same run, a bare nodemailer loop sending N
 * pre-rendered messages to the same sink with the same number of SMTP connections.
 * The sink runs in a child process so it does not share the sender's event loop.
 *
 *   npm run bench:send                       # 100,000 recipients, SQLite
 *   npm run bench:send -- --recipients 20000
 *   DATABASE_URL=postgres://… npm run bench:send
 *   npm run bench:send -- --db postgres --workers 2   # 1 vs 2 `undersign worker` processes (send-scale.ts)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import type { PersonInput } from '../src/people/index.ts';
import { pgStatement } from './pg-admin.ts';

const { values } = parseArgs({
  options: {
    recipients: { type: 'string' },
    connections: { type: 'string', default: '5' },
    sink: { type: 'boolean', default: false },
    db: { type: 'string' },
    workers: { type: 'string' },
    mailings: { type: 'string', default: '1' },
    cpu: { type: 'string', default: '0.4' },
  },
});

/** Child process: an SMTP server that accepts and counts messages, keeping nothing. */
async function runSink(): Promise<void> {
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        count++;
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.send!({ port: (server.server.address() as AddressInfo).port });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'count') process.send!({ count });
  });
}

async function sinkCount(child: ChildProcess): Promise<number> {
  child.send({ type: 'count' });
  for (;;) {
    const [message] = (await once(child, 'message')) as [{ count?: number }];
    if (typeof message.count === 'number') return message.count;
  }
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

async function main(): Promise<void> {
  const recipients = Number(values.recipients ?? 100_000);
  const connections = Number(values.connections);
  if (!Number.isInteger(recipients) || recipients < 1)
    throw new Error('--recipients must be a positive whole number');

  const sink = fork(new URL(import.meta.url).pathname, ['--sink'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port }] = (await once(sink, 'message')) as [{ port: number }];
  const smtpUrl = `smtp://127.0.0.1:${port}`;

  if (values.workers) {
    if (values.db !== 'postgres')
      throw new Error('--workers N runs worker processes on PostgreSQL: add --db postgres');
    const { runSendScaleOut } = await import('./send-scale.ts');
    try {
      const ok = await runSendScaleOut({
        workers: Number(values.workers),
        recipients: Number(values.recipients ?? 20_000),
        mailings: Math.max(1, Number(values.mailings)),
        connections,
        pgUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
        smtpUrl,
        sinkCount: () => sinkCount(sink),
        cpu: Number(values.cpu),
      });
      if (!ok) process.exitCode = 1;
    } finally {
      sink.kill();
    }
    return;
  }

  const { loadConfig } = await import('../src/config.ts');
  const { openRuntime } = await import('../src/bootstrap.ts');
  const { createServices } = await import('../src/services.ts');
  const { createLogger } = await import('../src/log.ts');

  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-send-'));
  const schema = process.env.DATABASE_URL ? `bench_send_${process.pid}` : undefined;
  const config = loadConfig({
    ...process.env,
    DATA_DIR: dataDir,
    SECRET_KEY: 'bench-secret',
    SMTP_URL: smtpUrl,
    MAIL_RATE: '0',
    MAIL_CONCURRENCY: String(connections),
    PUBLIC_URL: 'https://act.example.org',
    ORG_POSTAL_ADDRESS: '1 Bench Street, 10115 Berlin',
    LOG_LEVEL: 'warn',
  });
  const runtime = await openRuntime(config, {
    log: createLogger('warn'),
    ...(schema ? { pgSchema: schema } : {}),
  });
  const services = createServices(runtime.ctx);
  const engine = runtime.ctx.dialect;

  try {
    // --- audience ---
    process.stdout.write(`Creating ${recipients.toLocaleString('en')} subscribed people (${engine})… `);
    let t0 = performance.now();
    const names = ['Ada', 'Grace', 'Alan', 'Katherine', 'Linus', 'Margaret', '', 'Radia', 'Ken', 'Barbara'];
    for (let start = 0; start < recipients; start += 2000) {
      const batch: PersonInput[] = [];
      for (let i = start; i < Math.min(recipients, start + 2000); i++) {
        batch.push({
          email: `person${i}@bench${i % 50}.example`,
          givenName: names[i % names.length] || null,
          tags: ['bench'],
          subscribe: true,
        });
      }
      await runtime.ctx.db.transaction().execute((trx) => services.people.mergePeople(trx, batch));
    }
    console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const mailingId = await services.mailings.createMailing({
      fromName: 'Bench Campaign',
      fromAddress: 'news@bench.example',
      subject: '{{ given_name | default: "Friend" }}, the vote is on Wednesday',
      preheader: 'Two minutes to act',
      body: [
        'Dear {{ given_name | default: "Friend" }},',
        '',
        'On Wednesday the council votes on the river. **Five hundred thousand** of us can change it.',
        '',
        '[Read the plan](https://example.org/plan) and [tell a friend](https://example.org/share).',
        '',
        'Thank you,  ',
        'The team',
      ].join('\n'),
      format: 'markdown',
      audience: { tags: ['bench'] },
      tracking: true,
    });

    // One rendered message, reused for the bare loop (same size and shape as ours).
    const sample = await services.mailings.previewMailing(mailingId, null);

    // --- bare nodemailer loop ---
    const bare = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: connections,
      maxMessages: Infinity,
    });
    const before = await sinkCount(sink);
    t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: connections * 2 }, async () => {
        while (next < recipients) {
          const i = next++;
          await bare.sendMail({
            from: '"Bench Campaign" <news@bench.example>',
            to: `person${i}@bench${i % 50}.example`,
            subject: sample.subject,
            html: sample.html,
            text: sample.text,
          });
        }
      }),
    );
    const bareSeconds = (performance.now() - t0) / 1000;
    bare.close();
    const bareDelivered = (await sinkCount(sink)) - before;

    // --- Undersign bulk sender ---
    let peakRss = process.memoryUsage().rss;
    const rssAtStart = peakRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);
    t0 = performance.now();
    const materialised = await services.mailings.startSending(mailingId);
    const materialiseSeconds = (performance.now() - t0) / 1000;
    const beforeOurs = await sinkCount(sink);
    const t1 = performance.now();
    await runtime.ctx.jobs.drain();
    const sendSeconds = (performance.now() - t1) / 1000;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const ourDelivered = (await sinkCount(sink)) - beforeOurs;
    const report = await services.mailings.mailingReport(mailingId);

    const bareRate = recipients / bareSeconds;
    const ourRate = materialised / sendSeconds;
    console.log('');
    console.log(
      `recipients            ${recipients.toLocaleString('en')} (${engine}, ${connections} SMTP connections)`,
    );
    console.log(
      `bare nodemailer loop  ${bareRate.toFixed(0)} msgs/s  (${bareSeconds.toFixed(1)} s, ${bareDelivered} accepted)`,
    );
    console.log(
      `undersign sender      ${ourRate.toFixed(0)} msgs/s  (${sendSeconds.toFixed(1)} s, ${ourDelivered} accepted, ${report.states.sent ?? 0} marked sent; materialising ${materialised} recipients took ${materialiseSeconds.toFixed(2)} s)`,
    );
    console.log(`ratio                 ${(ourRate / bareRate).toFixed(2)}  (target >= 0.5)`);
    console.log(`peak RSS              ${mb(peakRss)} MB  (at start of sending: ${mb(rssAtStart)} MB)`);
    if (ourDelivered !== materialised || report.states.sent !== materialised) {
      console.log('WARNING: not every recipient was sent exactly once');
      process.exitCode = 1;
    }
  } finally {
    services.mailings.close();
    services.mail.close();
    await services.petitions.close();
    await runtime.close();
    // After the runtime (and its job queue) has stopped, so that nothing still polls the schema.
    if (schema && config.databaseUrl)
      await pgStatement(config.databaseUrl, `drop schema if exists ${schema} cascade`);
    rmSync(dataDir, { recursive: true, force: true });
    sink.kill();
  }
}

if (values.sink) {
  void runSink();
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
