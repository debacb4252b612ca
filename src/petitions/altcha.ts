import { createChallenge, verifySolution } from 'altcha-lib/v1';
import type { Challenge } from 'altcha-lib/v1/types';

/**
 * ALTCHA proof-of-work: the browser finds n with SHA-256(salt + n) = challenge. Challenges are
 * HMAC-signed and expire; a solved one is accepted once (replays are refused).
 */
export class AltchaGuard {
  private readonly hmacKey: string;
  private readonly maxNumber: number;
  private readonly used = new Map<string, number>();

  constructor(hmacKey: string, maxNumber = 50_000) {
    this.hmacKey = hmacKey;
    this.maxNumber = maxNumber;
  }

  createChallenge(): Promise<Challenge> {
    return createChallenge({
      hmacKey: this.hmacKey,
      maxnumber: this.maxNumber,
      expires: new Date(Date.now() + 20 * 60_000),
    });
  }

  /** True when the base64 payload solves a challenge we issued, unexpired and not used before. */
  async verify(payload: string): Promise<boolean> {
    if (!payload || payload.length > 2000) return false;
    let signature: string;
    try {
      const parsed = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { signature?: unknown };
      if (typeof parsed.signature !== 'string') return false;
      signature = parsed.signature;
    } catch {
      return false;
    }
    const now = Date.now();
    if ((this.used.get(signature) ?? 0) > now) return false;
    const ok = await verifySolution(payload, this.hmacKey, true);
    if (!ok) return false;
    if (this.used.size > 200_000) {
      for (const [key, until] of this.used) if (until <= now) this.used.delete(key);
    }
    this.used.set(signature, now + 21 * 60_000);
    return true;
  }
}
