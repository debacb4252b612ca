import type {
  ActivityTable,
  AddressesTable,
  AddressRow,
  ConsentsTable,
  EmailsTable,
  Executor,
  ListMembersTable,
  PeopleTable,
  PersonRow,
  PersonUpdate,
  PhonesTable,
  TaggingsTable,
} from '../db/index.ts';
import { isUniqueViolation } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import {
  clean,
  cleanNames,
  normaliseEmail,
  normaliseLanguage,
  normalisePhone,
  normalisePostalCode,
} from './normalize.ts';
import * as store from './store.ts';
import type { FullRow } from './store.ts';
import type { EmailStatus, MergeResult, PersonInput } from './types.ts';

/*
 * The one merge-by-email rule used by every surface (forms, import, API):
 * - an unknown email makes a new person;
 * - a known email merges into its person: blank fields are filled, nothing is erased or overwritten,
 *   tags and lists are appended, custom fields are added key by key (existing non-blank values kept),
 *   a new phone number is appended, the address's blank parts are filled;
 * - subscription: `subscribe: true` subscribes (unless the address bounced or complained) and
 *   records a consent; otherwise a new address starts unsubscribed and a known one keeps its status;
 * - each input appends one activity row ('created' or 'merged', saying what changed).
 */

type CustomValue = string | number | boolean;

interface PreparedInput {
  index: number;
  email: string;
  givenName: string | null;
  familyName: string | null;
  language: string | null;
  phone: string | null;
  address: {
    street: string | null;
    locality: string | null;
    region: string | null;
    postal_code: string | null;
    country: string | null;
  } | null;
  tags: string[];
  lists: string[];
  customFields: Record<string, CustomValue>;
  source: string | null;
  subscribe: boolean;
  consent: { what: string; source: string | null; ip: string | null } | null;
}

function prepare(input: PersonInput, index: number): PreparedInput {
  let email: string;
  try {
    email = normaliseEmail(input.email);
  } catch (error) {
    if (error instanceof AppError) throw new AppError('invalid', error.message, { index });
    throw error;
  }
  const a = input.address;
  const address = a
    ? {
        street: clean(a.street),
        locality: clean(a.locality),
        region: clean(a.region),
        postal_code: normalisePostalCode(a.postalCode),
        country: clean(a.country),
      }
    : null;
  const hasAddress = address !== null && Object.values(address).some((v) => v !== null);
  const customFields: Record<string, CustomValue> = {};
  for (const [key, value] of Object.entries(input.customFields ?? {})) {
    const name = key.trim();
    if (!name || value === null || value === undefined) continue;
    if (typeof value === 'string') {
      const text = value.trim();
      if (text) customFields[name] = text;
    } else customFields[name] = value;
  }
  return {
    index,
    email,
    givenName: clean(input.givenName),
    familyName: clean(input.familyName),
    language: normaliseLanguage(input.language),
    phone: normalisePhone(input.phone),
    address: hasAddress ? address : null,
    tags: cleanNames(input.tags),
    lists: cleanNames(input.lists),
    customFields,
    source: clean(input.source),
    subscribe: input.subscribe === true,
    consent: input.consent ?? null,
  };
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || value === '';
}

