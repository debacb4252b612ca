import Sqlite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
} from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import type { Database, DB } from './database.ts';

export type DialectName = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  sqliteFile: string;
  sqliteSynchronous?: 'NORMAL' | 'FULL';
  /** PostgreSQL schema to use (tests isolate themselves with one each). */
  pgSchema?: string;
  pgPoolSize?: number;
}

export interface DatabaseHandle {
  db: DB;
  dialect: DialectName;
  /** SQLite only: the connection Kysely uses, for hot paths that run synchronously on it. */
  sqlite?: SqliteAccess;
  close(): Promise<void>;
}

/**
 * Statements run straight on the SQLite connection, without Kysely's promise per statement: a
 * batch of eight statements cost 110–190 µs through a Kysely transaction and 7 µs here. Use it only
 * while Kysely is not running anything else on the connection: within `transaction`, or inside a
 * `db.transaction()` callback (the statements then join that transaction).
 */
export interface SqliteAccess {
  /** Prepared statements, reused by SQL text. */
  readonly database: Sqlite.Database;
  /**
   * Waits for the connection (Kysely's queries and transactions run one at a time on it), then runs
   * `work` in one write transaction (BEGIN IMMEDIATE … COMMIT; rolled back if it throws).
   */
  transaction<T>(work: (database: Sqlite.Database) => T): Promise<T>;
}

// int8 (counts, sums) as JS numbers: our counts stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * SQLite transactions start with BEGIN IMMEDIATE so that a second process (a CLI import while the
 * server runs) waits on busy_timeout instead of failing when a read transaction upgrades to a write.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    const begin = CompiledQuery.raw('begin immediate');
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(begin);
    };
    return driver;
  }
}

/**
 * Kysely prepares every query afresh; better-sqlite3 frees a statement's native memory only when
 * the JS object is collected, so bulk writes piled up hundreds of MB. Reusing prepared statements
 * by SQL text (bounded, least recently used dropped) keeps memory flat and skips re-parsing.
 */
function cachingStatements(database: Sqlite.Database, size = 200): Sqlite.Database {
  const cache = new Map<string, Sqlite.Statement>();
  const prepare = (source: string): Sqlite.Statement => {
    let statement = cache.get(source);
    if (statement) {
      cache.delete(source);
    } else {
      statement = database.prepare(source);
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, statement);
    return statement;
  };
  return new Proxy(database, {
    get(target, property, receiver) {
      if (property === 'prepare') return prepare;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const schema = options.pgSchema;
    if (schema) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
      const client = new pg.Client({ connectionString: options.databaseUrl });
      await client.connect();
      await client.query(`create schema if not exists ${schema}`);
      await client.end();
    }
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.pgPoolSize ?? 10,
      // A database that stopped answering (no refusal, no reset) fails a request with 503 after
      // this long instead of holding it until the network returns: new connections and waits for
      // a free one are bounded; a query already sent on an open connection still waits.
      connectionTimeoutMillis: 5_000,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    // Nor one checked out between two queries of a transaction (the pool listens only while idle):
    // its next query fails instead, and the pool drops it on release.
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  mkdirSync(dirname(options.sqliteFile), { recursive: true });
  const database = new Sqlite(options.sqliteFile);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${options.sqliteSynchronous ?? 'NORMAL'}`);
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  // 128 MB of pages, taken only as they are read: at 1,000,000 people an audience count "signed A,
  // not B, in district C" reads ~20,000 index pages (80 MB) that 64 MB could not keep between views.
  database.pragma('cache_size = -131072');
  // A log that grew in a surge is cut back to 64 MB once it starts over.
  database.pragma('journal_size_limit = 67108864');
  const checkpointer = await startCheckpointer(database, options.sqliteFile);
  const statements = cachingStatements(database);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: statements }) });
  const inTransaction = database.transaction((work: (database: Sqlite.Database) => unknown) =>
    work(statements),
  );
  const sqlite: SqliteAccess = {
    database: statements,
    transaction: <T>(work: (database: Sqlite.Database) => T) =>
      db.connection().execute(async () => inTransaction.immediate(work) as T),
  };
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    close: async () => {
      await checkpointer.stop();
      await db.destroy();
    },
  };
}

/**
 * Moves SQLite's checkpoints off the main thread (see checkpointer.ts). Should the worker not start
 * or die, SQLite's automatic checkpoint takes over again, so the log never grows without bound.
 */
async function startCheckpointer(
  database: Sqlite.Database,
  file: string,
  intervalMs = 200,
): Promise<{ stop(): Promise<void> }> {
  const automatic = () => database.open && database.pragma('wal_autocheckpoint = 1000');
  const worker = new Worker(new URL('./checkpointer.ts', import.meta.url), {
    workerData: { file, intervalMs },
  });
  worker.unref();
  const started = await new Promise<boolean>((resolve) => {
    worker.once('message', () => resolve(true));
    worker.once('error', () => resolve(false));
    worker.once('exit', () => resolve(false));
  });
  if (!started) {
    automatic();
    return { stop: async () => {} };
  }
  database.pragma('wal_autocheckpoint = 0');
  let stopping = false;
  worker.once('exit', () => {
    if (!stopping) automatic();
  });
  worker.on('error', () => undefined);
  return {
    async stop() {
      stopping = true;
      const stopped = new Promise<void>((resolve) => {
        worker.once('message', () => resolve());
        worker.once('exit', () => resolve());
      });
      worker.postMessage('stop');
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 2000))]);
      await worker.terminate();
    },
  };
}
