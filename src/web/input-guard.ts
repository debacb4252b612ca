import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.ts';

/** True when a parsed value holds a NUL character anywhere (looked for a few levels deep). */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 6 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false;
  if (Array.isArray(value)) return value.some((item) => holdsNul(item, depth + 1));
  // Plain loops: every request passes here, and entries() arrays cost more than the check.
  const object = value as Record<string, unknown>;
  for (const key in object) {
    if (key.includes('\u0000') || holdsNul(object[key], depth + 1)) return true;
  }
  return false;
}

/** True when a validated value holds a number past 2^53 (or Infinity, NaN), a few levels deep. */
function holdsNonFinite(value: unknown, depth = 0): boolean {
  if (typeof value === 'number') return !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER;
  if (depth > 6 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false;
  const object = value as Record<string, unknown>;
  for (const key in object) if (holdsNonFinite(object[key], depth + 1)) return true;
  return false;
}

/**
 * Text with a NUL character is refused before any route sees it: PostgreSQL cannot store it
 * (it answered with an error, and the person with a 500) and SQLite would keep it silently.
 */
export function installInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', (request, _reply, done) => {
    // Raw bodies (inbound email, uploads) are not text fields and are left to their routes.
    const fields = typeof request.body === 'object' ? request.body : null;
    if (holdsNul(request.params) || holdsNul(request.query) || holdsNul(fields)) {
      done(new AppError('invalid', 'The request contains a NUL character, which is not allowed in text.'));
      return;
    }
    done();
  });
  // Validation lets "1e309" (Infinity) and 40-digit numbers pass as integers; no query can use them.
  app.addHook('preHandler', (request, _reply, done) => {
    const fields = typeof request.body === 'object' ? request.body : null;
    if (holdsNonFinite(request.params) || holdsNonFinite(request.query) || holdsNonFinite(fields)) {
      done(new AppError('invalid', 'A number in the request is too large.'));
      return;
    }
    done();
  });
}
