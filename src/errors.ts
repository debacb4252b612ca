/** Stable error codes every surface maps to a status and a page or JSON body in one place. */
export type AppErrorCode =
  'not_found' | 'conflict' | 'invalid' | 'forbidden' | 'unauthorized' | 'rate_limited' | 'too_large';

const statusByCode: Record<AppErrorCode, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
};

/** The one error type services throw; `message` is written for people and shown to them. */
export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: AppErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return statusByCode[this.code];
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
