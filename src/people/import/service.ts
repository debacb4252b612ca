import { CsvError, parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import type { AppContext } from '../../context.ts';
import type { ImportRow } from '../../db/index.ts';
import { AppError } from '../../errors.ts';
import { newId, nowIso } from '../../ids.ts';
import { enqueueJob } from '../../jobs/index.ts';
import { cleanNames, eraseAddressesIn, tryNormaliseEmail } from '../normalize.ts';
import type { PersonInput, MergeResult } from '../types.ts';
import type { Executor } from '../../db/index.ts';
import { hasEmailColumn, recordToInput, resolveMapping, type ResolvedMapping } from './mapping.ts';
import * as store from './store.ts';

export const importQueue = 'people.import';

/** Rows per transaction: 2,500 imported 1M rows in 53 s at 268 MB peak on SQLite (1,000: 62 s; 5,000: 365 MB). */
const batchSize = 2500;
/** How many row errors an import keeps for people to read (the count covers all of them). */
const keptErrors = 1000;
/** A longer record means a quote that is never closed has swallowed the rest of the file. */
const maxRecordBytes = 1024 * 1024;

export interface ImportOptions {
  tags?: readonly string[];
  /** The organiser asserts these people agreed to receive email. */
  subscribe?: boolean;
  /** Keep columns with unknown headers as custom fields instead of ignoring them. */
  customFields?: boolean;
  /** Header → field ("email", "givenName", …, "custom:<key>", "ignore"), overriding the automatic mapping. */
  mapping?: Readonly<Record<string, string>>;
}

export interface NewImport extends ImportOptions {
  /** The name people know the file by (shown in pages, used as the people's source). */
  filename: string;
  filePath: string;
  userId?: string | null;
}

export interface ImportRowError {
  line: number;
  message: string;
}

export type ImportState = 'queued' | 'running' | 'done' | 'failed';

export interface ImportStatus {
  id: string;
  filename: string;
  status: ImportState;
  tags: string[];
  subscribe: boolean;
  customFields: boolean;
  columns: ResolvedMapping | null;
  totalBytes: number;
  processedBytes: number;
  processedRows: number;
  createdRows: number;
  mergedRows: number;
  errorRows: number;
  errors: ImportRowError[];
  message: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface ImportService {
  /** Records an import of a file already on disk; `runImport` does the work. */
  createImport(input: NewImport): Promise<string>;
  /** Records an import and queues it as a background job in the same transaction. */
  queueImport(input: NewImport): Promise<string>;
  /** Reads the file in batches, merging each batch in one transaction; resumes after a crash. */
  runImport(id: string, onProgress?: (status: ImportStatus) => void): Promise<ImportStatus>;
  getImport(id: string): Promise<ImportStatus>;
  listImports(limit?: number): Promise<ImportStatus[]>;
  /** Where uploaded files are kept until imported. */
  uploadsDir: string;
  /** Database settings for a process that does nothing but import (the CLI); not for the server. */
  useBulkImportSettings(): Promise<void>;
  /**
   * Erasure: replaces the addresses wherever an import's results quote them (row errors such as
   * '"x" is not a valid email address', a message naming a first row that was data, the mapping);
   * returns how many imports changed. Raw CSV lines are not kept, only line numbers.
   */
  eraseAddresses(executor: Executor, addresses: readonly string[], replacement: string): Promise<number>;
}

interface StoredMapping {
  options: { subscribe: boolean; customFields: boolean; mapping: Record<string, string> };
  resolved: ResolvedMapping | null;
}

const NO_EMAIL_COLUMN = 'No email column was found in the first row';
const NAME_EMAIL_COLUMN = 'Name a column "email" or map one to email.';

/**
 * A message that quotes an address loses it; one that quotes the file's first row (data, not a
 * header) loses the whole row, since the rest of it (names, phone) is the same person's.
 */
function eraseFromMessage(message: string, addresses: readonly string[], replacement: string): string {
  const erased = eraseAddressesIn(message, addresses, replacement);
  if (erased === message || !message.startsWith(NO_EMAIL_COLUMN)) return erased;
  return `${NO_EMAIL_COLUMN} (${replacement}). ${NAME_EMAIL_COLUMN}`;
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function readStoredMapping(row: ImportRow): StoredMapping {
  const stored = parseJson<Partial<StoredMapping>>(row.mapping, {});
  return {
    options: {
      subscribe: stored.options?.subscribe === true,
      customFields: stored.options?.customFields === true,
      mapping: stored.options?.mapping ?? {},
    },
    resolved: stored.resolved ?? null,
  };
}

export function importStatusOf(row: ImportRow): ImportStatus {
  const stored = readStoredMapping(row);
  return {
    id: row.id,
    filename: row.filename,
    status: row.status as ImportState,
    tags: parseJson<string[]>(row.tags, []),
    subscribe: stored.options.subscribe,
    customFields: stored.options.customFields,
    columns: stored.resolved,
    totalBytes: Number(row.total_bytes),
    processedBytes: Number(row.processed_bytes),
    processedRows: row.processed_rows,
    createdRows: row.created_rows,
    mergedRows: row.merged_rows,
    errorRows: row.error_rows,
    errors: parseJson<ImportRowError[]>(row.errors, []),
    message: row.message,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

function describeCsvError(error: CsvError): string {
  const at = (error as CsvError & { lines?: number }).lines;
  const where = typeof at === 'number' ? ` (line ${at})` : '';
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return `A quoted field is never closed${where}: check for a stray double quote (").`;
    case 'CSV_MAX_RECORD_SIZE':
      return `A row is longer than 1 MB${where}; most likely a double quote (") opens a field that is never closed.`;
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return `A quoted field is followed by other characters${where}: quotes inside a field must be doubled ("").`;
    default:
      return `The file is not valid CSV${where}: ${error.message}`;
  }
}

interface FileShape {
  encoding: 'utf8' | 'latin1';
  delimiter: string;
}

interface MergesPeople {
  mergePeople(executor: Executor, inputs: readonly PersonInput[]): Promise<MergeResult[]>;
}

export function createImportService(ctx: AppContext, people: MergesPeople): ImportService {
  const { db } = ctx;
  const uploadsDir = join(ctx.config.dataDir, 'uploads');

  async function newImportValues(input: NewImport): Promise<store.NewImportValues> {
    let size: number;
    try {
      size = (await stat(input.filePath)).size;
    } catch {
      throw new AppError('invalid', `There is no file at ${input.filePath}.`);
    }
    const mapping: StoredMapping = {
      options: {
        subscribe: input.subscribe === true,
        customFields: input.customFields === true,
        mapping: { ...(input.mapping ?? {}) },
      },
      resolved: null,
    };
    return {
      id: newId(),
      userId: input.userId ?? null,
      filename: basename(input.filename) || 'import.csv',
      filePath: input.filePath,
      totalBytes: size,
      tags: cleanNames(input.tags),
      mapping,
      now: nowIso(),
    };
  }

  async function getImport(id: string): Promise<ImportStatus> {
    const row = await store.findImport(db, id);
    if (!row) throw new AppError('not_found', 'There is no import with that id.');
    return importStatusOf(row);
  }

  async function finish(id: string, status: 'done' | 'failed', message: string): Promise<void> {
    const now = nowIso();
    await store.updateImport(db, id, { status, message, finished_at: now, updated_at: now });
    // An uploaded copy is personal data with no further use; a file named on the command line is the user's.
    const row = await store.findImport(db, id);
    if (row?.file_path && resolve(row.file_path).startsWith(resolve(uploadsDir) + sep)) {
      await rm(row.file_path, { force: true });
    }
  }

  /**
   * The first bytes tell an empty or binary file from text before any parsing, and show how the
   * file was written: the delimiter (spreadsheets in many languages save ";") and the encoding
   * (older Excel saves Windows-1252, read here as Latin-1).
   */
  async function sniff(path: string): Promise<FileShape | { problem: string }> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch {
      return { problem: 'The file to import is missing; please upload it again.' };
    }
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead === 0) return { problem: 'The file is empty.' };
      const head = buffer.subarray(0, bytesRead);
      if (head.includes(0)) {
        return {
          problem:
            'This does not look like a CSV file (it contains binary data). Export the sheet as CSV (comma-separated values) and try again.',
        };
      }
      // A multi-byte character cut at the end of the sample is not an encoding error.
      const whole = bytesRead < buffer.length ? head : head.subarray(0, Math.max(0, bytesRead - 4));
      let encoding: 'utf8' | 'latin1' = 'utf8';
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(whole);
      } catch {
        encoding = 'latin1';
      }
      const text = head.toString(encoding);
      const firstLine = text.slice(0, text.search(/\r?\n|$/));
      const counts = [',', ';', '\t'].map((d) => ({ d, n: firstLine.split(d).length - 1 }));
      const best = counts.reduce((a, b) => (b.n > a.n ? b : a));
      return { encoding, delimiter: best.n > 0 ? best.d : ',' };
    } finally {
      await handle.close();
    }
  }

  async function runImport(id: string, onProgress?: (status: ImportStatus) => void): Promise<ImportStatus> {
    const row = await store.findImport(db, id);
    if (!row) throw new AppError('not_found', 'There is no import with that id.');
    if (row.status === 'done' || row.status === 'failed') return importStatusOf(row);
    const stored = readStoredMapping(row);
    const tags = parseJson<string[]>(row.tags, []);
    const source = `import:${row.filename}`;
    const subscribe = stored.options.subscribe;

    const shape = row.file_path ? await sniff(row.file_path) : { problem: 'The file to import is missing.' };
    if ('problem' in shape) {
      await finish(id, 'failed', shape.problem);
      return getImport(id);
    }
    await store.updateImport(db, id, { status: 'running', updated_at: nowIso() });

    // Counters as committed: a batch's numbers are only kept once its transaction committed.
    const totals = {
      processedRows: row.processed_rows,
      processedBytes: Number(row.processed_bytes),
      createdRows: row.created_rows,
      mergedRows: row.merged_rows,
      errorRows: row.error_rows,
      errors: parseJson<ImportRowError[]>(row.errors, []),
    };
    const alreadyDone = row.processed_rows;

    let inputs: PersonInput[] = [];
    let batchErrors: ImportRowError[] = [];
    let batchRecords = 0;
    let batchBytes = totals.processedBytes;

    const flush = async () => {
      if (batchRecords === 0) return;
      const pending = inputs;
      const next = {
        processedRows: totals.processedRows + batchRecords,
        processedBytes: batchBytes,
        createdRows: totals.createdRows,
        mergedRows: totals.mergedRows,
        errorRows: totals.errorRows + batchErrors.length,
        errors:
          totals.errors.length < keptErrors
            ? totals.errors.concat(batchErrors.slice(0, keptErrors - totals.errors.length))
            : totals.errors,
      };
      await db.transaction().execute(async (trx) => {
        const results = pending.length ? await people.mergePeople(trx, pending) : [];
        for (const result of results) {
          if (result.created) next.createdRows++;
          else next.mergedRows++;
        }
        await store.updateImport(trx, id, {
          processed_rows: next.processedRows,
          processed_bytes: next.processedBytes,
          created_rows: next.createdRows,
          merged_rows: next.mergedRows,
          error_rows: next.errorRows,
          ...(batchErrors.length && totals.errors.length < keptErrors
            ? { errors: JSON.stringify(next.errors) }
            : {}),
          updated_at: nowIso(),
        });
      });
      Object.assign(totals, next);
      inputs = [];
      batchErrors = [];
      batchRecords = 0;
      if (onProgress) onProgress({ ...importStatusOf(row), ...totals, status: 'running' });
    };

    const source_ = createReadStream(row.file_path!);
    const parser = parse({
      bom: true,
      delimiter: shape.delimiter,
      encoding: shape.encoding,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      max_record_size: maxRecordBytes,
    });
    source_.on('error', (error) => parser.destroy(error));
    source_.pipe(parser);

    let header: string[] | null = null;
    let mapping: ResolvedMapping | null = null;
    let seen = 0;
    try {
      for await (const chunk of parser as AsyncIterable<{
        record: string[];
        info: { lines: number; bytes: number };
      }>) {
        const { record, info } = chunk;
        if (!header) {
          header = record;
          mapping = resolveMapping(header, stored.options.mapping, stored.options.customFields);
          if (!hasEmailColumn(mapping)) {
            const names = header.map((h) => `"${h.trim()}"`).join(', ');
            await finish(id, 'failed', `${NO_EMAIL_COLUMN} (${names.slice(0, 500)}). ${NAME_EMAIL_COLUMN}`);
            return getImport(id);
          }
          await store.updateImport(db, id, {
            mapping: JSON.stringify({ ...stored, resolved: mapping }),
            updated_at: nowIso(),
          });
          continue;
        }
        seen++;
        // After a crash the job runs again: skip the rows whose batches were committed.
        if (seen <= alreadyDone) continue;
        batchRecords++;
        batchBytes = info.bytes;
        const line = info.lines;
        if (record.length !== header.length) {
          batchErrors.push({
            line,
            message: `Expected ${header.length} columns but found ${record.length}.`,
          });
        } else {
          const input = recordToInput(record, mapping!, { tags, source, subscribe });
          if (!input.email) batchErrors.push({ line, message: 'No email address.' });
          else if (!tryNormaliseEmail(input.email)) {
            batchErrors.push({
              line,
              message: `"${input.email.slice(0, 100)}" is not a valid email address.`,
            });
          } else inputs.push(input);
        }
        if (batchRecords >= batchSize) await flush();
      }
      if (!header) {
        await finish(id, 'failed', 'The file has no rows.');
        return getImport(id);
      }
      await flush();
    } catch (error) {
      if (error instanceof CsvError) {
        const kept = totals.processedRows
          ? ` The ${totals.processedRows} rows before it were imported; fix the file and import it again (people already imported are merged, not duplicated).`
          : ' Nothing was imported.';
        await finish(id, 'failed', describeCsvError(error) + kept);
        return getImport(id);
      }
      throw error;
    } finally {
      source_.destroy();
    }
    const good = totals.createdRows + totals.mergedRows;
    await store.updateImport(db, id, { processed_bytes: Number(row.total_bytes), updated_at: nowIso() });
    await finish(
      id,
      'done',
      `Imported ${good} ${good === 1 ? 'row' : 'rows'}: ${totals.createdRows} new, ${totals.mergedRows} merged into people already known` +
        (totals.errorRows
          ? `; ${totals.errorRows} ${totals.errorRows === 1 ? 'row' : 'rows'} with errors.`
          : '.'),
    );
    return getImport(id);
  }

  ctx.jobs.register(importQueue, async (payload, job) => {
    const importId = typeof payload.importId === 'string' ? payload.importId : '';
    const row = await store.findImport(db, importId);
    if (!row) return;
    try {
      await runImport(importId);
    } catch (error) {
      if (job.attempts >= 3) {
        await finish(
          importId,
          'failed',
          'The import stopped because of an internal error; it has been logged.',
        );
        ctx.log.error({ err: error, importId }, 'import failed');
        return;
      }
      throw error;
    }
  });

  return {
    uploadsDir,
    async useBulkImportSettings() {
      if (ctx.dialect === 'sqlite') await store.useBulkImportSettings(db);
    },
    async eraseAddresses(executor, addresses, replacement) {
      let changed = 0;
      for (const row of await store.listImportsMentioning(executor, addresses)) {
        await store.updateImportTexts(executor, row.id, {
          errors: eraseAddressesIn(row.errors, addresses, replacement),
          message: row.message === null ? null : eraseFromMessage(row.message, addresses, replacement),
          mapping: eraseAddressesIn(row.mapping, addresses, replacement),
        });
        changed++;
      }
      return changed;
    },
    async createImport(input) {
      const values = await newImportValues(input);
      await store.insertImport(db, values);
      return values.id;
    },
    async queueImport(input) {
      const values = await newImportValues(input);
      await db.transaction().execute(async (trx) => {
        await store.insertImport(trx, values);
        await enqueueJob(trx, { queue: importQueue, payload: { importId: values.id }, maxAttempts: 3 });
      });
      return values.id;
    },
    runImport,
    getImport,
    async listImports(limit = 20) {
      return (await store.listRecentImports(db, limit)).map(importStatusOf);
    },
  };
}
