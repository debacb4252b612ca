import { Type, type TSchema } from '@sinclair/typebox';
import { AppError } from '../errors.ts';

/* HAL+JSON building blocks for the OSDI API: links, curies, paging, the date filter. */

export const HAL_TYPE = 'application/hal+json; charset=utf-8';
export const API_PREFIX = '/api/v1';
export const OSDI_DOCS = 'https://opensupporter.github.io/osdi-docs/{rel}';

/** A HAL link; curies also carry `name` and `templated`. */
export const Link = Type.Object({
  href: Type.String(),
  title: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  templated: Type.Optional(Type.Boolean()),
});
/** `_links`: our own relations only (built by us, never from stored data). */
export const Links = Type.Record(Type.String(), Type.Union([Link, Type.Array(Link)]));

export const ErrorBody = Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) });

export const PageQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, description: 'Page number, from 1.' })),
  per_page: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Items per page; larger values are capped at the maximum.' }),
  ),
});

export const FilterQuery = Type.Object({
  ...PageQuery.properties,
  filter: Type.Optional(
    Type.String({
      description: "OData-style date filter, e.g. modified_date gt '2026-01-01' (gt, lt, eq; and).",
    }),
  ),
  $filter: Type.Optional(Type.String({ description: 'Same as filter.' })),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export function curies(): Array<{ name: string; href: string; templated: boolean }> {
  return [{ name: 'osdi', href: OSDI_DOCS, templated: true }];
}

/** A collection page: `_embedded` holds only the items array, under `key` (e.g. `osdi:people`). */
export function collectionSchema(key: string, item: TSchema) {
  return Type.Object({
    total_pages: Type.Integer(),
    per_page: Type.Integer(),
    page: Type.Integer(),
    total_records: Type.Integer(),
    _links: Links,
    _embedded: Type.Object({ [key]: Type.Array(item) }, { required: [key] }),
  });
}

export interface Paging {
  page: number;
  perPage: number;
  limit: number;
  offset: number;
}

export function paging(
  query: { page?: number | undefined; per_page?: number | undefined },
  max: number,
): Paging {
  const perPage = Math.min(Math.max(query.per_page ?? max, 1), max);
  const page = Math.max(query.page ?? 1, 1);
  return { page, perPage, limit: perPage, offset: (page - 1) * perPage };
}

export class Urls {
  readonly base: string;
  constructor(publicUrl: string) {
    this.base = publicUrl + API_PREFIX;
  }
  to(path: string): { href: string } {
    return { href: this.base + path };
  }
}

/** The collection envelope with self/next/prev links that carry `page=` (and the other parameters). */
export function collection<T>(
  urls: Urls,
  path: string,
  key: string,
  items: T[],
  total: number,
  p: Paging,
  extraQuery: Record<string, string | undefined> = {},
) {
  const totalPages = Math.max(1, Math.ceil(total / p.perPage));
  const link = (page: number) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(extraQuery)) if (value) search.set(name, value);
    search.set('page', String(page));
    search.set('per_page', String(p.perPage));
    return urls.to(`${path}?${search.toString()}`);
  };
  const links: Record<string, unknown> = { self: link(p.page), curies: curies() };
  if (p.page < totalPages) links.next = link(p.page + 1);
  if (p.page > 1) links.prev = link(Math.min(p.page - 1, totalPages));
  return {
    total_pages: totalPages,
    per_page: p.perPage,
    page: p.page,
    total_records: total,
    _links: links,
    _embedded: { [key]: items },
  };
}

/** `since` inclusive, `until` exclusive, ISO text. */
export interface DateRange {
  since?: string | undefined;
  until?: string | undefined;
}

const datePattern = /^\d{4}-\d{2}-\d{2}$/;

function parseMoment(value: string): { start: string; next: string } {
  if (datePattern.test(value)) {
    const start = new Date(`${value}T00:00:00.000Z`);
    if (Number.isNaN(start.getTime())) throw new AppError('invalid', `"${value}" is not a date.`);
    return { start: start.toISOString(), next: new Date(start.getTime() + 86_400_000).toISOString() };
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new AppError('invalid', `"${value}" is not a date or time (use 2026-01-31 or ISO 8601).`);
  return { start: new Date(ms).toISOString(), next: new Date(ms + 1).toISOString() };
}

const clausePattern = /^modified_date\s+(gt|lt|eq|ge|le)\s+'([^']{1,40})'$/i;

/**
 * Parses `modified_date gt '2026-01-01'` (gt, lt, eq; clauses joined with `and`). A date without a
 * time means the whole day: gt a day is after that day, eq a day is during it.
 */
export function parseDateFilter(filter: string | undefined): DateRange {
  const range: DateRange = {};
  if (!filter || !filter.trim()) return range;
  for (const clause of filter.trim().split(/\s+and\s+/i)) {
    const match = clausePattern.exec(clause.trim());
    if (!match) {
      throw new AppError(
        'invalid',
        `The filter "${filter.slice(0, 100)}" is not supported: use modified_date gt|lt|eq 'YYYY-MM-DD'.`,
      );
    }
    const op = match[1]!.toLowerCase();
    const moment = parseMoment(match[2]!);
    const raise = (since: string) => (range.since = range.since && range.since > since ? range.since : since);
    const lower = (until: string) => (range.until = range.until && range.until < until ? range.until : until);
    if (op === 'gt') raise(moment.next);
    else if (op === 'ge') raise(moment.start);
    else if (op === 'lt') lower(moment.start);
    else if (op === 'le') lower(moment.next);
    else {
      raise(moment.start);
      lower(moment.next);
    }
  }
  return range;
}

/** The last path segment of an OSDI link (`…/people/<id>`), or the text itself when it is a bare id. */
export function idFromHref(href: string): string {
  const trimmed = href.trim().replace(/\/+$/, '');
  const id = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return decodeURIComponent(id.split('?')[0] ?? '');
}
