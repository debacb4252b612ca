import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Every setting Undersign reads, typed, with the embedded defaults. Read once from the environment. */
export interface Config {
  host: string;
  port: number;
  publicUrl: string;
  /** Unset: SQLite file under dataDir. `postgres://…`: PostgreSQL. */
  databaseUrl: string | undefined;
  dataDir: string;
  sqliteFile: string;
  /** SQLite `synchronous` pragma: NORMAL survives a process crash; FULL also survives power loss. */
  sqliteSynchronous: 'NORMAL' | 'FULL';
  /** Signs sessions, CSRF tokens and links. Generated into dataDir on first start when unset. */
  secretKey: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  orgName: string;
  orgTimeZone: string;
  logLevel: string;
  maxUploadBytes: number;
  /** Run the job worker inside the web process (embedded mode). */
  embeddedWorker: boolean;
  /** Trust X-Forwarded-* from a proxy in front (needed for client IPs behind one). */
  trustProxy: boolean;
  /** ALTCHA proof-of-work on petition forms (each petition can also turn it off). */
  signAltcha: boolean;
  /** Signing attempts allowed per client IP per 10 minutes (0: no limit). */
  signRateIp: number;
  /** Signing attempts allowed per email address per hour (0: no limit). */
  signRateEmail: number;
}

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${value}"`);
  return n;
}

function secretFrom(dataDir: string, env: string | undefined): string {
  if (env) return env;
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(env.DATA_DIR ?? './data');
  const port = int('PORT', env.PORT, 3000);
  const sync = (env.SQLITE_SYNCHRONOUS ?? 'NORMAL').toUpperCase();
  if (sync !== 'NORMAL' && sync !== 'FULL') throw new Error('SQLITE_SYNCHRONOUS must be NORMAL or FULL');
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('DATABASE_URL must start with postgres:// (leave it unset to use SQLite)');
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/$/, ''),
    databaseUrl,
    dataDir,
    sqliteFile: resolve(env.SQLITE_FILE ?? join(dataDir, 'undersign.db')),
    sqliteSynchronous: sync,
    secretKey: secretFrom(dataDir, env.SECRET_KEY),
    smtpUrl: env.SMTP_URL || undefined,
    mailFrom: env.MAIL_FROM ?? 'Undersign <no-reply@localhost>',
    orgName: env.ORG_NAME ?? 'Undersign',
    orgTimeZone: env.ORG_TIMEZONE ?? 'UTC',
    logLevel: env.LOG_LEVEL ?? 'info',
    maxUploadBytes: int('MAX_UPLOAD_MB', env.MAX_UPLOAD_MB, 200) * 1024 * 1024,
    embeddedWorker: (env.EMBEDDED_WORKER ?? 'true') !== 'false',
    trustProxy: env.TRUST_PROXY === 'true',
    signAltcha: (env.SIGN_ALTCHA ?? 'true') !== 'false',
    signRateIp: int('SIGN_RATE_IP', env.SIGN_RATE_IP, 60),
    signRateEmail: int('SIGN_RATE_EMAIL', env.SIGN_RATE_EMAIL, 5),
  };
}
