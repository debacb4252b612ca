import pino, { type Logger } from 'pino';

export type { Logger };

/** One logger for the process. Secrets and personal data are redacted wherever they appear by name. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
        'req.headers["osdi-api-token"]',
        'password',
        '*.password',
        'email',
        '*.email',
        'token',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}
