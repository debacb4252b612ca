import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

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
  const rand = randomBytes(8);
  const hex = ms.toString(16).padStart(12, '0');
  const seq = (0x7000 | counter).toString(16);
  const variant = ((rand[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0');
  const tail = rand.subarray(1).toString('hex').slice(0, 14);
  return `${hex.slice(0, 8)}-${hex.slice(8)}-${seq}-${variant}${tail.slice(0, 2)}-${tail.slice(2, 14)}`;
}

export function nowIso(): string {
  return new Date().toISOString();
}
