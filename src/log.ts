import { createHmac } from 'node:crypto';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

// An address anywhere in a text (a message, an error, a path): replaced before it is written.
const EMAIL_IN_TEXT = /[^\s@<>()[\]\\,;:"'=&?/%]+(?:@|%40)[^\s@<>()[\]\\,;:"'&?/%]+\.[A-Za-z]{2,}/gi;

/** Replaces email addresses in log text. */
export function maskPersonalData(text: string): string {
  return text.replace(EMAIL_IN_TEXT, '[email]');
}

function maskValues(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'string' && (value.includes('@') || value.includes('%40'))) {
      copy ??= { ...object };
      copy[key] = maskPersonalData(value);
    }
  }
  return copy ?? object;
}

const pseudonymKeys = new Map<string, Buffer>();

/**
 * What logs say instead of a client's IP address: a short keyed hash (the key derived from the
 * app secret), the same for one address in every process, so abuse can be followed from line to
 * line without the logs holding the address. Null without an address.
 */
export function clientPseudonym(secretKey: string, ip: string | null | undefined): string | null {
  if (!ip) return null;
  let key = pseudonymKeys.get(secretKey);
  if (!key) {
    key = createHmac('sha256', secretKey).update('undersign:log-client').digest();
    pseudonymKeys.set(secretKey, key);
  }
  return createHmac('sha256', key).update(ip).digest('base64url').slice(0, 12);
}

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  routeOptions?: { url?: string };
}

/**
 * A request as logged: the route pattern (`/petitions/:slug/confirm`), never the address it was
 * reached at, whose path and query may carry tokens (confirmation, unsubscribe, invitation links)
 * or email addresses (admin searches); and not the client's IP address (personal data).
 */
function serializeRequest(request: LoggedRequest) {
  const pattern = request.routeOptions?.url;
  const path = (request.url ?? '').split('?')[0]!;
  return {
    method: request.method,
    url: pattern ?? maskPersonalData(path.length > 200 ? `${path.slice(0, 200)}…` : path),
  };
}

const serializersWithClient = new Map<string, { req: (request: LoggedRequest) => unknown }>();

/** Request lines with the client named by its pseudonym (for the apps' request loggers, which know the secret). */
function requestSerializersWithClient(secretKey: string) {
  let made = serializersWithClient.get(secretKey);
  if (!made) {
    made = {
      req: (request: LoggedRequest) => ({
        ...serializeRequest(request),
        client: clientPseudonym(secretKey, request.ip),
      }),
    };
    serializersWithClient.set(secretKey, made);
  }
  return made;
}

function serializeError(error: unknown) {
  const out = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  return maskValues(out);
}

/**
 * One logger for the process. Secrets and client addresses are redacted wherever they appear by
 * name (cookies, API tokens, passwords, tokens, `ip`), request lines carry the route pattern only
 * (no client address), and email addresses in messages and errors are masked. `destination` is for tests that read what was written.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
        'req.headers["osdi-api-token"]',
        'req.headers["x-csrf-token"]',
        'res.headers["set-cookie"]',
        'password',
        '*.password',
        'email',
        '*.email',
        'token',
        '*.token',
        'secret',
        '*.secret',
        'totp_secret',
        '*.totp_secret',
        // Client addresses are personal data: a line that names one by mistake does not keep it.
        'ip',
        '*.ip',
        'remoteAddress',
        '*.remoteAddress',
      ],
      censor: '[redacted]',
    },
    serializers: { req: serializeRequest, err: serializeError },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((arg: unknown) => {
          if (typeof arg === 'string') return maskPersonalData(arg);
          if (arg && typeof arg === 'object' && !(arg instanceof Error)) {
            return maskValues(arg as Record<string, unknown>);
          }
          return arg;
        });
        method.apply(this, masked as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger, made into a pino child (with the request id) the first time it writes at
 * an enabled level. Making the child costs more than many routes (pino prepares its bindings and
 * redaction per child), and below `info` most requests write nothing.
 */
class RequestLogger {
  private made: Logger | undefined;
  private readonly parent: Logger;
  private readonly bindings: pino.Bindings;
  private readonly options: pino.ChildLoggerOptions | undefined;
  private readonly secretKey: string | undefined;

  constructor(
    parent: Logger,
    bindings: pino.Bindings,
    options: pino.ChildLoggerOptions | undefined,
    secretKey: string | undefined,
  ) {
    this.parent = parent;
    this.bindings = bindings;
    this.options = options;
    this.secretKey = secretKey;
  }

  private real(): Logger {
    if (this.made) return this.made;
    const options = this.secretKey
      ? {
          ...this.options,
          serializers: { ...this.options?.serializers, ...requestSerializersWithClient(this.secretKey) },
        }
      : this.options;
    return (this.made = this.parent.child(this.bindings, options));
  }

  private write(level: LevelName, args: unknown[]): void {
    if (!(this.made ?? this.parent).isLevelEnabled(level)) return;
    (this.real()[level] as (...rest: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.real().level = level;
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}
  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): Logger {
    return this.real().child(bindings, options);
  }
  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }
}

/**
 * Fastify's `childLoggerFactory`: each request's logger is made when it first writes; with the
 * app's secret, its request lines name the client by pseudonym (`client`), never by address.
 */
export function requestLoggerFactory(
  logger: Logger,
  bindings: pino.Bindings,
  options: pino.ChildLoggerOptions | undefined,
  secretKey?: string,
): Logger {
  return new RequestLogger(logger, bindings, options, secretKey) as unknown as Logger;
}
