import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;
// Bulk imports make millions of ids: one randomFillSync per 512 ids and the text written into one
// buffer (a flat string, no concatenation garbage) instead of a randomBytes call and string slicing.
const pool = Buffer.alloc(8 * 512);
let poolOffset = pool.length;
const hexDigits = Buffer.from('0123456789abcdef', 'latin1');
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
let textMs = -1;

function writeHex(value: number, at: number, digits: number): void {
  for (let i = digits - 1; i >= 0; i--) {
    text[at + i] = hexDigits[value & 0xf]!;
    value = Math.floor(value / 16);
  }
}

/**
 * A UUIDv7-shaped id: time-ordered so `order by id` is creation order (stable paging and
 * streaming), made in the application so both databases accept it as plain text.
 */
export function newId(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    counter = 0;
  }
  if (ms !== textMs) {
    writeHex(Math.floor(ms / 0x10000), 0, 8);
    writeHex(ms % 0x10000, 9, 4);
    textMs = ms;
  }
  writeHex(counter, 15, 3);
  if (poolOffset + 8 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const o = poolOffset;
  poolOffset += 8;
  writeHex((pool[o]! & 0x3f) | 0x80, 19, 2);
  writeHex(pool[o + 1]!, 21, 2);
  for (let i = 0; i < 6; i++) writeHex(pool[o + 2 + i]!, 24 + i * 2, 2);
  return text.toString('latin1', 0, 36);
}

export function nowIso(): string {
  return new Date().toISOString();
}
