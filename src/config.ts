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
  /** PostgreSQL only: `table` keeps jobs in the jobs table instead of pg-boss (the default there). */
  jobQueue: 'table' | 'pg-boss' | undefined;
  /** Trust X-Forwarded-* from a proxy in front (needed for client IPs behind one). */
  trustProxy: boolean;
  /** Let webhooks deliver to loopback and private network addresses (off: no forged inner requests). */
  webhookAllowPrivate: boolean;
  /** ALTCHA proof-of-work on petition forms (each petition can also turn it off). */
  signAltcha: boolean;
  /** Signing attempts allowed per client IP per 10 minutes (0: no limit). */
  signRateIp: number;
  /** Signing attempts allowed per email address per hour (0: no limit). */
  signRateEmail: number;
  /** TrueType font for delivery PDFs (names in any script it covers); Helvetica when missing. */
  pdfFont: string;
  /** Bulk email (mailings): sending pace, DKIM, bounces. */
  bulkMail: BulkMailConfig;
  /** Largest `per_page` an API client may ask for (also the default page size). */
  apiMaxPerPage: number;
  /** API requests allowed per key per minute (0: no limit). */
  apiRateLimit: number;
  /** First retry delay of a failed webhook delivery; each further retry waits twice as long. */
  webhookRetryBaseMs: number;
}

export interface BulkMailConfig {
  /** Postal address printed in every mailing's footer (required by anti-spam laws). */
  orgPostalAddress: string;
  /** Default messages per second for a mailing (each mailing may set its own). */
  rate: number;
  /** SMTP connections used in parallel for bulk sending. */
  concurrency: number;
  /**
   * Senders that may work on one mailing at once, each claiming batches of its recipients (spread
   * over the worker processes); 0: 4 with pg-boss, 1 with the table queue (its job slots are shared
   * with transactional mail).
   */
  senders: number;
  /** Recipients per sending batch (each batch re-checks who signed or unsubscribed meanwhile). */
  batchSize: number;
  /** DKIM signing: all three set, or none. The key is PEM text or a path to a PEM file. */
  dkim: { domainName: string; keySelector: string; privateKey: string } | null;
  /** Domain of the per-recipient return path (VERP) "b-…@domain"; empty: the From domain. */
  bounceDomain: string;
  /** Shared secret for the bounce/complaint webhook (`?secret=` or `x-webhook-secret`); empty: disabled. */
  webhookSecret: string;
  /** Port for the inbound SMTP listener that receives bounce reports (DSNs); 0: off. */
  inboundSmtpPort: number;
}

function dkimFrom(env: NodeJS.ProcessEnv): BulkMailConfig['dkim'] {
  const domainName = env.DKIM_DOMAIN ?? '';
  const keySelector = env.DKIM_SELECTOR ?? '';
  let privateKey = env.DKIM_PRIVATE_KEY ?? '';
  if (!domainName && !keySelector && !privateKey) return null;
  if (!domainName || !keySelector || !privateKey) {
    throw new Error('DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY must be set together');
  }
  if (!privateKey.includes('-----BEGIN')) privateKey = readFileSync(privateKey, 'utf8');
  return { domainName, keySelector, privateKey };
}

function jobQueueFrom(value: string | undefined): Config['jobQueue'] {
  if (!value) return undefined;
  if (value !== 'table' && value !== 'pg-boss') throw new Error('JOB_QUEUE must be table or pg-boss');
  return value;
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
    jobQueue: jobQueueFrom(env.JOB_QUEUE),
    trustProxy: env.TRUST_PROXY === 'true',
    webhookAllowPrivate: env.WEBHOOK_ALLOW_PRIVATE === 'true',
    signAltcha: (env.SIGN_ALTCHA ?? 'true') !== 'false',
    signRateIp: int('SIGN_RATE_IP', env.SIGN_RATE_IP, 60),
    signRateEmail: int('SIGN_RATE_EMAIL', env.SIGN_RATE_EMAIL, 5),
    pdfFont: env.PDF_FONT || '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
    apiMaxPerPage: Math.max(1, int('API_MAX_PER_PAGE', env.API_MAX_PER_PAGE, 25)),
    apiRateLimit: int('API_RATE_LIMIT', env.API_RATE_LIMIT, 600),
    webhookRetryBaseMs: int('WEBHOOK_RETRY_BASE_MS', env.WEBHOOK_RETRY_BASE_MS, 30_000),
    bulkMail: {
      orgPostalAddress: env.ORG_POSTAL_ADDRESS ?? '',
      rate: int('MAIL_RATE', env.MAIL_RATE, 50),
      concurrency: Math.max(1, int('MAIL_CONCURRENCY', env.MAIL_CONCURRENCY, 5)),
      batchSize: Math.max(1, int('MAIL_BATCH_SIZE', env.MAIL_BATCH_SIZE, 500)),
      senders: Math.max(0, int('MAIL_SENDERS', env.MAIL_SENDERS, 0)),
      dkim: dkimFrom(env),
      bounceDomain: env.BOUNCE_DOMAIN ?? '',
      webhookSecret: env.MAIL_WEBHOOK_SECRET ?? '',
      inboundSmtpPort: int('INBOUND_SMTP_PORT', env.INBOUND_SMTP_PORT, 0),
    },
  };
}
