import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { openRuntime } from '../bootstrap.ts';
import type { CliCommand } from '../cli-commands.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { exportPeopleCsv } from './export.ts';
import { importFieldLabels, isImportField } from './import/mapping.ts';
import { createPeopleService } from './service.ts';

function percent(done: number, total: number): string {
  return total > 0 ? `${Math.min(100, Math.floor((done / total) * 100))}%` : '';
}

function fieldLabel(field: string): string {
  return field.startsWith('custom:')
    ? `custom field "${field.slice(7)}"`
    : (importFieldLabels[field] ?? field);
}

const importCommand: CliCommand = {
  name: 'import',
  usage: 'import FILE.csv [--tag T]… [--subscribe] [--custom-fields] [--map "Header=field"]…',
  summary: 'import people from a CSV file (merged by email); --subscribe if they agreed to email',
  async run(args, parse) {
    const { values, positionals } = parse({
      args,
      allowPositionals: true,
      options: {
        tag: { type: 'string', multiple: true, default: [] },
        subscribe: { type: 'boolean', default: false },
        'custom-fields': { type: 'boolean', default: false },
        map: { type: 'string', multiple: true, default: [] },
      },
    });
    const mapping: Record<string, string> = {};
    for (const entry of values.map) {
      const at = entry.lastIndexOf('=');
      const field = entry.slice(at + 1).trim();
      if (at <= 0 || !isImportField(field)) {
        throw new Error(
          `--map needs "Column header=field", field one of ${Object.keys(importFieldLabels).join(', ')} or custom:NAME; got "${entry}"`,
        );
      }
      mapping[entry.slice(0, at).trim()] = field;
    }
    const file = positionals[0];
    if (!file || positionals.length > 1) {
      throw new Error('Give one CSV file, e.g. undersign import people.csv --tag volunteers');
    }
    const config = loadConfig();
    const runtime = await openRuntime(config, {
      log: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
    });
    try {
      const people = createPeopleService(runtime.ctx);
      await people.imports.useBulkImportSettings();
      const path = resolve(file);
      const id = await people.imports.createImport({
        filename: file,
        filePath: path,
        tags: values.tag,
        subscribe: values.subscribe,
        customFields: values['custom-fields'],
        mapping,
      });
      const started = Date.now();
      const status = await people.imports.runImport(id, (progress) => {
        const seconds = (Date.now() - started) / 1000;
        process.stderr.write(
          `  ${progress.processedRows} rows ${percent(progress.processedBytes, progress.totalBytes)} ` +
            `(${progress.createdRows} new, ${progress.mergedRows} merged, ${progress.errorRows} errors) ` +
            `${seconds.toFixed(1)} s\n`,
        );
      });
      if (status.columns) {
        const used = status.columns.columns.filter((c) => c.field !== 'ignore');
        console.log(`Columns: ${used.map((c) => `${c.header} → ${fieldLabel(c.field)}`).join(', ')}`);
        if (status.columns.ignored.length)
          console.log(`Ignored columns: ${status.columns.ignored.join(', ')}`);
      }
      for (const error of status.errors.slice(0, 20)) console.log(`  line ${error.line}: ${error.message}`);
      if (status.errorRows > 20) console.log(`  … and ${status.errorRows - 20} more rows with errors`);
      if (status.status === 'failed') {
        console.error(`Import failed: ${status.message}`);
        return 1;
      }
      console.log(`${status.message} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return 0;
    } finally {
      await runtime.close();
    }
  },
};

const exportCommand: CliCommand = {
  name: 'export',
  usage: 'export [--tag T] [--q TEXT] [--postal-code P] [--out FILE]',
  summary: 'write matching people as CSV to FILE (standard output by default)',
  async run(args, parse) {
    const { values } = parse({
      args,
      options: {
        tag: { type: 'string' },
        q: { type: 'string' },
        email: { type: 'string' },
        'postal-code': { type: 'string' },
        out: { type: 'string' },
      },
    });
    const config = loadConfig();
    // Standard output carries the CSV: nothing else may be written there.
    const runtime = await openRuntime(config, { log: createLogger('silent') });
    try {
      const people = createPeopleService(runtime.ctx);
      const csv = exportPeopleCsv(people, {
        tag: values.tag,
        q: values.q,
        email: values.email,
        postalCode: values['postal-code'],
      });
      if (values.out) {
        await pipeline(csv, createWriteStream(values.out));
        console.error(`Wrote ${resolve(values.out)}`);
      } else {
        await pipeline(csv, process.stdout, { end: false });
      }
      return 0;
    } finally {
      await runtime.close();
    }
  },
};

export const peopleCommands: CliCommand[] = [importCommand, exportCommand];
