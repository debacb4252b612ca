import { Type, type Static } from '@sinclair/typebox';
import type { EventsService } from '../events/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import type { NamedRecord, PersonRecord } from '../people/index.ts';
import type { Petition, SignatureRow } from '../petitions/index.ts';
import { Links, type Urls } from './hal.ts';

/*
 * OSDI resources: the TypeBox schemas are both the OpenAPI description and the allowlist of
 * fields that leave the server (fast-json-stringify drops everything not declared here).
 */

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const DateText = Type.String({ description: 'ISO 8601 UTC' });

export const EmailAddress = Type.Object({
  address: Type.String(),
  primary: Type.Boolean(),
  status: Type.String({ description: 'subscribed, unsubscribed, bouncing or spam complaint' }),
});
export const PostalAddress = Type.Object({
  primary: Type.Boolean(),
  address_lines: Type.Array(Type.String()),
  locality: Nullable(Type.String()),
  region: Nullable(Type.String()),
  postal_code: Nullable(Type.String()),
  country: Nullable(Type.String()),
});
export const PhoneNumber = Type.Object({ number: Type.String(), primary: Type.Boolean() });
const CustomFields = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]));

export const Person = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  given_name: Nullable(Type.String()),
  family_name: Nullable(Type.String()),
  languages_spoken: Type.Array(Type.String()),
  email_addresses: Type.Array(EmailAddress),
  postal_addresses: Type.Array(PostalAddress),
  phone_numbers: Type.Array(PhoneNumber),
  custom_fields: CustomFields,
  _links: Links,
});
export type PersonBody = Static<typeof Person>;

export const Tag = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  name: Type.String(),
  _links: Links,
});

export const Tagging = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  _links: Links,
});

export const List = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  name: Type.String(),
  _links: Links,
});

export const Petition_ = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  title: Type.String(),
  summary: Type.String(),
  description: Type.String({ description: 'The petition text (Markdown).' }),
  browser_url: Type.String(),
  featured_image_url: Nullable(Type.String()),
  status: Type.String({ description: 'draft, open or closed' }),
  total_signatures: Type.Integer(),
  target: Type.Array(Type.Object({ name: Type.String(), title: Nullable(Type.String()) })),
  _links: Links,
});

export const Signature = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  comments: Nullable(Type.String()),
  confirmed: Type.Boolean(),
  referrer_data: Type.Object({ source: Nullable(Type.String()), referrer: Nullable(Type.String()) }),
  _links: Links,
});

export const Message = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  subject: Type.String(),
  from: Type.String(),
  reply_to: Nullable(Type.String()),
  status: Type.String({ description: 'draft, scheduled, sending, paused, sent or cancelled' }),
  sent_start_date: Nullable(Type.String()),
  _links: Links,
});

type MailingRow = Awaited<ReturnType<MailingsService['getMailing']>>;

export const identifier = (id: string) => [`undersign:${id}`];

const emailStatus: Record<string, string> = {
  subscribed: 'subscribed',
  unsubscribed: 'unsubscribed',
  bouncing: 'bouncing',
  complained: 'spam complaint',
};

export function personToOsdi(urls: Urls, p: PersonRecord): PersonBody {
  const custom: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(p.customFields)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      custom[key] = value;
  }
  const hasPrimaryEmail = p.emails.some((e) => e.primary);
  const hasPrimaryAddress = p.addresses.some((a) => a.primary);
  const hasPrimaryPhone = p.phones.some((ph) => ph.primary);
  return {
    identifiers: identifier(p.id),
    created_date: p.createdAt,
    modified_date: p.updatedAt,
    given_name: p.givenName,
    family_name: p.familyName,
    languages_spoken: p.language ? [p.language] : [],
    email_addresses: p.emails.map((e, i) => ({
      address: e.address,
      primary: e.primary || (!hasPrimaryEmail && i === 0),
      status: emailStatus[e.status] ?? e.status,
    })),
    postal_addresses: p.addresses.map((a, i) => ({
      primary: a.primary || (!hasPrimaryAddress && i === 0),
      address_lines: a.street ? [a.street] : [],
      locality: a.locality,
      region: a.region,
      postal_code: a.postalCode,
      country: a.country,
    })),
    phone_numbers: p.phones.map((ph, i) => ({
      number: ph.number,
      primary: ph.primary || (!hasPrimaryPhone && i === 0),
    })),
    custom_fields: custom,
    _links: { self: urls.to(`/people/${p.id}`) },
  };
}

