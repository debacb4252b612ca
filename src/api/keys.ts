import { createHash, randomBytes } from 'node:crypto';

export type ApiScope = 'read' | 'write';

/** What a request authenticated with an API key may do. */
export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: ApiScope[];
  groupId: string | null;
}

const keyPrefix = 'us_';

/** A new secret key: shown to the admin once, only its SHA-256 is stored. */
export function newApiKeySecret(): { secret: string; hash: string; prefix: string } {
  const secret = keyPrefix + randomBytes(32).toString('base64url');
  return { secret, hash: hashApiKey(secret), prefix: secret.slice(0, keyPrefix.length + 6) };
}

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function parseScopes(text: string): ApiScope[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.filter((s): s is ApiScope => s === 'read' || s === 'write');
  } catch {
    // fall through: an unreadable scope list grants nothing
  }
  return [];
}

/**
 * Requests per key in fixed one-minute windows, in memory (per process). Enough to stop a runaway
 * client; several server processes each allow the limit.
 */
export class KeyRateLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(limit: number, windowMs = 60_000) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** 0 when allowed, else the seconds to wait. */
  hit(key: string, now = Date.now()): number {
    if (this.limit <= 0) return 0;
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size > 10_000) this.windows.clear();
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    if (window.count <= this.limit) return 0;
    return Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000));
  }
}
