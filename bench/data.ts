/**
 * Data-volume benchmark: generates people (with an email address and a postal address in a
 * district), several open petitions with their signatures, and a tree of groups with members,
 * straight into the database in set-based batches (INSERT … SELECT over a generated series, one
 * transaction per batch); then times, on that data, what people wait for:
 *   - the public petition page (counter and latest comments), cold, through the real route;
 *   - an audience count "signed A, not signed B, in district C" (the mailings service);
 *   - the admin person search (by name or email fragment; by exact email);
 *   - the organisation dashboard (the dashboard service).
 * Each should answer in under 200 ms (the best of the runs; the median is printed too). Runs on a fresh SQLite file, then on a fresh PostgreSQL
 * schema (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test), dropped afterwards.
 *
 *   npm run bench:data                                   # 1,000,000 people, 5,000,000 signatures
 *   npm run bench:data -- --people 100000 --signatures 500000 --db sqlite
 */
import { sql, type Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.ts';
import { openRuntime } from '../src/bootstrap.ts';
import { loadConfig } from '../src/config.ts';
import type { Database, DialectName } from '../src/db/index.ts';
import { createLogger } from '../src/log.ts';
import { createServices } from '../src/services.ts';
import { pgStatement } from './pg-admin.ts';

const { values } = parseArgs({
  options: {
    people: { type: 'string', default: '1000000' },
    signatures: { type: 'string', default: '5000000' },
    petitions: { type: 'string', default: '10' },
    db: { type: 'string', default: 'both' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const peopleCount = Number(values.people);
const petitionCount = Number(values.petitions);
const signatureCount = Math.min(Number(values.signatures), peopleCount * petitionCount);
const runs = Math.max(1, Number(values.runs));
const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const budgetMs = 200;

const DAY_S = 24 * 3600;
const POSTAL_CODES = 2000;
const DISTRICTS = 100;
const LOCAL_GROUPS = 50;
const BATCH = 100_000;

/** The few SQL expressions that differ between the engines, for generating rows in SQL. */
function dialectSql(dialect: DialectName) {
  const pg = dialect === 'postgres';
  return {
    /** Rows `i` from `from` to `to` inclusive. */
    series: (from: number, to: number) =>
      pg
        ? `(select generate_series(${from}::bigint, ${to}::bigint) as i) s`
        : `(with recursive n(i) as (select ${from} union all select i + 1 from n where i < ${to}) select i from n) s`,
    pad: (expr: string, width: number) =>
      pg ? `lpad((${expr})::text, ${width}, '0')` : `printf('%0${width}d', ${expr})`,
    /** ISO text of a unix time in seconds. */
    iso: (seconds: string) =>
      pg
        ? `to_char(to_timestamp(${seconds}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
        : `strftime('%Y-%m-%dT%H:%M:%fZ', ${seconds}, 'unixepoch')`,
    int: (expr: string) => (pg ? `((${expr})::bigint)` : `cast(${expr} as integer)`),
  };
}

async function exec(db: Kysely<Database>, text: string): Promise<void> {
  await sql.raw(text).execute(db);
}

async function inBatches(
  db: Kysely<Database>,
  total: number,
  label: string,
  statement: (from: number, to: number) => string[],
): Promise<void> {
  const t0 = performance.now();
  for (let from = 0; from < total; from += BATCH) {
    const to = Math.min(total, from + BATCH) - 1;
    await db.transaction().execute(async (trx) => {
      for (const text of statement(from, to)) await sql.raw(text).execute(trx);
    });
    process.stdout.write(`\r  ${label}: ${(to + 1).toLocaleString('en')}`);
  }
  console.log(` (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

async function generate(db: Kysely<Database>, dialect: DialectName): Promise<{ petitionIds: string[] }> {
  const d = dialectSql(dialect);
  const now = Math.floor(Date.now() / 1000);
  const start = now - 365 * DAY_S;
  const nowIso = new Date(now * 1000).toISOString();
  // Person i joined at start + i * step; ids sort in creation order, like the app's own.
  const step = (365 * DAY_S) / peopleCount;
  const personId = (i: string) => `'00000000-0000-7000-8000-' || ${d.pad(i, 12)}`;
  const given = `case (i % 8) when 0 then 'Ada' when 1 then 'Grace' when 2 then 'Alan' when 3 then 'Katherine' when 4 then 'Linus' when 5 then 'Margaret' when 6 then 'Radia' else 'Ken' end`;
  const family = `case (i % 7) when 0 then 'Lovelace' when 1 then 'Hopper' when 2 then 'Turing' when 3 then 'Johnson' when 4 then 'Torvalds' when 5 then 'Hamilton' else 'Perlman' end || ${d.pad('i % 100000', 5)}`;
  const postal = `'P' || ${d.pad('(i * 7919) % ' + POSTAL_CODES, 4)}`;
  const created = d.iso(`${start} + ${d.int(`i * ${step}`)}`);

  // Districts: postal code k lies in district k % 100 (the organisation-wide map, scope '*').
  await exec(
    db,
    `insert into district_postcodes (scope, postal_code, district_id, district_name)
     select '*', 'P' || ${d.pad('i', 4)}, 'd' || ${d.pad(`i % ${DISTRICTS}`, 3)}, 'District ' || (i % ${DISTRICTS})
     from ${d.series(0, POSTAL_CODES - 1)}`,
  );
  await inBatches(db, peopleCount, 'people, emails, addresses', (from, to) => [
    `insert into people (id, given_name, family_name, language, source, custom_fields, created_at, updated_at)
     select ${personId('i')}, ${given}, ${family}, case when i % 10 = 0 then 'es' else 'en' end,
            'bench', '{}', ${created}, ${created}
     from ${d.series(from, to)}`,
    `insert into emails (id, person_id, address, status, is_primary, created_at, updated_at)
     select '00000000-0000-7000-8001-' || ${d.pad('i', 12)}, ${personId('i')},
            'person' || i || '@bench' || (i % 50) || '.example',
            case when i % 20 = 0 then 'unsubscribed' else 'subscribed' end, 1, ${created}, ${created}
     from ${d.series(from, to)}`,
    `insert into addresses (id, person_id, locality, postal_code, country, is_primary, created_at, updated_at)
     select '00000000-0000-7000-8002-' || ${d.pad('i', 12)}, ${personId('i')}, 'Town ' || (i % 300),
            ${postal}, 'DE', 1, ${created}, ${created}
     from ${d.series(from, to)}`,
  ]);

  const petitionIds: string[] = [];
  for (let p = 0; p < petitionCount; p++) {
    const id = `00000000-0000-7000-8003-${String(p).padStart(12, '0')}`;
    petitionIds.push(id);
    await db
      .insertInto('petitions')
      .values({
        id,
        slug: `bench-petition-${p}`,
        title: `Bench petition ${p}`,
        summary: 'Generated for the data benchmark.',
        body: 'We ask the council to act.',
        goal: 100_000,
        status: 'open',
        created_at: new Date((start - DAY_S) * 1000).toISOString(),
        updated_at: nowIso,
        published_at: new Date((start - DAY_S) * 1000).toISOString(),
      } as never)
      .execute();
  }
  // Signature j: person p = j % people signs petition (j / people + p / 100) % petitions, so each
  // person signs consecutive petitions, each at most once; later people sign later. The first
  // petition a person signs follows from p / 100 and the district from p % 100, so which petitions
  // the people of a district signed is spread like everyone's (with the first petition following
  // from p % 10, every person of a district had signed A and not B).
  const petitionExpr = `((i / ${peopleCount}) + ((i % ${peopleCount}) / 100)) % ${petitionCount}`;
  const signer = `(i % ${peopleCount})`;
  const signedAt = d.iso(`${start} + ${d.int(`${signer} * ${step}`)} + (i / ${peopleCount}) * 60`);
  const petitionId = `'00000000-0000-7000-8003-' || ${d.pad(petitionExpr, 12)}`;
  const signerPostal = `'P' || ${d.pad(`(${signer} * 7919) % ${POSTAL_CODES}`, 4)}`;
  const signerDistrict = `'d' || ${d.pad(`((${signer} * 7919) % ${POSTAL_CODES}) % ${DISTRICTS}`, 3)}`;
  await inBatches(db, signatureCount, 'signatures', (from, to) => [
    `insert into signatures (id, petition_id, person_id, signer_name, postal_code, district, comment,
                             comment_status, source, referral_code, confirmed_at, created_at)
     select '00000000-0000-7001-8000-' || ${d.pad('i', 12)}, ${petitionId}, ${personId(signer)},
            'Signer ' || i, ${signerPostal}, ${signerDistrict},
            case when i % 50 = 0 then 'Because it matters ' || i end,
            case when i % 50 = 0 then 'approved' else 'none' end,
            case i % 4 when 0 then 'email' when 1 then 'facebook' when 2 then 'twitter' else null end,
            'r' || ${d.pad('i', 9)}, case when i % 10 = 9 then null else ${signedAt} end, ${signedAt}
     from ${d.series(from, to)}`,
  ]);
  await exec(
    db,
    `insert into petition_counters (petition_id, district, total, confirmed, updated_at)
     select petition_id, coalesce(district, ''), count(*), count(confirmed_at), '${nowIso}'
     from signatures group by petition_id, coalesce(district, '')`,
  );

  // Groups: national → 5 states → 50 local groups; every fifth person is a member of a local group.
  const groupId = (n: string) => `'00000000-0000-7000-8004-' || ${d.pad(n, 12)}`;
  await exec(
    db,
    `insert into groups (id, parent_id, slug, name, level, description, created_at, updated_at)
     values (${groupId('0')}, null, 'national', 'National', 'national', '', '${nowIso}', '${nowIso}')`,
  );
  await exec(
    db,
    `insert into groups (id, parent_id, slug, name, level, description, created_at, updated_at)
     select ${groupId('i')}, ${groupId('0')}, 'state-' || i, 'State ' || i, 'state', '', '${nowIso}', '${nowIso}'
     from ${d.series(1, 5)}`,
  );
  await exec(
    db,
    `insert into groups (id, parent_id, slug, name, level, description, created_at, updated_at)
     select ${groupId('i')}, ${groupId('1 + i % 5')}, 'local-' || i, 'Local ' || i, 'local', '', '${nowIso}', '${nowIso}'
     from ${d.series(6, 5 + LOCAL_GROUPS)}`,
  );
  await inBatches(db, Math.ceil(peopleCount / 5), 'group members', (from, to) => [
    `insert into group_members (group_id, person_id, source, created_at)
     select ${groupId(`6 + i % ${LOCAL_GROUPS}`)}, ${personId('i * 5')}, 'join', ${d.iso(`${start} + ${d.int(`i * 5 * ${step}`)}`)}
     from ${d.series(from, to)}`,
  ]);
  // Fresh statistics and, on PostgreSQL, the visibility map index-only scans need (autovacuum's
  // work on a live database).
  await exec(db, dialect === 'postgres' ? 'vacuum analyze' : 'analyze');
  return { petitionIds };
}

interface Timing {
  name: string;
  ms: number[];
  detail: string;
}

async function time(name: string, fn: () => Promise<string>): Promise<Timing> {
  const ms: number[] = [];
  let detail = '';
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    detail = await fn();
    ms.push(performance.now() - t0);
  }
  return { name, ms, detail };
}

async function runEngine(engine: 'sqlite' | 'postgres'): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-bench-data-'));
  const schema = engine === 'postgres' ? `bench_data_${process.pid}` : undefined;
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: 'bench-secret',
    LOG_LEVEL: 'warn',
    EMBEDDED_WORKER: 'false',
    ...(engine === 'postgres' ? { DATABASE_URL: pgUrl } : {}),
  });
  const runtime = await openRuntime(config, {
    log: createLogger('warn'),
    ...(schema ? { pgSchema: schema } : {}),
  });
  const services = createServices(runtime.ctx);
  const db = runtime.ctx.db;
  try {
    console.log(
      `\n${engine}: generating ${peopleCount.toLocaleString('en')} people, ${signatureCount.toLocaleString('en')} signatures on ${petitionCount} petitions`,
    );
    const t0 = performance.now();
    const { petitionIds } = await generate(db, engine);
    console.log(`  generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const app = await buildApp(runtime.ctx, services);
    await app.ready();
    const [a, b] = [petitionIds[0]!, petitionIds[1]!];
    const timings: Timing[] = [];
    let page = 0;
    // Each run reads a different petition, so its caches are cold.
    timings.push(
      await time('petition page (count, latest comments)', async () => {
        const slug = `bench-petition-${2 + (page++ % (petitionCount - 2))}`;
        const response = await app.inject({ method: 'GET', url: `/petitions/${slug}` });
        if (response.statusCode !== 200) throw new Error(`petition page answered ${response.statusCode}`);
        return `${slug}, ${response.body.length} bytes`;
      }),
    );
    timings.push(
      await time('audience: signed A, not B, in district C', async () => {
        const count = await services.mailings.countAudience({
          signed: [a],
          notSigned: [b],
          districts: ['d064'],
        });
        return `${count.toLocaleString('en')} people`;
      }),
    );
    timings.push(
      await time('person search "hopper0042"', async () => {
        const result = await services.people.searchPeople({ q: 'hopper0042', perPage: 50 });
        return `${result.total} found`;
      }),
    );
    timings.push(
      await time('person search by email', async () => {
        const result = await services.people.searchPeople({
          email: `person${Math.floor(peopleCount / 2)}@bench${Math.floor(peopleCount / 2) % 50}.example`,
        });
        return `${result.total} found`;
      }),
    );
    timings.push(
      await time('person list, first page', async () => {
        const result = await services.people.searchPeople({ perPage: 50 });
        return `${result.total.toLocaleString('en')} people`;
      }),
    );
    // The dashboard's kept numbers (group members, mailings funnel, the window's earlier days), as a
    // job-running process computes them every few minutes; the views below read them.
    const kept = performance.now();
    await services.dashboard.refreshStoredNumbers();
    const keptMs = performance.now() - kept;
    timings.push(
      await time('organisation dashboard', async () => {
        const dashboard = await services.dashboard.getDashboard();
        return `${dashboard.supporters.total.toLocaleString('en')} supporters, ${dashboard.signaturesTotal.toLocaleString('en')} signatures`;
      }),
    );
    await app.close();

    console.log(`\n  ${engine}, ${runs} runs each (first run cold)       first   best median     answer`);
    let slow = 0;
    for (const t of timings) {
      const best = Math.min(...t.ms);
      const first = t.ms[0]!;
      const sorted = [...t.ms].sort((x, y) => x - y);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      const flag = best > budgetMs ? '  OVER 200 ms' : '';
      if (best > budgetMs) slow++;
      const ms = [first, best, median].map((n) => n.toFixed(0).padStart(6)).join(' ');
      console.log(`  ${t.name.padEnd(44)} ${ms} ms  ${t.detail}${flag}`);
    }
    console.log(`  (dashboard numbers kept in the background: computed in ${keptMs.toFixed(0)} ms)`);
    if (engine === 'postgres') {
      const setting = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(db);
      const buffers = setting.rows[0]?.shared_buffers ?? 'unknown';
      console.log(`  PostgreSQL shared_buffers: ${buffers}`);
      if (slow && buffers === '128MB')
        console.log(
          '  (128MB is the packaged default: index pages a count walks that do not fit there are read again\n' +
            '   from the operating system on every run; see README, "PostgreSQL memory")',
        );
    }
    if (slow) process.exitCode = 1;
  } finally {
    await services.petitions.close();
    services.mailings.close();
    services.mail.close();
    await runtime.close();
    // After the runtime (and its job queue) has stopped, so that nothing still polls the schema.
    if (schema && !values.keep) await pgStatement(pgUrl, `drop schema if exists "${schema}" cascade`);
    if (!values.keep) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`  kept: ${schema ?? join(dataDir, 'undersign.db')}`);
  }
}

const engines =
  values.db === 'both' ? (['sqlite', 'postgres'] as const) : [values.db as 'sqlite' | 'postgres'];
for (const engine of engines) {
  if (engine !== 'sqlite' && engine !== 'postgres') throw new Error('--db must be sqlite, postgres or both');
  await runEngine(engine);
}