export function tagToOsdi(urls: Urls, t: NamedRecord) {
  return {
    identifiers: identifier(t.id),
    created_date: t.createdAt,
    modified_date: t.createdAt,
    name: t.name,
    _links: { self: urls.to(`/tags/${t.id}`), 'osdi:taggings': urls.to(`/tags/${t.id}/taggings`) },
  };
}

export function taggingToOsdi(urls: Urls, tagId: string, m: { personId: string; createdAt: string }) {
  return {
    identifiers: identifier(`${tagId}:${m.personId}`),
    created_date: m.createdAt,
    modified_date: m.createdAt,
    _links: {
      self: urls.to(`/tags/${tagId}/taggings/${m.personId}`),
      'osdi:tag': urls.to(`/tags/${tagId}`),
      'osdi:person': urls.to(`/people/${m.personId}`),
    },
  };
}

export function listToOsdi(urls: Urls, l: NamedRecord) {
  return {
    identifiers: identifier(l.id),
    created_date: l.createdAt,
    modified_date: l.createdAt,
    name: l.name,
    _links: { self: urls.to(`/lists/${l.id}`), 'osdi:items': urls.to(`/lists/${l.id}/items`) },
  };
}

export function listItemToOsdi(urls: Urls, listId: string, m: { personId: string; createdAt: string }) {
  return {
    identifiers: identifier(`${listId}:${m.personId}`),
    created_date: m.createdAt,
    modified_date: m.createdAt,
    _links: {
      self: urls.to(`/lists/${listId}/items/${m.personId}`),
      'osdi:list': urls.to(`/lists/${listId}`),
      'osdi:person': urls.to(`/people/${m.personId}`),
    },
  };
}

export function petitionToOsdi(urls: Urls, publicUrl: string, p: Petition, totalSignatures: number) {
  const row = p.row;
  return {
    identifiers: identifier(row.id),
    created_date: row.created_at,
    modified_date: row.updated_at,
    title: row.title,
    summary: row.summary,
    description: row.body,
    browser_url: `${publicUrl}/petitions/${row.slug}`,
    featured_image_url: row.image_url,
    status: row.status,
    total_signatures: totalSignatures,
    target: p.targets.map((t) => ({ name: t.name, title: t.title })),
    _links: {
      self: urls.to(`/petitions/${row.id}`),
      'osdi:signatures': urls.to(`/petitions/${row.id}/signatures`),
      'osdi:record_signature_helper': urls.to(`/petitions/${row.id}/signatures`),
    },
  };
}

export function signatureToOsdi(urls: Urls, s: SignatureRow) {
  return {
    identifiers: identifier(s.id),
    created_date: s.created_at,
    modified_date: s.confirmed_at ?? s.created_at,
    comments: s.comment,
    confirmed: s.confirmed_at !== null,
    referrer_data: { source: s.source, referrer: s.referrer_code },
    _links: {
      self: urls.to(`/petitions/${s.petition_id}/signatures/${s.id}`),
      'osdi:petition': urls.to(`/petitions/${s.petition_id}`),
      'osdi:person': urls.to(`/people/${s.person_id}`),
    },
  };
}

export function messageToOsdi(urls: Urls, m: MailingRow) {
  return {
    identifiers: identifier(m.id),
    created_date: m.created_at,
    modified_date: m.updated_at,
    subject: m.subject,
    from: m.from_name ? `${m.from_name} <${m.from_address}>` : m.from_address,
    reply_to: m.reply_to,
    status: m.status,
    sent_start_date: m.started_at,
    _links: { self: urls.to(`/messages/${m.id}`) },
  };
}

// ---- request bodies ------------------------------------------------------------------------------

const ShortText = (max: number) => Type.String({ maxLength: max });

export const PersonInputBody = Type.Object(
  {
    given_name: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
    family_name: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
    languages_spoken: Type.Optional(Type.Array(ShortText(20), { maxItems: 5 })),
    email_addresses: Type.Optional(
      Type.Array(
        Type.Object({
          address: ShortText(254),
          primary: Type.Optional(Type.Boolean()),
          status: Type.Optional(ShortText(40)),
        }),
        { maxItems: 10 },
      ),
    ),
    postal_addresses: Type.Optional(
      Type.Array(
        Type.Object({
          primary: Type.Optional(Type.Boolean()),
          address_lines: Type.Optional(Type.Array(ShortText(200), { maxItems: 3 })),
          locality: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
          region: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
          postal_code: Type.Optional(Type.Union([ShortText(20), Type.Null()])),
          country: Type.Optional(Type.Union([ShortText(60), Type.Null()])),
        }),
        { maxItems: 5 },
      ),
    ),
    phone_numbers: Type.Optional(
      Type.Array(Type.Object({ number: ShortText(40), primary: Type.Optional(Type.Boolean()) }), {
        maxItems: 5,
      }),
    ),
    custom_fields: Type.Optional(
      Type.Record(ShortText(100), Type.Union([ShortText(1000), Type.Number(), Type.Boolean(), Type.Null()])),
    ),
  },
  { additionalProperties: true },
);
export type PersonInputBody = Static<typeof PersonInputBody>;

