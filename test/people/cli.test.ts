import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

// Each test starts the real command (a Node process) once or twice: allow for a busy machine.
describe('undersign import and export', { timeout: 120_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let schema: string | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'undersign-people-cli-'));
    env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info', SECRET_KEY: 'cli-test-secret' };
    delete env.DATABASE_URL;
    if (process.env.DATABASE_URL) {
      schema = `pcli_${randomBytes(5).toString('hex')}`;
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`create schema ${schema}`);
      await client.end();
      const url = new URL(process.env.DATABASE_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      env.DATABASE_URL = url.toString();
    }
  });
  afterAll(async () => {
    if (schema && process.env.DATABASE_URL) {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', timeout: 100_000 });

  it('imports a file with tags, printing progress, columns, row errors and a summary', () => {
    const file = join(dataDir, 'people.csv');
    writeFileSync(
      file,
      'E-mail,First Name,Surname,ZIP,Notes\nada@cli.test,Ada,Lovelace,SW1A 1AA,x\nnope,Bad,Row,1,y\ngrace@cli.test,Grace,Hopper,22201,z\n',
    );
    const result = run('import', file, '--tag', 'cli', '--tag', 'autumn', '--subscribe');
    expect(result.stderr).toContain('3 rows');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      'Columns: E-mail → email, First Name → given name, Surname → family name, ZIP → postal code',
    );
    expect(result.stdout).toContain('Ignored columns: Notes');
    expect(result.stdout).toContain('line 3: "nope" is not a valid email address.');
    expect(result.stdout).toContain(
      'Imported 2 rows: 2 new, 0 merged into people already known; 1 row with errors.',
    );
  });

  it('takes an explicit column mapping', () => {
    const file = join(dataDir, 'mapped.csv');
    writeFileSync(file, 'Contact,Team\nmapped@cli.test,blue\n');
    const result = run('import', file, '--map', 'Contact=email', '--map', 'Team=custom:team');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Columns: Contact → email, Team → custom field "team"');
    const bad = run('import', file, '--map', 'Contact=nonsense');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--map needs "Column header=field"');
  });

  it('fails with a message and exit code 1 on a file without an email column', () => {
    const file = join(dataDir, 'bad.csv');
    writeFileSync(file, 'name\nAda\n');
    const result = run('import', file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('No email column was found');
  });

  it('exports a search as CSV to standard output or a file', () => {
    const out = run('export', '--tag', 'cli');
    expect(out.status).toBe(0);
    const rows = parse(out.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.email).sort()).toEqual(['ada@cli.test', 'grace@cli.test']);
    expect(rows.find((r) => r.email === 'ada@cli.test')).toMatchObject({
      given_name: 'Ada',
      postal_code: 'SW1A 1AA',
      tags: 'autumn; cli',
      email_status: 'subscribed',
    });

    const target = join(dataDir, 'out.csv');
    const toFile = run('export', '--postal-code', '222', '--out', target);
    expect(toFile.status).toBe(0);
    const fileRows = parse(readFileSync(target, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(fileRows.map((r) => r.email)).toEqual(['grace@cli.test']);
  });
});
