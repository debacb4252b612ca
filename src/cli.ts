import { parseArgs } from 'node:util';
import { buildApp } from './app.ts';
import { openRuntime } from './bootstrap.ts';
import { loadConfig } from './config.ts';
import { migrateToLatest } from './db/index.ts';
import { createServices, startHousekeeping } from './services.ts';
import { cliCommands } from './cli-commands.ts';

const usage = `Usage: undersign <command> [options]

Commands:
  serve                          start the web server (and the embedded job worker)
  worker                         run background jobs only (for separate worker processes)
  migrate                        bring the database schema up to date
${cliCommands.map((c) => `  ${c.usage.padEnd(30)} ${c.summary}`).join('\n')}

Settings come from the environment; see README.md.`;

async function serve(): Promise<void> {
  const config = loadConfig();
  const runtime = await openRuntime(config);
  const { ctx } = runtime;
  const services = createServices(ctx);
  const app = await buildApp(ctx, services);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    ctx.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      ctx.log.error('shutdown took longer than 20 s; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    await app.close();
    await runtime.close();
    ctx.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  if (config.embeddedWorker) await ctx.jobs.start();
  for (const hook of services.afterListen ?? []) await hook();
}

async function worker(): Promise<void> {
  const config = loadConfig();
  const runtime = await openRuntime(config, { runsJobs: true });
  const services = createServices(runtime.ctx);
  await runtime.ctx.jobs.start();
  // Webhook events come from a change feed that a job-running process reads every few seconds.
  services.api.webhooks.startScanner();
  startHousekeeping(services);
  runtime.ctx.log.info('worker started');
  // The job runner's timers do not hold the process open (SQLite has no pool that would).
  const keepAlive = setInterval(() => {}, 3600_000);
  const stop = async () => {
    clearInterval(keepAlive);
    runtime.ctx.log.info('worker stopping: finishing the jobs in hand');
    // A mailing stops between messages; another worker picks up the rest.
    services.mailings.stopSending();
    await services.api.webhooks.stopScanner();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

async function migrate(): Promise<void> {
  const config = loadConfig();
  const runtime = await openRuntime(config, { migrate: false });
  const applied = await migrateToLatest(runtime.handle.db);
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
  await runtime.close();
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return -1;
    case 'worker':
      await worker();
      return -1;
    case 'migrate':
      await migrate();
      return 0;
    case undefined:
    case 'help':
    case '--help':
      console.log(usage);
      return 0;
  }
  const words = rest.filter((word) => !word.startsWith('-'));
  const match = cliCommands.find((c) => {
    const name = c.name.split(' ');
    return name[0] === command && name.slice(1).every((part, i) => words[i] === part);
  });
  if (!match) {
    console.error(`Unknown command "${argv.join(' ')}".\n\n${usage}`);
    return 2;
  }
  const extra = match.name.split(' ').length - 1;
  const args = rest.filter((word, i) => !(i < extra && words.includes(word)));
  try {
    return await match.run(args, parseArgs);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
