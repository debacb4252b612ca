import type { AppContext } from '../context.ts';
import type { Executor, PersonRow, PersonUpdate } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { createImportService, type ImportService } from './import/service.ts';
import { mergePeople } from './merge.ts';
import {
  clean,
  normaliseLanguage,
  normalisePhone,
  normalisePostalCode,
  tryNormaliseEmail,
} from './normalize.ts';
import * as store from './store.ts';
import type { PersonIdSubquery } from './audience/store.ts';
import type { EmailStatus, MergeResult, PersonInput } from './types.ts';

export interface PeopleFilters {
  /** Text found in the name or an email address (case-insensitive). */
  q?: string | undefined;
  email?: string | undefined;
  tag?: string | undefined;
  /** Postal code or its beginning ("SW1A" finds "SW1A 1AA"). */
  postalCode?: string | undefined;
  /** Only people in this set (e.g. one group's members): a subquery of person ids. */
  within?: PersonIdSubquery | undefined;
  /** The admin user on whose behalf people are read: their access scope applies and the view is audited. */
  viewer?: PeopleViewer | undefined;
}

/** The signed-in admin user reading people. */
export interface PeopleViewer {
  id: string;
  role: string;
}

/** Who may see whom (group leaders see their groups' members only) and where views are recorded. */
export interface PeopleAccessControl {
  /** A subquery of the person ids the user may see, or null for everyone. */
  scopeFor(viewer: PeopleViewer): Promise<PersonIdSubquery | null>;
  recordView(viewer: PeopleViewer, action: string, details: Record<string, unknown>): Promise<void>;
}

export interface PeopleSearch extends PeopleFilters {
  page?: number | undefined;
  perPage?: number | undefined;
}