export const SignupHelperBody = Type.Object(
  {
    person: PersonInputBody,
    add_tags: Type.Optional(Type.Array(ShortText(200), { maxItems: 50 })),
    remove_tags: Type.Optional(Type.Array(ShortText(200), { maxItems: 50 })),
  },
  { additionalProperties: true },
);
export type SignupHelperBody = Static<typeof SignupHelperBody>;

const ReferrerData = Type.Object(
  {
    source: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
    referrer: Type.Optional(Type.Union([ShortText(100), Type.Null()])),
    website: Type.Optional(Type.Union([ShortText(500), Type.Null()])),
  },
  { additionalProperties: true },
);

export const SignatureHelperBody = Type.Object(
  {
    person: PersonInputBody,
    comments: Type.Optional(Type.Union([ShortText(2000), Type.Null()])),
    referrer_data: Type.Optional(ReferrerData),
    'action_network:referrer_data': Type.Optional(ReferrerData),
    add_tags: Type.Optional(Type.Array(ShortText(200), { maxItems: 50 })),
  },
  { additionalProperties: true },
);
export type SignatureHelperBody = Static<typeof SignatureHelperBody>;

// ---- events and attendances ----------------------------------------------------------------------

type EventRow = Awaited<ReturnType<EventsService['getEvent']>>;
type RsvpRow = Awaited<ReturnType<EventsService['listRsvps']>>[number];

export const Event_ = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  title: Type.String(),
  description: Type.String(),
  start_date: DateText,
  end_date: DateText,
  status: Type.String({ description: 'confirmed or cancelled' }),
  browser_url: Type.String(),
  capacity: Type.Union([Type.Integer(), Type.Null()]),
  location: Type.Object({ venue: Nullable(Type.String()) }),
  online_url: Nullable(Type.String()),
  total_accepted: Type.Integer(),
  _links: Links,
});

export const Attendance = Type.Object({
  identifiers: Type.Array(Type.String()),
  created_date: DateText,
  modified_date: DateText,
  status: Type.String({ description: 'accepted, tentative (waitlist) or declined (cancelled)' }),
  attended: Type.Boolean(),
  _links: Links,
});

export const AttendanceHelperBody = Type.Object(
  {
    person: PersonInputBody,
    add_tags: Type.Optional(Type.Array(ShortText(200), { maxItems: 50 })),
  },
  { additionalProperties: true },
);
export type AttendanceHelperBody = Static<typeof AttendanceHelperBody>;

export function eventToOsdi(urls: Urls, browserUrl: string, e: EventRow, totalAccepted: number) {
  return {
    identifiers: identifier(e.id),
    created_date: e.created_at,
    modified_date: e.updated_at,
    title: e.title,
    description: e.description,
    start_date: e.starts_at,
    end_date: e.ends_at,
    status: e.status === 'cancelled' ? 'cancelled' : 'confirmed',
    browser_url: browserUrl,
    capacity: e.capacity,
    location: { venue: e.place },
    online_url: e.online_url,
    total_accepted: totalAccepted,
    _links: {
      self: urls.to(`/events/${e.id}`),
      'osdi:attendances': urls.to(`/events/${e.id}/attendances`),
      'osdi:record_attendance_helper': urls.to(`/events/${e.id}/attendances`),
    },
  };
}

const attendanceStatus: Record<string, string> = {
  going: 'accepted',
  waitlist: 'tentative',
  cancelled: 'declined',
};

export function attendanceToOsdi(urls: Urls, r: RsvpRow) {
  return {
    identifiers: identifier(r.id),
    created_date: r.created_at,
    modified_date: r.updated_at,
    status: attendanceStatus[r.status] ?? r.status,
    attended: r.checked_in_at !== null,
    _links: {
      self: urls.to(`/events/${r.event_id}/attendances/${r.id}`),
      'osdi:event': urls.to(`/events/${r.event_id}`),
      'osdi:person': urls.to(`/people/${r.person_id}`),
    },
  };
}
