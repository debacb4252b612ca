import type { parseArgs } from 'node:util';
import { authCommands } from './auth/commands.ts';
import { demoCommands } from './demo/commands.ts';
import { peopleCommands } from './people/cli.ts';
import { petitionCommands } from './petitions/cli.ts';

/**
 * Commands other capabilities add to the CLI (`user add`, `import`, `export`, `demo`, …).
 * Each opens what it needs itself; `run` returns the exit code.
 */
export interface CliCommand {
  /** Words that select the command, e.g. "user add". */
  name: string;
  usage: string;
  summary: string;
  run(args: string[], parse: typeof parseArgs): Promise<number>;
}

export const cliCommands: CliCommand[] = [
  ...authCommands,
  ...demoCommands,
  ...peopleCommands,
  ...petitionCommands,
];
