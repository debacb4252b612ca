import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Confirmation links carry `<signatureId>.<expires epoch s>.<HMAC>`: anyone can read them, nobody
 * can make or alter one without the secret key.
 */
export function makeSignedToken(secret: string, purpose: string, id: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${id}.${expires}.${mac(secret, purpose, id, expires)}`;
}

export type TokenCheck = { ok: true; id: string } | { ok: false; reason: 'invalid' | 'expired' };

export function verifySignedToken(
  secret: string,
  purpose: string,
  token: string,
  now = new Date(),
): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'invalid' };
  const [id, expiresText, given] = parts as [string, string, string];
  if (!/^[0-9a-f-]{36}$/.test(id) || !/^\d{1,12}$/.test(expiresText)) return { ok: false, reason: 'invalid' };
  const expected = Buffer.from(mac(secret, purpose, id, Number(expiresText)));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return { ok: false, reason: 'invalid' };
  }
  if (Number(expiresText) * 1000 < now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, id };
}

function mac(secret: string, purpose: string, id: string, expires: number): string {
  return createHmac('sha256', secret).update(`${purpose}\n${id}\n${expires}`).digest('base64url');
}

/** A key for one purpose derived from the app secret, so a token for one use is useless for another. */
export function deriveKey(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(`undersign:${purpose}`).digest('base64url');
}

const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';

// Random bytes are drawn in blocks: one call per 372 codes instead of one per signature.
const codePool = Buffer.alloc(11 * 372);
let codePoolOffset = codePool.length;

/** Short, unambiguous share code (about 54 bits). */
export function newReferralCode(): string {
  if (codePoolOffset + 11 > codePool.length) {
    randomFillSync(codePool);
    codePoolOffset = 0;
  }
  let code = '';
  for (let i = 0; i < 11; i++) code += alphabet[codePool[codePoolOffset + i]! % alphabet.length];
  codePoolOffset += 11;
  return code;
}

export const referralCodePattern = /^[a-z0-9]{4,32}$/;
