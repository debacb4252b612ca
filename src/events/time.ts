/** Time-zone arithmetic with Intl only: events are stored in UTC and shown in their IANA zone. */

export function isTimeZone(zone: string): boolean {
  if (!zone || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Offset of `zone` from UTC at the instant `utcMs`, in milliseconds (e.g. -8 h for Los Angeles in winter). */
function offsetMs(utcMs: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

const localPattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$/;

/** "2026-12-01T18:30" on the wall clock of `zone` → the UTC instant, or null when malformed. */
export function zonedLocalToUtc(local: string, zone: string): Date | null {
  const m = localPattern.exec(local.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi] = m.map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return null;
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  // Two passes settle the offset across a daylight-saving change.
  let utc = wall - offsetMs(wall, zone);
  utc = wall - offsetMs(utc, zone);
  return new Date(utc);
}

/** The UTC instant as "YYYY-MM-DDTHH:mm" on the wall clock of `zone` (for datetime-local inputs). */
export function utcToZonedLocal(iso: string, zone: string): string {
  const ms = Date.parse(iso);
  const local = new Date(ms + offsetMs(ms, zone));
  return local.toISOString().slice(0, 16);
}

/** "Tuesday, December 1, 2026, 6:30 PM – 8:00 PM PST" in the event's zone. */
export function formatEventTime(startIso: string, endIso: string, zone: string, lang = 'en'): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  const day = new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeZone: zone });
  const time = new Intl.DateTimeFormat(lang, { timeStyle: 'short', timeZone: zone });
  const withZone = new Intl.DateTimeFormat(lang, {
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
    timeZone: zone,
  });
  if (day.format(start) === day.format(end)) {
    return `${day.format(start)}, ${time.format(start)} – ${withZone.format(end)}`;
  }
  return `${day.format(start)}, ${time.format(start)} – ${day.format(end)}, ${withZone.format(end)}`;
}
