import { stringify } from 'csv-stringify/sync';
import { Readable } from 'node:stream';
import type { PeopleFilters, PeopleService, PersonSummary } from './service.ts';

export const exportColumns = [
  'id',
  'email',
  'email_status',
  'given_name',
  'family_name',
  'language',
  'phone',
  'street',
  'locality',
  'region',
  'postal_code',
  'country',
  'tags',
  'custom_fields',
  'source',
  'created_at',
] as const;

/** A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection). */
function text(value: string | null): string {
  if (value === null) return '';
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function toRow(person: PersonSummary): string[] {
  return [
    person.id,
    person.email ?? '',
    person.emailStatus ?? '',
    text(person.givenName),
    text(person.familyName),
    person.language ?? '',
    // Phones are stored as digits with an optional leading "+": never a formula.
    person.phone ?? '',
    text(person.street),
    text(person.locality),
    text(person.region),
    text(person.postalCode),
    text(person.country),
    text(person.tags.join('; ')),
    Object.keys(person.customFields).length ? text(JSON.stringify(person.customFields)) : '',
    text(person.source),
    person.createdAt,
  ];
}

/**
 * Every person matching `filters` as CSV, streamed: people are read in keyset batches and written
 * a batch at a time, so an export of a million people never holds them all.
 */
export function exportPeopleCsv(people: PeopleService, filters: PeopleFilters): Readable {
  async function* chunks(): AsyncGenerator<string> {
    yield stringify([exportColumns as readonly string[]]);
    let rows: string[][] = [];
    for await (const person of people.streamPeople(filters)) {
      rows.push(toRow(person));
      if (rows.length >= 500) {
        yield stringify(rows);
        rows = [];
      }
    }
    if (rows.length) yield stringify(rows);
  }
  return Readable.from(chunks(), { objectMode: false });
}
