import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * RSVP cancel links carry `<rsvpId>.<expires epoch s>.<HMAC>`: readable by anyone, made or altered
 * by nobody without the secret key.
 */
export function makeRsvpToken(secret: string, rsvpId: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${rsvpId}.${expires}.${mac(secret, rsvpId, expires)}`;
}

export function verifyRsvpToken(secret: string, token: string, now = new Date()): string | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [id, expiresText, given] = parts as [string, string, string];
  if (!/^[0-9a-f-]{36}$/.test(id) || !/^\d{1,12}$/.test(expiresText)) return null;
  const expected = Buffer.from(mac(secret, id, Number(expiresText)));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
  if (Number(expiresText) * 1000 < now.getTime()) return null;
  return id;
}

function mac(secret: string, id: string, expires: number): string {
  return createHmac('sha256', `undersign:rsvp-cancel:${secret}`)
    .update(`${id}\n${expires}`)
    .digest('base64url');
}
