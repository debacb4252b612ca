import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * Signed tokens for links in bulk mail (open pixel, click redirect, unsubscribe, preferences,
 * VERP return path). Each purpose has its own key derived from the secret, so a token made for one
 * use is never accepted for another.
 */
export class MailTokens {
  // KeyObjects: about 3× faster per HMAC than passing a Buffer key (it is converted every call).
  private readonly keys = new Map<string, KeyObject>();
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  private key(purpose: string): KeyObject {
    let key = this.keys.get(purpose);
    if (!key) {
      key = createSecretKey(createHmac('sha256', this.secret).update(`undersign-mail:${purpose}`).digest());
      this.keys.set(purpose, key);
    }
    return key;
  }

  /** A 128-bit HMAC of the parts, base64url (22 characters). */
  sign(purpose: string, ...parts: string[]): string {
    return createHmac('sha256', this.key(purpose))
      .update(parts.join('\n'))
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  verify(purpose: string, signature: string, ...parts: string[]): boolean {
    if (typeof signature !== 'string' || signature.length !== 22) return false;
    const expected = Buffer.from(this.sign(purpose, ...parts));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

const idPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

function toBase32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32[(value << (5 - bits)) & 31];
  return out;
}

function fromBase32(text: string, byteLength: number): Buffer | null {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    const index = base32.indexOf(ch);
    if (index < 0) return null;
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out.length === byteLength ? Buffer.from(out) : null;
}

function idToBase32(id: string): string | null {
  return idPattern.test(id) ? toBase32(Buffer.from(id.replace(/-/g, ''), 'hex')) : null;
}

function base32ToId(text: string): string | null {
  const bytes = fromBase32(text, 16);
  if (!bytes) return null;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * VERP local part "b-<mailing><person><sig>" in lower-case base32 (59 characters, under the 64
 * limit and safe from MTAs that change case). Null when the ids are not UUID-shaped.
 */
export function verpLocalPart(
  tokens: MailTokens,
  mailingId: string,
  personId: string,
  prefix: 'b' | 'u' = 'b',
): string | null {
  const m = idToBase32(mailingId);
  const p = idToBase32(personId);
  if (!m || !p) return null;
  const sig = toBase32(Buffer.from(tokens.sign(`verp-${prefix}`, mailingId, personId), 'base64url')).slice(
    0,
    6,
  );
  return `${prefix}-${m}${p}${sig}`;
}

export function parseVerpLocalPart(
  tokens: MailTokens,
  localPart: string,
): { mailingId: string; personId: string; prefix: 'b' | 'u' } | null {
  const match = /^([bu])-([a-z2-7]{26})([a-z2-7]{26})([a-z2-7]{6})$/.exec(localPart.toLowerCase());
  if (!match) return null;
  const prefix = match[1] as 'b' | 'u';
  const mailingId = base32ToId(match[2]!);
  const personId = base32ToId(match[3]!);
  if (!mailingId || !personId) return null;
  const expected = toBase32(
    Buffer.from(tokens.sign(`verp-${prefix}`, mailingId, personId), 'base64url'),
  ).slice(0, 6);
  return expected === match[4] ? { mailingId, personId, prefix } : null;
}
