import { readFile } from 'node:fs/promises';
import { openRuntime } from '../bootstrap.ts';
import type { CliCommand } from '../cli-commands.ts';
import { loadConfig } from '../config.ts';
import { createServices } from '../services.ts';

export const petitionCommands: CliCommand[] = [
  {
    name: 'districts import',
    usage: 'districts import FILE.csv [--petition SLUG]',
    summary: 'load a postal_code,district_id,district_name map (global, or for one petition)',
    async run(args, parse) {
      const { values, positionals } = parse({
        args,
        allowPositionals: true,
        options: { petition: { type: 'string' } },
      });
      const file = positionals[0];
      if (!file) throw new Error('Give the CSV file: districts import districts.csv [--petition SLUG]');
      const text = await readFile(file, 'utf8');
      const runtime = await openRuntime(loadConfig());
      try {
        const { petitions } = createServices(runtime.ctx);
        const petition = values.petition ? await petitions.getPetitionBySlug(values.petition) : null;
        const result = await petitions.importDistricts(petition?.row.id ?? null, text);
        for (const error of result.errors) console.error(error);
        console.log(
          `Imported ${result.imported} postal codes ${petition ? `for /petitions/${petition.row.slug}` : 'into the global map'}` +
            (result.errors.length ? `; ${result.errors.length} lines skipped.` : '.'),
        );
        return result.errors.length && result.imported === 0 ? 1 : 0;
      } finally {
        await runtime.close();
      }
    },
  },
];