function parseCustom(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** What one round of a merge writes; filled by `planNew`/`planMerge`, written by `write`. */
interface Writes {
  people: FullRow<PeopleTable>[];
  emails: FullRow<EmailsTable>[];
  addresses: FullRow<AddressesTable>[];
  phones: FullRow<PhonesTable>[];
  taggings: FullRow<TaggingsTable>[];
  listMembers: FullRow<ListMembersTable>[];
  consents: FullRow<ConsentsTable>[];
  activity: FullRow<ActivityTable>[];
}

const fieldLabels = {
  given_name: 'given name',
  family_name: 'family name',
  language: 'language',
  source: 'source',
};

/**
 * Merges a batch of inputs by email inside `executor`'s transaction, or a transaction of its own
 * when given the database. Returns one result per input, in input order.
 */
export async function mergePeople(
  executor: Executor,
  inputs: readonly PersonInput[],
): Promise<MergeResult[]> {
  if (inputs.length === 0) return [];
  const prepared = inputs.map(prepare);
  if (executor.isTransaction) return mergeWithRetry(executor, prepared);
  return executor.transaction().execute((trx) => mergeWithRetry(trx, prepared));
}

async function mergeWithRetry(trx: Executor, prepared: PreparedInput[]): Promise<MergeResult[]> {
  const name = 'people_merge';
  for (let attempt = 1; ; attempt++) {
    await store.savepoint(trx, name);
    try {
      const results = await mergeInTransaction(trx, prepared);
      await store.releaseSavepoint(trx, name);
      return results;
    } catch (error) {
      await store.rollbackToSavepoint(trx, name);
      await store.releaseSavepoint(trx, name);
      // Another transaction inserted one of these emails after our lookup: look again and merge.
      if (!isUniqueViolation(error) || attempt >= 5) throw error;
    }
  }
}

async function mergeInTransaction(trx: Executor, prepared: PreparedInput[]): Promise<MergeResult[]> {
  // The same email twice in one batch: the second occurrence goes in a later round, where it finds
  // the person the first one made and merges into it, exactly as a later call would.
  const rounds: PreparedInput[][] = [];
  const seen = new Map<string, number>();
  for (const item of prepared) {
    const round = seen.get(item.email) ?? 0;
    seen.set(item.email, round + 1);
    (rounds[round] ??= []).push(item);
  }
  const now = nowIso();
  const tagIds = new Map<string, string>();
  const listIds = new Map<string, string>();
  const results: MergeResult[] = new Array<MergeResult>(prepared.length);
  for (const round of rounds) {
    await ensureNames(trx, round, now, tagIds, listIds);
    const existing = await store.findEmailsByAddresses(
      trx,
      round.map((item) => item.email),
    );
    const byAddress = new Map(existing.map((row) => [row.address, row]));
    const writes: Writes = {
      people: [],
      emails: [],
      addresses: [],
      phones: [],
      taggings: [],
      listMembers: [],
      consents: [],
      activity: [],
    };
    const fresh = round.filter((item) => !byAddress.has(item.email));
    // Insert in address order so concurrent batches take unique-index locks in the same order.
    fresh.sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    for (const item of fresh) {
      results[item.index] = planNew(item, now, tagIds, listIds, writes);
    }
    const known = round.filter((item) => byAddress.has(item.email));
    if (known.length) {
      const merged = await planMerges(trx, known, byAddress, now, tagIds, listIds, writes);
      for (const result of merged) results[result.index] = result.result;
    }
    await write(trx, writes);
  }
  return results;
}

async function ensureNames(
  trx: Executor,
  round: PreparedInput[],
  now: string,
  tagIds: Map<string, string>,
  listIds: Map<string, string>,
): Promise<void> {
  const tags = new Set<string>();
  const lists = new Set<string>();
  for (const item of round) {
    for (const tag of item.tags) if (!tagIds.has(tag)) tags.add(tag);
    for (const list of item.lists) if (!listIds.has(list)) lists.add(list);
  }
  if (tags.size) for (const [name, id] of await store.ensureTags(trx, [...tags], now)) tagIds.set(name, id);
  if (lists.size)
    for (const [name, id] of await store.ensureLists(trx, [...lists], now)) listIds.set(name, id);
}

function consentRow(item: PreparedInput, personId: string, emailId: string, now: string) {
  if (!item.subscribe && !item.consent) return null;
  return {
    id: newId(),
    person_id: personId,
    email_id: emailId,
    what: item.consent?.what ?? 'email',
    granted: 1,
    source: item.consent?.source ?? item.source,
    ip: item.consent?.ip ?? null,
    created_at: now,
  };
}

function planNew(
  item: PreparedInput,
  now: string,
  tagIds: Map<string, string>,
  listIds: Map<string, string>,
  writes: Writes,
): MergeResult {
  const personId = newId();
  const emailId = newId();
  writes.people.push({
    id: personId,
    given_name: item.givenName,
    family_name: item.familyName,
    language: item.language,
    source: item.source,
    custom_fields: JSON.stringify(item.customFields),
    created_at: now,
    updated_at: now,
  });
  const status: EmailStatus = item.subscribe ? 'subscribed' : 'unsubscribed';
  writes.emails.push({
    id: emailId,
    person_id: personId,
    address: item.email,
    status,
    is_primary: 1,
    created_at: now,
    updated_at: now,
  });
  if (item.address) {
    writes.addresses.push({
      id: newId(),
      person_id: personId,
      ...item.address,
      district_ids: null,
      is_primary: 1,
      created_at: now,
      updated_at: now,
    });
  }
  if (item.phone) {
    writes.phones.push({
      id: newId(),
      person_id: personId,
      number: item.phone,
      is_primary: 1,
      created_at: now,
    });
  }
  for (const tag of item.tags)
    writes.taggings.push({ tag_id: tagIds.get(tag)!, person_id: personId, created_at: now });
  for (const list of item.lists) {
    writes.listMembers.push({ list_id: listIds.get(list)!, person_id: personId, created_at: now });
  }
  const consent = consentRow(item, personId, emailId, now);
  if (consent) writes.consents.push(consent);
  writes.activity.push({
    id: newId(),
    person_id: personId,
    kind: 'created',
    summary: item.source ? `Added from ${item.source}` : 'Added',
    details: null,
    created_at: now,
  });
  return { personId, emailId, created: true };
}

interface PersonState {
  person: PersonRow;
  custom: Record<string, unknown>;
  address: AddressRow | null;
  phones: Set<string>;
  tagIds: Set<string>;
  listIds: Set<string>;
  hasPhone: boolean;
}

async function planMerges(
  trx: Executor,
  known: PreparedInput[],
  byAddress: Map<string, { id: string; person_id: string; status: string }>,
  now: string,
  tagIds: Map<string, string>,
  listIds: Map<string, string>,
  writes: Writes,
): Promise<{ index: number; result: MergeResult }[]> {
  const personIds = [...new Set(known.map((item) => byAddress.get(item.email)!.person_id))];
  const [people, addresses, phones, taggings, memberships] = [
    await store.findPeopleByIds(trx, personIds),
    await store.findAddressesByPersonIds(trx, personIds),
    await store.findPhonesByPersonIds(trx, personIds),
    await store.findTaggingsByPersonIds(trx, personIds),
    await store.findListMembershipsByPersonIds(trx, personIds),
  ];
  const states = new Map<string, PersonState>();
  for (const person of people) {
    states.set(person.id, {
      person,
      custom: parseCustom(person.custom_fields),
      address: null,
      phones: new Set(),
      tagIds: new Set(),
      listIds: new Set(),
      hasPhone: false,
    });
  }
  for (const address of addresses) {
    const state = states.get(address.person_id);
    if (state && !state.address) state.address = address;
  }
  for (const phone of phones) {
    const state = states.get(phone.person_id);
    if (state) {
      state.phones.add(phone.number);
      state.hasPhone = true;
    }
  }
  for (const row of taggings) states.get(row.person_id)?.tagIds.add(row.tag_id);
  for (const row of memberships) states.get(row.person_id)?.listIds.add(row.list_id);

  const out: { index: number; result: MergeResult }[] = [];
  for (const item of known) {
    const email = byAddress.get(item.email)!;
    const state = states.get(email.person_id)!;
    const changes: string[] = [];

    // Person fields: fill blanks only.
    const patch: PersonUpdate = {};
    const fills: [keyof typeof fieldLabels, string | null][] = [
      ['given_name', item.givenName],
      ['family_name', item.familyName],
      ['language', item.language],
      ['source', item.source],
    ];
    const filled: string[] = [];
    for (const [column, value] of fills) {
      if (value !== null && isBlank(state.person[column])) {
        patch[column] = value;
        state.person[column] = value;
        if (column !== 'source') filled.push(fieldLabels[column]);
      }
    }
    const addedKeys: string[] = [];
    for (const [key, value] of Object.entries(item.customFields)) {
      if (isBlank(state.custom[key])) {
        state.custom[key] = value;
        addedKeys.push(key);
      }
    }
    if (addedKeys.length) {
      patch.custom_fields = JSON.stringify(state.custom);
      state.person.custom_fields = patch.custom_fields;
    }

    // Address: a first one, or the blank parts of the existing one.
    if (item.address) {
      if (!state.address) {
        const row = {
          id: newId(),
          person_id: state.person.id,
          ...item.address,
          district_ids: null,
          is_primary: 1,
          created_at: now,
          updated_at: now,
        };
        writes.addresses.push(row);
        state.address = row;
        filled.push('address');
      } else {
        const current = state.address;
        const addressPatch: Partial<
          Pick<AddressRow, 'street' | 'locality' | 'region' | 'postal_code' | 'country'>
        > = {};
        for (const key of ['street', 'locality', 'region', 'postal_code', 'country'] as const) {
          const value = item.address[key];
          if (value !== null && isBlank(current[key])) {
            addressPatch[key] = value;
            current[key] = value;
          }
        }
        if (Object.keys(addressPatch).length) {
          // A row planned in this very round is not in the database yet: its object was updated above.
          if (!writes.addresses.some((row) => row.id === current.id)) {
            await store.updateAddress(trx, current.id, { ...addressPatch, updated_at: now });
          }
          filled.push('address');
        }
      }
    }

    if (item.phone && !state.phones.has(item.phone)) {
      writes.phones.push({
        id: newId(),
        person_id: state.person.id,
        number: item.phone,
        is_primary: state.hasPhone ? 0 : 1,
        created_at: now,
      });
      state.phones.add(item.phone);
      state.hasPhone = true;
      filled.push('phone');
    }
    if (filled.length) changes.push(`filled ${filled.join(', ')}`);
    if (addedKeys.length) changes.push(`added fields ${addedKeys.join(', ')}`);

    const newTags = item.tags.filter((tag) => !state.tagIds.has(tagIds.get(tag)!));
    for (const tag of newTags) {
      const tagId = tagIds.get(tag)!;
      state.tagIds.add(tagId);
      writes.taggings.push({ tag_id: tagId, person_id: state.person.id, created_at: now });
    }
    if (newTags.length) changes.push(`added tags ${newTags.join(', ')}`);
    const newLists = item.lists.filter((list) => !state.listIds.has(listIds.get(list)!));
    for (const list of newLists) {
      const listId = listIds.get(list)!;
      state.listIds.add(listId);
      writes.listMembers.push({ list_id: listId, person_id: state.person.id, created_at: now });
    }
    if (newLists.length) changes.push(`added to lists ${newLists.join(', ')}`);

    if (item.subscribe && email.status === 'unsubscribed') {
      await store.updateEmailStatus(trx, email.id, 'subscribed', now);
      email.status = 'subscribed';
      changes.push(`subscribed ${item.email}`);
    }
    const consent = consentRow(item, state.person.id, email.id, now);
    if (consent) writes.consents.push(consent);

    if (Object.keys(patch).length) {
      patch.updated_at = now;
      await store.updatePerson(trx, state.person.id, patch);
    }
    const from = item.source ? ` from ${item.source}` : '';
    writes.activity.push({
      id: newId(),
      person_id: state.person.id,
      kind: 'merged',
      summary: changes.length
        ? `Matched ${item.email}${from}: ${changes.join('; ')}`
        : `Matched ${item.email}${from}: nothing new`,
      details: JSON.stringify({ source: item.source, email: item.email, changes }),
      created_at: now,
    });
    out.push({ index: item.index, result: { personId: state.person.id, emailId: email.id, created: false } });
  }
  return out;
}

async function write(trx: Executor, writes: Writes): Promise<void> {
  if (writes.people.length) await store.insertPeople(trx, writes.people);
  if (writes.emails.length) await store.insertEmails(trx, writes.emails);
  if (writes.addresses.length) await store.insertAddresses(trx, writes.addresses);
  if (writes.phones.length) await store.insertPhones(trx, writes.phones);
  if (writes.taggings.length) await store.insertTaggings(trx, writes.taggings);
  if (writes.listMembers.length) await store.insertListMembers(trx, writes.listMembers);
  if (writes.consents.length) await store.insertConsents(trx, writes.consents);
  if (writes.activity.length) await store.insertActivities(trx, writes.activity);
}
