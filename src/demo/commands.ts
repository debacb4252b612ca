import { openRuntime } from '../bootstrap.ts';
import type { CliCommand } from '../cli-commands.ts';
import { loadConfig } from '../config.ts';
import { createServices } from '../services.ts';
import { runDemo } from './run.ts';

export const demoCommands: CliCommand[] = [
  {
    name: 'demo',
    usage: 'demo [--people N]',
    summary: 'fill the database with a sample organisation (default 5000 supporters, petitions, signatures)',
    async run(args, parse) {
      const { values } = parse({
        args,
        options: { people: { type: 'string', default: '5000' }, seed: { type: 'string' } },
      });
      const people = Number(values.people);
      if (!Number.isInteger(people) || people < 1 || people > 1_000_000)
        throw new Error('--people must be a whole number from 1 to 1000000');
      // The demo signs on behalf of thousands of people from one machine: no per-IP limit for it.
      const runtime = await openRuntime(
        loadConfig({ ...process.env, SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0', LOG_LEVEL: 'warn' }),
      );
      try {
        const services = createServices(runtime.ctx);
        console.log(`Adding ${people} sample supporters…`);
        const summary = await runDemo(services, {
          people,
          ...(values.seed ? { seed: Number(values.seed) } : {}),
          print: (l) => console.log(l),
        });
        await runtime.ctx.jobs.drain();
        console.log(
          `Done: ${summary.people} supporters, ${summary.signatures} signatures on ${summary.petitions.join(', ')}. Start with npm start.`,
        );
        return 0;
      } finally {
        await runtime.close();
      }
    },
  },
];