export interface PersonSummary {
  id: string;
  givenName: string | null;
  familyName: string | null;
  language: string | null;
  source: string | null;
  email: string | null;
  emailStatus: EmailStatus | null;
  phone: string | null;
  street: string | null;
  locality: string | null;
  region: string | null;
  postalCode: string | null;
  country: string | null;
  tags: string[];
  customFields: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface PeoplePage {
  people: PersonSummary[];
  total: number;
  page: number;
  perPage: number;
  pages: number;
}

export interface PersonDetail {
  id: string;
  givenName: string | null;
  familyName: string | null;
  language: string | null;
  source: string | null;
  createdAt: string;
  updatedAt: string;
  emails: { id: string; address: string; status: EmailStatus; primary: boolean; createdAt: string }[];
  addresses: {
    id: string;
    street: string | null;
    locality: string | null;
    region: string | null;
    postalCode: string | null;
    country: string | null;
    primary: boolean;
  }[];
  phones: { id: string; number: string; primary: boolean }[];
  tags: string[];
  lists: string[];
  customFields: Record<string, unknown>;
  consents: {
    id: string;
    what: string;
    granted: boolean;
    source: string | null;
    ip: string | null;
    email: string | null;
    createdAt: string;
  }[];
  /** Newest first. */
  activity: { id: string; kind: string; summary: string; details: unknown; createdAt: string }[];
}

export interface PeopleService {
  /** Creates or merges each input by normalised email (see merge.ts for the rule). */
  mergePeople(executor: Executor, inputs: readonly PersonInput[]): Promise<MergeResult[]>;
  mergePersonByEmail(executor: Executor, input: PersonInput): Promise<MergeResult>;
  searchPeople(search: PeopleSearch): Promise<PeoplePage>;
  /** Every match in id order, fetched in keyset batches so memory stays flat. */
  streamPeople(filters: PeopleFilters): AsyncIterable<PersonSummary>;
  /** With `viewer`, a person outside the user's access scope is not found, and the view is audited. */
  getPerson(id: string, viewer?: PeopleViewer): Promise<PersonDetail>;
  addActivity(
    executor: Executor,
    personId: string,
    kind: string,
    summary: string,
    details?: unknown,
  ): Promise<void>;
  countPeople(): Promise<number>;
  setAccessControl(control: PeopleAccessControl): void;
  /** New people per UTC day since `sinceIso` (dashboards). */
  countPeopleCreatedPerDay(sinceIso: string): Promise<{ day: string; total: number }[]>;
  countPeopleCreatedBefore(iso: string): Promise<number>;
  /** Erasure: removes names, addresses, phones, tags, lists, consents and history; email addresses become
   * placeholders. The person row stays so counts (signatures, RSVPs) stay right. */
  erasePerson(executor: Executor, id: string): Promise<void>;
  imports: ImportService;
  // ---- for the API (OSDI collections, helpers) ----
  /** People whose last change is in `range` (updated_at; since inclusive, until exclusive), in id order. */
  listPeopleChanged(
    range: store.ChangedRange,
    limit: number,
    offset: number,
  ): Promise<{ people: PersonRecord[]; total: number }>;
  /** Full records (all emails, addresses, phones, tags, lists) in the order of `ids`; unknown ids skipped. */
  describePeople(ids: readonly string[]): Promise<PersonRecord[]>;
  findPersonIdByEmail(email: string): Promise<string | null>;
  /** Whether the person is in the set (a subquery of person ids, e.g. a group's members). */
  isPersonWithin(id: string, set: store.PersonIdSet): Promise<boolean>;
  findPersonIdByPhone(phone: string): Promise<string | null>;
  /** Overwrites the given fields (the API's PUT); custom fields are replaced key by key. */
  updatePersonFields(executor: Executor, id: string, fields: PersonFieldsUpdate): Promise<void>;
  tagPerson(executor: Executor, personId: string, tagName: string): Promise<void>;
  removeTags(executor: Executor, personId: string, tagNames: readonly string[]): Promise<number>;
  untagPerson(executor: Executor, tagId: string, personId: string): Promise<boolean>;
  createNamed(kind: 'tags' | 'lists', name: string): Promise<NamedRecord>;
  listNamed(
    kind: 'tags' | 'lists',
    limit: number,
    offset: number,
  ): Promise<{ items: NamedRecord[]; total: number }>;
  getNamed(kind: 'tags' | 'lists', id: string): Promise<NamedRecord>;
  /** People tagged with a tag or on a list, in the order they were added. */
  listMembers(
    kind: 'tags' | 'lists',
    id: string,
    limit: number,
    offset: number,
  ): Promise<{ members: { personId: string; createdAt: string }[]; total: number }>;
  /** Addresses whose status became `status` in [since, until) (webhooks' change feed), a page at a time. */
  listEmailsChangedTo(
    status: EmailStatus,
    range: { since: string; until: string },
    limit: number,
    offset: number,
  ): Promise<{ personId: string; address: string; changedAt: string }[]>;
}

export type PersonRecord = Omit<PersonDetail, 'consents' | 'activity'>;
export interface NamedRecord {
  id: string;
  name: string;
  createdAt: string;
}
export interface PersonFieldsUpdate {
  givenName?: string | null | undefined;
  familyName?: string | null | undefined;
  language?: string | null | undefined;
  customFields?: Record<string, string | number | boolean | null> | undefined;
}

const streamBatch = 1000;

function parseJsonObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** Timeline details are JSON written by addActivity; anything else is shown as text, never a 500. */
function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function filterValues(filters: PeopleFilters): store.PeopleFilterValues {
  const q = filters.q?.trim().toLowerCase();
  const email = filters.email?.trim();
  const tag = filters.tag?.trim();
  const postalCode = normalisePostalCode(filters.postalCode);
  let normalisedEmail: string | undefined;
  if (email) {
    // An address that cannot exist matches nobody; say so rather than ignoring the filter.
    normalisedEmail = tryNormaliseEmail(email) ?? email.toLowerCase();
  }
  return {
    q: q || undefined,
    email: normalisedEmail,
    tag: tag || undefined,
    postalCode: postalCode ?? undefined,
    within: filters.within ? [filters.within] : undefined,
  };
}

export function createPeopleService(ctx: AppContext): PeopleService {
  const { db } = ctx;

  /** Adds emails, first address, first phone and tags to a batch of people rows (4 queries). */
  async function summarise(rows: PersonRow[]): Promise<PersonSummary[]> {
    const ids = rows.map((row) => row.id);
    const [emails, addresses, phones, tags] = [
      await store.findEmailsByPersonIds(db, ids),
      await store.findAddressesByPersonIds(db, ids),
      await store.findPhonesByPersonIds(db, ids),
      await store.findTagNamesByPersonIds(db, ids),
    ];
    const emailBy = new Map<string, (typeof emails)[number]>();
    for (const row of emails) if (!emailBy.has(row.person_id)) emailBy.set(row.person_id, row);
    const addressBy = new Map<string, (typeof addresses)[number]>();
    for (const row of addresses) if (!addressBy.has(row.person_id)) addressBy.set(row.person_id, row);
    const phoneBy = new Map<string, string>();
    for (const row of phones) if (!phoneBy.has(row.person_id)) phoneBy.set(row.person_id, row.number);
    const tagsBy = new Map<string, string[]>();
    for (const row of tags) {
      const list = tagsBy.get(row.person_id);
      if (list) list.push(row.name);
      else tagsBy.set(row.person_id, [row.name]);
    }
    return rows.map((row) => {
      const email = emailBy.get(row.id);
      const address = addressBy.get(row.id);
      return {
        id: row.id,
        givenName: row.given_name,
        familyName: row.family_name,
        language: row.language,
        source: row.source,
        email: email?.address ?? null,
        emailStatus: (email?.status as EmailStatus | undefined) ?? null,
        phone: phoneBy.get(row.id) ?? null,
        street: address?.street ?? null,
        locality: address?.locality ?? null,
        region: address?.region ?? null,
        postalCode: address?.postal_code ?? null,
        country: address?.country ?? null,
        tags: tagsBy.get(row.id) ?? [],
        customFields: parseJsonObject(row.custom_fields),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      };
    });
  }

  /** Full records for a batch of people rows (5 queries). */
  async function describeRows(rows: PersonRow[]): Promise<PersonRecord[]> {
    const ids = rows.map((row) => row.id);
    const [emails, addresses, phones, tags, lists] = [
      await store.findEmailsByPersonIds(db, ids),
      await store.findAddressesByPersonIds(db, ids),
      await store.findPhonesByPersonIds(db, ids),
      await store.findTagNamesByPersonIds(db, ids),
      await store.findListNamesByPersonIds(db, ids),
    ];
    const group = <T extends { person_id: string }>(items: T[]) => {
      const by = new Map<string, T[]>();
      for (const item of items) {
        const list = by.get(item.person_id);
        if (list) list.push(item);
        else by.set(item.person_id, [item]);
      }
      return by;
    };
    const [emailsBy, addressesBy, phonesBy, tagsBy, listsBy] = [
      group(emails),
      group(addresses),
      group(phones),
      group(tags),
      group(lists),
    ];
    return rows.map((person) => ({
      id: person.id,
      givenName: person.given_name,
      familyName: person.family_name,
      language: person.language,
      source: person.source,
      createdAt: person.created_at,
      updatedAt: person.updated_at,
      emails: (emailsBy.get(person.id) ?? []).map((e) => ({
        id: e.id,
        address: e.address,
        status: e.status as EmailStatus,
        primary: e.is_primary === 1,
        createdAt: e.created_at,
      })),
      addresses: (addressesBy.get(person.id) ?? []).map((a) => ({
        id: a.id,
        street: a.street,
        locality: a.locality,
        region: a.region,
        postalCode: a.postal_code,
        country: a.country,
        primary: a.is_primary === 1,
      })),
      phones: (phonesBy.get(person.id) ?? []).map((p) => ({
        id: p.id,
        number: p.number,
        primary: p.is_primary === 1,
      })),
      tags: (tagsBy.get(person.id) ?? []).map((t) => t.name),
      lists: (listsBy.get(person.id) ?? []).map((l) => l.name),
      customFields: parseJsonObject(person.custom_fields),
    }));
  }

  let access: PeopleAccessControl | null = null;

  /** Filter values with the viewer's access scope added; records that the viewer read people. */
  async function scopedFilterValues(filters: PeopleFilters, action: string) {
    const values = filterValues(filters);
    if (filters.viewer && access) {
      const scope = await access.scopeFor(filters.viewer);
      if (scope) values.within = [...(values.within ?? []), scope];
      await access.recordView(filters.viewer, action, {
        filters: { q: values.q, email: values.email, tag: values.tag, postalCode: values.postalCode },
        scoped: scope !== null,
      });
    }
    return values;
  }

  const service: PeopleService = {
    mergePeople,
    async mergePersonByEmail(executor, input) {
      const [result] = await mergePeople(executor, [input]);
      return result!;
    },

    async searchPeople(search) {
      const perPage = Math.min(Math.max(Math.trunc(search.perPage ?? 50), 1), 500);
      const page = Math.max(Math.trunc(search.page ?? 1), 1);
      const filters = await scopedFilterValues(search, 'people.search');
      const [total, rows] = [
        await store.countPeopleMatching(db, filters),
        await store.listPeoplePage(db, filters, perPage, (page - 1) * perPage),
      ];
      return {
        people: await summarise(rows),
        total,
        page,
        perPage,
        pages: Math.max(1, Math.ceil(total / perPage)),
      };
    },

    async *streamPeople(filters) {
      const values = await scopedFilterValues(filters, 'people.export');
      let after: string | null = null;
      for (;;) {
        const rows = await store.listPeopleAfter(db, values, after, streamBatch);
        if (rows.length === 0) return;
        for (const person of await summarise(rows)) yield person;
        if (rows.length < streamBatch) return;
        after = rows[rows.length - 1]!.id;
      }
    },

    async getPerson(id, viewer) {
      if (viewer && access) {
        const scope = await access.scopeFor(viewer);
        if (scope && !(await store.isPersonWithin(db, id, scope))) {
          throw new AppError('not_found', 'There is no person with that id.');
        }
        await access.recordView(viewer, 'person.view', { personId: id });
      }
      const person = await store.findPersonById(db, id);
      if (!person) throw new AppError('not_found', 'There is no person with that id.');
      const [emails, addresses, phones, tags, lists, consents, activity] = [
        await store.findEmailsByPersonIds(db, [id]),
        await store.findAddressesByPersonIds(db, [id]),
        await store.findPhonesByPersonIds(db, [id]),
        await store.findTagNamesByPersonIds(db, [id]),
        await store.findListNamesByPersonIds(db, [id]),
        await store.findConsentsByPersonId(db, id),
        await store.findActivityByPersonId(db, id, 500),
      ];
      return {
        id: person.id,
        givenName: person.given_name,
        familyName: person.family_name,
        language: person.language,
        source: person.source,
        createdAt: person.created_at,
        updatedAt: person.updated_at,
        emails: emails.map((e) => ({
          id: e.id,
          address: e.address,
          status: e.status as EmailStatus,
          primary: e.is_primary === 1,
          createdAt: e.created_at,
        })),
        addresses: addresses.map((a) => ({
          id: a.id,
          street: a.street,
          locality: a.locality,
          region: a.region,
          postalCode: a.postal_code,
          country: a.country,
          primary: a.is_primary === 1,
        })),
        phones: phones.map((p) => ({ id: p.id, number: p.number, primary: p.is_primary === 1 })),
        tags: tags.map((t) => t.name),
        lists: lists.map((l) => l.name),
        customFields: parseJsonObject(person.custom_fields),
        consents: consents.map((c) => ({
          id: c.id,
          what: c.what,
          granted: c.granted === 1,
          source: c.source,
          ip: c.ip,
          email: c.address,
          createdAt: c.created_at,
        })),
        activity: activity.map((a) => ({
          id: a.id,
          kind: a.kind,
          summary: a.summary,
          details: a.details === null ? null : parseJsonValue(a.details),
          createdAt: a.created_at,
        })),
      };
    },

    async addActivity(executor, personId, kind, summary, details) {
      await store.insertActivities(executor, [
        {
          id: newId(),
          person_id: personId,
          kind,
          summary,
          details: details === undefined ? null : JSON.stringify(details),
          created_at: nowIso(),
        },
      ]);
    },

    countPeople: () => store.countAllPeople(db),
    setAccessControl(control) {
      access = control;
    },
    countPeopleCreatedPerDay: (sinceIso) => store.countPeopleCreatedPerDay(db, sinceIso),
    countPeopleCreatedBefore: (iso) => store.countPeopleCreatedBefore(db, iso),
    async erasePerson(executor, id) {
      if (!(await store.findPersonById(executor, id)))
        throw new AppError('not_found', 'There is no person with that id.');
      const now = nowIso();
      await store.anonymisePerson(executor, id, now);
      await store.insertActivities(executor, [
        {
          id: newId(),
          person_id: id,
          kind: 'erased',
          summary: 'Personal data erased',
          details: null,
          created_at: now,
        },
      ]);
    },
    imports: undefined as unknown as ImportService,

    async listPeopleChanged(range, limit, offset) {
      const [total, rows] = [
        await store.countPeopleChanged(db, range),
        await store.listPeopleChanged(db, range, limit, offset),
      ];
      return { people: await describeRows(rows), total };
    },

    async describePeople(ids) {
      const rows = await store.findPeopleByIds(db, ids);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return describeRows(ids.map((id) => byId.get(id)).filter((row): row is PersonRow => !!row));
    },

    async findPersonIdByEmail(email) {
      const address = tryNormaliseEmail(email);
      return address ? store.findPersonIdByEmail(db, address) : null;
    },

    isPersonWithin: (id, set) => store.isPersonWithin(db, id, set),

    async findPersonIdByPhone(phone) {
      const number = normalisePhone(phone);
      return number ? store.findPersonIdByPhone(db, number) : null;
    },

    async updatePersonFields(executor, id, fields) {
      const [person] = await store.findPeopleByIds(executor, [id]);
      if (!person) throw new AppError('not_found', 'There is no person with that id.');
      const patch: PersonUpdate = {};
      if (fields.givenName !== undefined) patch.given_name = clean(fields.givenName);
      if (fields.familyName !== undefined) patch.family_name = clean(fields.familyName);
      if (fields.language !== undefined) patch.language = normaliseLanguage(fields.language);
      if (fields.customFields) {
        const custom = parseJsonObject(person.custom_fields);
        for (const [key, value] of Object.entries(fields.customFields)) {
          if (!key.trim()) continue;
          if (value === null) delete custom[key.trim()];
          else custom[key.trim()] = value;
        }
        patch.custom_fields = JSON.stringify(custom);
      }
      patch.updated_at = nowIso();
      await store.updatePerson(executor, id, patch);
      await service.addActivity(executor, id, 'updated', 'Updated through the API', {
        fields: Object.keys(fields),
      });
    },

    async tagPerson(executor, personId, tagName) {
      const now = nowIso();
      const ids = await store.ensureTags(executor, [tagName], now);
      await store.insertTaggings(executor, [
        { tag_id: ids.get(tagName)!, person_id: personId, created_at: now },
      ]);
      await store.updatePerson(executor, personId, { updated_at: now });
    },

    async removeTags(executor, personId, tagNames) {
      const removed = await store.deleteTaggingsByTagNames(executor, personId, tagNames);
      if (removed > 0) await store.updatePerson(executor, personId, { updated_at: nowIso() });
      return removed;
    },

    async untagPerson(executor, tagId, personId) {
      const removed = await store.deleteTagging(executor, tagId, personId);
      if (removed > 0) await store.updatePerson(executor, personId, { updated_at: nowIso() });
      return removed > 0;
    },

    async createNamed(kind, name) {
      const text = name.trim().replace(/\s+/g, ' ').slice(0, 200);
      if (!text) throw new AppError('invalid', 'A name is required.');
      const ids =
        kind === 'tags'
          ? await store.ensureTags(db, [text], nowIso())
          : await store.ensureLists(db, [text], nowIso());
      return service.getNamed(kind, ids.get(text)!);
    },

    async listNamed(kind, limit, offset) {
      const [total, rows] = [
        await store.countNamed(db, kind),
        await store.listNamedPage(db, kind, limit, offset),
      ];
      return { items: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at })), total };
    },

    async getNamed(kind, id) {
      const row = await store.findNamedById(db, kind, id);
      if (!row)
        throw new AppError('not_found', kind === 'tags' ? 'There is no such tag.' : 'There is no such list.');
      return { id: row.id, name: row.name, createdAt: row.created_at };
    },

    async listMembers(kind, id, limit, offset) {
      await service.getNamed(kind, id);
      const table = kind === 'tags' ? 'taggings' : 'list_members';
      const [total, rows] = [
        await store.countMembership(db, table, id),
        await store.listMembershipPage(db, table, id, limit, offset),
      ];
      return { members: rows.map((r) => ({ personId: r.person_id, createdAt: r.created_at })), total };
    },

    async listEmailsChangedTo(status, range, limit, offset) {
      const rows = await store.listEmailsChangedTo(db, status, range, limit, offset);
      return rows.map((r) => ({ personId: r.person_id, address: r.address, changedAt: r.updated_at }));
    },
  };
  service.imports = createImportService(ctx, service);
  return service;
}
