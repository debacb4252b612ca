import { AppError } from '../../errors.ts';

/**
 * Merge tags: `{{ given_name }}`, `{{ given_name | default: "Friend" }}`, `{{ petition_link }}`.
 * A template is parsed once per mailing into parts; filling it per recipient is a join.
 */
export const mergeFields = [
  'given_name',
  'family_name',
  'full_name',
  'email',
  'postal_code',
  'locality',
  'petition_link',
  'unsubscribe_url',
  'preferences_url',
  'org_name',
  'org_address',
] as const;

export type MergeField = (typeof mergeFields)[number];
export type MergeValues = Partial<Record<MergeField, string | null>>;

export interface MergeTag {
  field: MergeField;
  fallback: string;
  filters: Array<'upcase' | 'downcase' | 'capitalize'>;
}

export type TemplatePart = string | MergeTag;

const tagPattern = /\{\{\s*([\s\S]*?)\s*\}\}/g;

function parseTag(source: string): MergeTag {
  const [head, ...filterTexts] = source.split('|').map((part) => part.trim());
  if (!head || !(mergeFields as readonly string[]).includes(head)) {
    throw new AppError(
      'invalid',
      `Unknown merge tag "{{ ${source} }}". Available: ${mergeFields.join(', ')}.`,
    );
  }
  const tag: MergeTag = { field: head as MergeField, fallback: '', filters: [] };
  for (const text of filterTexts) {
    const match = /^default\s*:\s*(?:"([^"]*)"|'([^']*)')$/.exec(text);
    if (match) {
      tag.fallback = match[1] ?? match[2] ?? '';
    } else if (text === 'upcase' || text === 'downcase' || text === 'capitalize') {
      tag.filters.push(text);
    } else {
      throw new AppError('invalid', `Unknown filter "${text}" in merge tag "{{ ${source} }}".`);
    }
  }
  return tag;
}

/** Splits text into literal strings and merge tags; throws `invalid` for unknown tags. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(tagPattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(parseTag(match[1]!));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function tagValue(tag: MergeTag, values: MergeValues): string {
  let value = values[tag.field];
  if (value === null || value === undefined || value.trim() === '') return tag.fallback;
  for (const filter of tag.filters) {
    if (filter === 'upcase') value = value.toUpperCase();
    else if (filter === 'downcase') value = value.toLowerCase();
    else value = value.charAt(0).toUpperCase() + value.slice(1);
  }
  return value;
}

/** Fills a parsed template; `escape` is applied to tag values only (HTML parts). */
export function fillTemplate(
  parts: readonly TemplatePart[],
  values: MergeValues,
  escape?: (text: string) => string,
): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') out += part;
    else out += escape ? escape(tagValue(part, values)) : tagValue(part, values);
  }
  return out;
}
