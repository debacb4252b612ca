import { AppError } from '../errors.ts';

// The WHATWG "valid e-mail address" rule, plus a dot in the domain: what browsers accept in type=email.
const emailPattern =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Trimmed and lower-cased, or null when it is not a usable address. */
export function tryNormaliseEmail(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const email = value.trim().toLowerCase();
  if (email.length === 0 || email.length > 254) return null;
  if (!emailPattern.test(email)) return null;
  if (email.indexOf('@') > 64) return null;
  return email;
}

/** Trimmed and lower-cased; throws AppError('invalid') with a message for people otherwise. */
export function normaliseEmail(value: string | null | undefined): string {
  const email = tryNormaliseEmail(value);
  if (email) return email;
  const shown = typeof value === 'string' ? value.trim() : '';
  throw new AppError(
    'invalid',
    shown ? `"${shown.slice(0, 100)}" is not a valid email address.` : 'An email address is required.',
  );
}

/** Digits only, keeping a leading "+"; null when there are no digits. */
export function normalisePhone(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  const digits = trimmed.replace(/\D/g, '');
  if (digits.length === 0) return null;
  return (trimmed.startsWith('+') ? '+' : '') + digits;
}

/** The primary BCP-47 subtag ("en-GB" → "en"), or null when it does not look like one. */
export function normaliseLanguage(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const primary = value.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return /^[a-z]{2,3}$/.test(primary) ? primary : null;
}

/** Postal codes are compared upper-case with single spaces ("sw1a  1aa" → "SW1A 1AA"). */
export function normalisePostalCode(value: string | null | undefined): string | null {
  const text = clean(value);
  return text ? text.toUpperCase().replace(/\s+/g, ' ') : null;
}

/** Trimmed text, or null when blank. */
export function clean(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  return text.length ? text : null;
}

/** Tag and list names: trimmed, inner whitespace collapsed, blanks dropped, duplicates removed. */
export function cleanNames(names: readonly string[] | undefined): string[] {
  if (!names) return [];
  const out = new Set<string>();
  for (const name of names) {
    const text = typeof name === 'string' ? name.trim().replace(/\s+/g, ' ') : '';
    if (text) out.add(text.slice(0, 200));
  }
  return [...out];
}

/**
 * Erasure: `text` with every occurrence of the (normalised) addresses replaced, whatever their
 * case. Safe inside JSON text: a valid address has no quote or backslash to escape.
 */
export function eraseAddressesIn(text: string, addresses: readonly string[], replacement: string): string {
  let result = text;
  for (const address of addresses) {
    if (!address) continue;
    const pattern = new RegExp(address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
    result = result.replace(pattern, () => replacement);
  }
  return result;
}
