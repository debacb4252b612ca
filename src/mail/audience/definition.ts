import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError } from '../../errors.ts';

const names = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 200 });

/**
 * Who a mailing goes to. Criteria combine with AND; the values inside one criterion with OR
 * ("in list A or B, and tagged X"). Subscribed addresses only, always; suppressions never.
 */
export const AudienceDefinitionSchema = Type.Object(
  {
    lists: Type.Optional(names),
    tags: Type.Optional(names),
    excludeTags: Type.Optional(names),
    postalCodes: Type.Optional(names),
    districts: Type.Optional(names),
    languages: Type.Optional(names),
    /** Petition ids: signed any of them. */
    signed: Type.Optional(names),
    /** Petition ids: signed none of them. */
    notSigned: Type.Optional(names),
    /** Mailing ids: opened any of them. */
    opened: Type.Optional(names),
    /** Mailing ids: clicked in any of them. */
    clicked: Type.Optional(names),
    /** Group ids: a member of any of them (with their sub-groups and membership rules). */
    groups: Type.Optional(names),
  },
  { additionalProperties: false },
);

export type AudienceDefinition = Static<typeof AudienceDefinitionSchema>;

const keys = [
  'lists',
  'tags',
  'excludeTags',
  'postalCodes',
  'districts',
  'languages',
  'signed',
  'notSigned',
  'opened',
  'clicked',
  'groups',
] as const;

/** Trims values, drops blanks and empty criteria; throws `invalid` for anything else. */
export function parseAudience(input: unknown): AudienceDefinition {
  const value = typeof input === 'string' ? safeJson(input) : (input ?? {});
  if (!Value.Check(AudienceDefinitionSchema, value)) {
    throw new AppError('invalid', 'The audience definition is not valid.');
  }
  const out: AudienceDefinition = {};
  for (const key of keys) {
    const list = [...new Set((value[key] ?? []).map((v) => v.trim()).filter(Boolean))];
    if (list.length) out[key] = list;
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text || '{}');
  } catch {
    throw new AppError('invalid', 'The audience definition is not valid JSON.');
  }
}

/** One line per criterion, for the admin ("Tags: a or b"). */
export function describeAudience(audience: AudienceDefinition): string[] {
  const labels: Record<(typeof keys)[number], string> = {
    lists: 'In list',
    tags: 'Tagged',
    excludeTags: 'Not tagged',
    postalCodes: 'Postal code starts with',
    districts: 'In district',
    languages: 'Language',
    signed: 'Signed petition',
    notSigned: 'Has NOT signed petition',
    opened: 'Opened mailing',
    clicked: 'Clicked in mailing',
    groups: 'In group',
  };
  const lines = keys
    .filter((k) => audience[k]?.length)
    .map((k) => `${labels[k]}: ${audience[k]!.join(' or ')}`);
  return lines.length ? lines : ['Everyone subscribed'];
}
