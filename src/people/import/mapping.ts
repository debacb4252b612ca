import type { PersonInput } from '../types.ts';

/** Where a CSV column goes. `custom:<key>` stores it as a custom field. */
export type ImportField =
  | 'email'
  | 'givenName'
  | 'familyName'
  | 'fullName'
  | 'phone'
  | 'street'
  | 'locality'
  | 'region'
  | 'postalCode'
  | 'country'
  | 'language'
  | 'tags'
  | 'ignore'
  | `custom:${string}`;

export const importFieldLabels: Record<string, string> = {
  email: 'email',
  givenName: 'given name',
  familyName: 'family name',
  fullName: 'full name',
  phone: 'phone',
  street: 'street',
  locality: 'city / locality',
  region: 'region / state',
  postalCode: 'postal code',
  country: 'country',
  language: 'language',
  tags: 'tags',
  ignore: 'ignored',
};

const known: Record<string, ImportField> = {};
const synonyms: [ImportField, string[]][] = [
  ['email', ['email', 'emailaddress', 'mail', 'emailaddr', 'primaryemail', 'emails']],
  ['givenName', ['firstname', 'givenname', 'first', 'forename', 'fname']],
  ['familyName', ['lastname', 'familyname', 'surname', 'last', 'lname']],
  ['fullName', ['name', 'fullname']],
  [
    'phone',
    [
      'phone',
      'phonenumber',
      'mobile',
      'mobilephone',
      'mobilenumber',
      'cell',
      'cellphone',
      'tel',
      'telephone',
    ],
  ],
  ['street', ['address', 'street', 'streetaddress', 'address1', 'addressline1', 'addr']],
  ['locality', ['city', 'town', 'locality']],
  ['region', ['state', 'region', 'province', 'county']],
  ['postalCode', ['zip', 'zipcode', 'postcode', 'postalcode', 'postal']],
  ['country', ['country', 'countrycode']],
  ['language', ['language', 'lang', 'locale']],
  ['tags', ['tags', 'tag']],
];
for (const [field, names] of synonyms) for (const name of names) known[name] = field;

/** "E-mail Address " → "emailaddress": how headers are compared. */
export function headerKey(header: string): string {
  return header.toLowerCase().replace(/[^a-z0-9]/g, '');
}

export function isImportField(value: string): value is ImportField {
  return value in importFieldLabels || (value.startsWith('custom:') && value.length > 7);
}

export interface ResolvedMapping {
  /** One entry per column, in file order. */
  columns: { header: string; field: ImportField }[];
  /** Headers not imported (unknown, or a second column for the same field). */
  ignored: string[];
}

/**
 * Maps each header to a field: an explicit mapping (by header, compared loosely) wins, then the
 * common names; unknown columns become custom fields only when asked, otherwise they are ignored.
 */
export function resolveMapping(
  headers: readonly string[],
  explicit: Readonly<Record<string, string>>,
  unknownAsCustomFields: boolean,
): ResolvedMapping {
  const explicitByKey = new Map<string, string>();
  for (const [header, field] of Object.entries(explicit)) explicitByKey.set(headerKey(header), field);
  const used = new Set<string>();
  const columns: ResolvedMapping['columns'] = [];
  const ignored: string[] = [];
  for (const raw of headers) {
    const header = raw.trim();
    const key = headerKey(header);
    const chosen = explicitByKey.get(key);
    let field: ImportField = 'ignore';
    if (chosen !== undefined && isImportField(chosen)) field = chosen;
    else if (known[key]) field = known[key];
    else if (unknownAsCustomFields && header) field = `custom:${header}`;
    if (field !== 'ignore' && !field.startsWith('custom:') && field !== 'tags') {
      if (used.has(field)) field = 'ignore';
      else used.add(field);
    }
    if (field === 'ignore') ignored.push(header || '(blank header)');
    columns.push({ header, field });
  }
  return { columns, ignored };
}

export function hasEmailColumn(mapping: ResolvedMapping): boolean {
  return mapping.columns.some((column) => column.field === 'email');
}

/** Turns one CSV record into a PersonInput (email still raw: the merge validates it). */
export function recordToInput(
  record: readonly string[],
  mapping: ResolvedMapping,
  extra: { tags: readonly string[]; source: string; subscribe: boolean },
): PersonInput {
  const input: PersonInput = { email: '', source: extra.source, subscribe: extra.subscribe };
  const address: NonNullable<PersonInput['address']> = {};
  let custom: Record<string, string> | undefined;
  let tags: string[] = extra.tags.length ? [...extra.tags] : [];
  let fullName: string | undefined;
  const columns = mapping.columns;
  for (let i = 0; i < columns.length; i++) {
    const field = columns[i]!.field;
    if (field === 'ignore') continue;
    const value = (record[i] ?? '').trim();
    if (!value) continue;
    switch (field) {
      case 'email':
        input.email = value;
        break;
      case 'givenName':
        input.givenName = value;
        break;
      case 'familyName':
        input.familyName = value;
        break;
      case 'fullName':
        fullName = value;
        break;
      case 'phone':
        input.phone = value;
        break;
      case 'language':
        input.language = value;
        break;
      case 'street':
      case 'locality':
      case 'region':
      case 'postalCode':
      case 'country':
        address[field] = value;
        input.address = address;
        break;
      case 'tags':
        tags = tags.concat(value.split(/[;,|]/));
        break;
      default:
        (custom ??= {})[field.slice(7)] = value;
    }
  }
  if (fullName && !input.givenName && !input.familyName) {
    const at = fullName.lastIndexOf(' ');
    if (at > 0) {
      input.givenName = fullName.slice(0, at);
      input.familyName = fullName.slice(at + 1);
    } else input.givenName = fullName;
  }
  if (tags.length) input.tags = tags;
  if (custom) input.customFields = custom;
  return input;
}
