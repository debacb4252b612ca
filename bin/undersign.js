#!/usr/bin/env node
// Runs the TypeScript sources directly (Node.js >= 22.18 strips types natively).
import { main } from '../src/cli.ts';

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
