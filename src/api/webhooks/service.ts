import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { AuthService } from '../../auth/index.ts';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../errors.ts';
import { newId, nowIso } from '../../ids.ts';
import { enqueueJob } from '../../jobs/index.ts';
import type { MailingsService } from '../../mail/mailings/index.ts';
import type { Executor } from '../../db/index.ts';
import { eraseAddressesIn, type PeopleService } from '../../people/index.ts';
import type { PetitionService, SignatureRow } from '../../petitions/index.ts';
import { Urls } from '../hal.ts';
import { messageToOsdi, personToOsdi, signatureToOsdi } from '../osdi.ts';
import * as store from '../store.ts';
import type { WebhookDeliveryRow, WebhookRow } from '../tables.ts';
import {
  assertDeliverableAddress,
  pinnedLookup,
  resolveDeliverableAddresses,
  systemResolver,
  type ResolvedAddress,
  type Resolver,
} from './address.ts';

/*
 * Outgoing webhooks. Events are found by a change feed that reads, through the owning services,
 * what changed in a settled time window [cursor, now - lag): committed rows only, so a rolled-back
 * signature never produces an event. Rows are stamped before their transaction commits, so each
 * window is read more than once (see `passes`): a change that became visible after the first read
 * is found by a later one. Each event becomes one delivery row per subscribed webhook, unique per
 * (webhook, event key), so reading a change again delivers nothing twice; its send job is enqueued
 * in that same transaction. A webhook gets only events stamped after it was registered.
 */

export const webhookEvents = [
  'person.created',
  'person.updated',
  'person.unsubscribed',
  'signature.created',
  'signature.confirmed',
  'mailing.sent',
] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export const SIGNATURE_HEADER = 'undersign-signature';
const DELIVER_QUEUE = 'api.webhook-deliver';
/** The first read of a change waits this long: most transactions have committed by then. */
const SETTLE_MS = 5_000;
/**
 * Every window of changes is read at these lags behind now (cursor names get the suffix). A change
 * whose transaction committed up to the last lag after its stamp is still delivered, at most that
 * late; each row is read once per pass.
 */
const passes = [
  { suffix: '', lagMs: SETTLE_MS },
  { suffix: '+1m', lagMs: 60_000 },
  { suffix: '+15m', lagMs: 15 * 60_000 },
] as const;
/** Event keys looked up at once when skipping events already logged. */
const KEY_BATCH = 200;
const MAX_ATTEMPTS = 10;
const DELIVERY_TIMEOUT_MS = 10_000;
const MAX_DELAY_MS = 6 * 3600_000;
const PAGE = 500;
const sourceNames = ['people', 'unsubscribes', 'signatures', 'mailings'] as const;
const eventsOfSource: Record<(typeof sourceNames)[number], readonly WebhookEvent[]> = {
  people: ['person.created', 'person.updated'],
  unsubscribes: ['person.unsubscribed'],
  signatures: ['signature.created', 'signature.confirmed'],
  mailings: ['mailing.sent'],
};

interface FoundEvent {
  event: WebhookEvent;
  key: string;
  at: string;
  /** The OSDI resource sent, built only when a delivery is made (a later pass mostly skips). */
  data: () => unknown;
}

/** Reads a source's changes in [since, until), handing them over a page at a time. */
type SourceReader = (
  since: string,
  until: string,
  onPage: (events: FoundEvent[]) => Promise<void>,
) => Promise<void>;

export interface WebhookDeps {
  auth: AuthService;
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the webhook's secret. */
export function signPayload(secret: string, body: string, timestamp: number): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * POSTs the body to the URL, connecting only to the given (checked) addresses; the Host header and
 * the TLS server name stay the URL's host. Redirects are not followed. Resolves to the status.
 */
function postPinned(
  url: URL,
  addresses: readonly ResolvedAddress[],
  message: { headers: Record<string, string>; body: string; timeoutMs: number },
): Promise<number> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: pinnedLookup(addresses),
        ...(url.protocol === 'https:' && !isIP(host) ? { servername: host } : {}),
        headers: { ...message.headers, 'content-length': String(Buffer.byteLength(message.body)) },
        signal: AbortSignal.timeout(message.timeoutMs),
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        response.resume();
      },
    );
    outgoing.on('error', reject);
    outgoing.end(message.body);
  });
}

function parseEvents(text: string): WebhookEvent[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.filter((e): e is WebhookEvent => webhookEvents.includes(e));
  } catch {
    // an unreadable list subscribes to nothing
  }
  return [];
}

/** OSDI fields that carry a person's data, and what they become in an erased delivery payload. */
const erasedFields: Readonly<Record<string, unknown>> = {
  given_name: null,
  family_name: null,
  languages_spoken: [],
  email_addresses: [],
  postal_addresses: [],
  phone_numbers: [],
  custom_fields: {},
  comments: null,
};

/** A delivery payload without a person's data: identifiers, links, event and times stay. */
function erasePayload(payload: string, addresses: readonly string[], placeholder: string): string {
  const blank = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(blank);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, v]) => [
        key,
        Object.hasOwn(erasedFields, key) ? erasedFields[key] : blank(v),
      ]),
    );
  };
  let text = payload;
  try {
    text = JSON.stringify(blank(JSON.parse(payload)));
  } catch {
    // not JSON (never written so): the addresses are still replaced below
  }
  // What else quotes an address (person.unsubscribed's email_address) gets the placeholder.
  return eraseAddressesIn(text, addresses, placeholder);
}

export function createWebhookService(ctx: AppContext, deps: WebhookDeps) {
  const { db, config, log } = ctx;
  const urls = new Urls(config.publicUrl);
  let timer: NodeJS.Timeout | undefined;
  let scanning: Promise<number> | null = null;
  let resolveHost: Resolver = systemResolver;

  /** Replaces the name resolver used to check and reach webhook addresses (tests). */
  function useResolver(resolver: Resolver): void {
    resolveHost = resolver;
  }

  async function createWebhook(input: {
    url: string;
    events: readonly string[];
    createdBy: string | null;
  }): Promise<WebhookRow> {
    let url: URL;
    try {
      url = new URL(input.url.trim());
    } catch {
      throw new AppError('invalid', 'The address must be a full URL starting with https:// or http://.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AppError('invalid', 'The address must start with https:// or http://.');
    }
    await assertDeliverableAddress(url, ctx.config.webhookAllowPrivate, resolveHost);
    const events = webhookEvents.filter((e) => input.events.includes(e));
    if (events.length === 0) throw new AppError('invalid', 'Choose at least one event.');
    // The first subscriber to a source starts its change feed now: history is not replayed to it.
    // (Events stamped before the webhook's created_at are not sent to it anyway; this spares reading them.)
    const active = (await store.listActiveWebhooks(db)).flatMap((h) => parseEvents(h.events));
    for (const source of sourceNames) {
      const wanted = eventsOfSource[source];
      if (!events.some((e) => wanted.includes(e)) || active.some((e) => wanted.includes(e))) continue;
      for (const pass of passes) {
        const start = new Date(Date.now() - pass.lagMs).toISOString();
        const cursor = await store.findCursor(db, source + pass.suffix);
        if (!cursor || cursor < start) await store.saveCursor(db, source + pass.suffix, start, nowIso());
      }
    }
    const row = {
      id: newId(),
      url: url.toString(),
      events: JSON.stringify(events),
      secret: `whsec_${randomBytes(24).toString('base64url')}`,
      created_by: input.createdBy,
      created_at: nowIso(),
      disabled_at: null,
    };
    await store.insertWebhook(db, row);
    await deps.auth.audit({
      userId: input.createdBy,
      action: 'webhook.create',
      subjectType: 'webhook',
      subjectId: row.id,
      details: { url: row.url, events },
    });
    return row;
  }

  async function getWebhook(id: string) {
    const row = await store.findWebhook(db, id);
    if (!row) throw new AppError('not_found', 'There is no such webhook.');
    return { ...row, eventList: parseEvents(row.events) };
  }

  async function listWebhooks() {
    return (await store.listWebhooks(db)).map((row) => ({ ...row, eventList: parseEvents(row.events) }));
  }

  async function disableWebhook(id: string, userId: string | null): Promise<void> {
    if (!(await store.disableWebhook(db, id, nowIso()))) {
      throw new AppError('not_found', 'There is no active webhook with that id.');
    }
    await deps.auth.audit({ userId, action: 'webhook.disable', subjectType: 'webhook', subjectId: id });
  }

  const listDeliveries = (webhookId: string, limit = 100): Promise<WebhookDeliveryRow[]> =>
    store.listDeliveries(db, webhookId, limit);

  /* ---------- erasure ---------- */

  /** What a person's identifier, link or addresses look like in a delivery (lower-case, for a scan). */
  const needlesOf = (personId: string, addresses: readonly string[]) => [
    `undersign:${personId}`.toLowerCase(),
    `/people/${personId}`.toLowerCase(),
    ...addresses,
  ];

  /** Whether this delivery's payload or key names the person (the scan also matches near misses). */
  function concerns(row: WebhookDeliveryRow, needles: readonly string[]): boolean {
    const text = `${row.payload}\n${row.event_key}`.toLowerCase();
    return needles.some((needle) => text.includes(needle));
  }

  /**
   * Erasure: deliveries that concern the person (their identifier, a link to them, or one of their
   * addresses) keep their rows, status and times, without the person's data in the payload; an
   * address in an event key (person.unsubscribed) becomes `erased:<delivery id>` (still unique).
   * Pending deliveries are blanked the same way and still sent: the receiver learns that a person
   * or signature changed (its counts stay right) and never gets the erased data. Returns how many
   * deliveries changed.
   */
  async function eraseFromDeliveries(
    executor: Executor,
    person: { id: string; addresses: readonly string[]; placeholder: string },
  ): Promise<number> {
    const needles = needlesOf(person.id, person.addresses);
    let changed = 0;
    for (const row of await store.listDeliveriesMentioning(executor, needles)) {
      if (!concerns(row, needles)) continue;
      await store.updateDeliveryPayload(executor, row.id, {
        payload: erasePayload(row.payload, person.addresses, person.placeholder),
        event_key: eraseAddressesIn(row.event_key, person.addresses, `erased:${row.id}`),
      });
      changed++;
    }
    return changed;
  }

  /** The deliveries that concern a person, and where they were (or will be) sent: data export. */
  async function deliveriesConcerning(personId: string, addresses: readonly string[]) {
    const needles = needlesOf(personId, addresses);
    const rows = (await store.listDeliveriesMentioning(db, needles)).filter((row) => concerns(row, needles));
    const hooks = new Map((await store.listWebhooks(db)).map((hook) => [hook.id, hook.url]));
    return rows.map((row) => {
      const url = hooks.get(row.webhook_id);
      return {
        event: row.event,
        status: row.status,
        // The receiver's origin only: a webhook path often holds a secret token.
        sentTo: url ? new URL(url).origin : null,
        createdAt: row.created_at,
        deliveredAt: row.delivered_at,
        payload: JSON.parse(row.payload) as unknown,
      };
    });
  }

  /* ---------- the change feed ---------- */

  const peopleEvents: SourceReader = async (since, until, onPage) => {
    for (let offset = 0; ; offset += PAGE) {
      const { people } = await deps.people.listPeopleChanged({ since, until }, PAGE, offset);
      await onPage(
        people.map((person) => {
          // Created in this window: one created event (a later change before the read is part of it).
          // Otherwise an update, keyed by its time, so every pass names the same change the same way.
          const created = person.createdAt >= since && person.createdAt < until;
          return {
            event: created ? 'person.created' : 'person.updated',
            key: created ? `person.created:${person.id}` : `person.updated:${person.id}:${person.updatedAt}`,
            at: created ? person.createdAt : person.updatedAt,
            data: () => personToOsdi(urls, person),
          };
        }),
      );
      if (people.length < PAGE) return;
    }
  };

  const unsubscribeEvents: SourceReader = async (since, until, onPage) => {
    for (let offset = 0; ; offset += PAGE) {
      const rows = await deps.people.listEmailsChangedTo('unsubscribed', { since, until }, PAGE, offset);
      const records = new Map(
        (await deps.people.describePeople([...new Set(rows.map((r) => r.personId))])).map((p) => [p.id, p]),
      );
      await onPage(
        rows.flatMap((r) => {
          const person = records.get(r.personId);
          if (!person) return [];
          return [
            {
              event: 'person.unsubscribed' as const,
              key: `person.unsubscribed:${r.address}:${r.changedAt}`,
              at: r.changedAt,
              data: () => ({ email_address: r.address, person: personToOsdi(urls, person) }),
            },
          ];
        }),
      );
      if (rows.length < PAGE) return;
    }
  };

  const signatureEvents: SourceReader = async (since, until, onPage) => {
    const inWindow = (at: string | null): at is string => at !== null && at >= since && at < until;
    for (let offset = 0; ; offset += PAGE) {
      const { signatures } = await deps.petitions.listSignaturesChanged(null, { since, until }, PAGE, offset);
      const found: FoundEvent[] = [];
      for (const s of signatures as SignatureRow[]) {
        const data = () => signatureToOsdi(urls, s);
        if (inWindow(s.created_at)) {
          found.push({
            event: 'signature.created',
            key: `signature.created:${s.id}`,
            at: s.created_at,
            data,
          });
        }
        if (inWindow(s.confirmed_at)) {
          found.push({
            event: 'signature.confirmed',
            key: `signature.confirmed:${s.id}`,
            at: s.confirmed_at,
            data,
          });
        }
      }
      await onPage(found);
      if (signatures.length < PAGE) return;
    }
  };

  const mailingEvents: SourceReader = async (since, until, onPage) => {
    for (let offset = 0; ; offset += PAGE) {
      const mailings = await deps.mailings.listMailingsSentBetween({ since, until }, PAGE, offset);
      await onPage(
        mailings.map((m) => ({
          event: 'mailing.sent' as const,
          key: `mailing.sent:${m.id}`,
          at: m.finished_at!,
          data: () => messageToOsdi(urls, m),
        })),
      );
      if (mailings.length < PAGE) return;
    }
  };

  const sources: Record<(typeof sourceNames)[number], SourceReader> = {
    people: peopleEvents,
    unsubscribes: unsubscribeEvents,
    signatures: signatureEvents,
    mailings: mailingEvents,
  };

  type ActiveHook = WebhookRow & { eventList: WebhookEvent[] };

  /**
   * Logs one delivery per (event, subscribed webhook) not logged before and enqueues their send
   * jobs, in one transaction per page of events. Returns how many deliveries were made.
   */
  async function logDeliveries(events: readonly FoundEvent[], hooks: readonly ActiveHook[]): Promise<number> {
    let made = 0;
    if (events.length === 0) return made;
    await db.transaction().execute(async (trx) => {
      const at = nowIso();
      for (let i = 0; i < events.length; i += KEY_BATCH) {
        const batch = events.slice(i, i + KEY_BATCH);
        // Read again by a later pass: skip what is logged already before building any payload.
        const logged = await store.listLoggedEventKeys(
          trx,
          hooks.map((h) => h.id),
          batch.map((e) => e.key),
        );
        const rows = [];
        for (const found of batch) {
          for (const hook of hooks) {
            if (!hook.eventList.includes(found.event)) continue;
            // A webhook gets what happened after it was registered, never the history.
            if (found.at < hook.created_at || logged.has(`${hook.id} ${found.key}`)) continue;
            const id = newId();
            rows.push({
              id,
              webhook_id: hook.id,
              event: found.event,
              event_key: found.key,
              payload: JSON.stringify({ id, event: found.event, occurred_at: found.at, data: found.data() }),
              status: 'pending',
              attempts: 0,
              response_status: null,
              last_error: null,
              created_at: at,
              updated_at: at,
              delivered_at: null,
            });
          }
        }
        for (let j = 0; j < rows.length; j += 100) {
          const written = await store.insertDeliveriesIfNew(trx, rows.slice(j, j + 100));
          for (const deliveryId of written) {
            await enqueueJob(trx, { queue: DELIVER_QUEUE, payload: { deliveryId }, maxAttempts: 1 });
          }
          made += written.length;
        }
      }
    });
    return made;
  }

  /**
   * Reads each source's settled changes since its cursors (one per pass) and logs + enqueues
   * deliveries for the subscribed webhooks. Returns how many deliveries were made. Safe to run
   * concurrently with itself (one scan at a time per process; an event seen twice is logged once
   * per webhook by the (webhook, event key) key). `settleMs` replaces the first pass's lag (tests).
   */
  async function scanChanges(options: { now?: number; settleMs?: number } = {}): Promise<number> {
    if (scanning) return scanning;
    scanning = (async () => {
      const now = options.now ?? Date.now();
      const hooks: ActiveHook[] = (await store.listActiveWebhooks(db)).map((h) => ({
        ...h,
        eventList: parseEvents(h.events),
      }));
      let made = 0;
      for (const source of sourceNames) {
        const read = sources[source];
        const wanted = hooks.some((h) => h.eventList.some((e) => eventsOfSource[source].includes(e)));
        for (const [index, pass] of passes.entries()) {
          const lag = index === 0 ? (options.settleMs ?? pass.lagMs) : pass.lagMs;
          const until = new Date(now - lag).toISOString();
          const cursorName = source + pass.suffix;
          const cursor = await store.findCursor(db, cursorName);
          // Without subscribers (or on the first scan) the feed only moves on: history is not replayed.
          if (!cursor || !wanted || cursor >= until) {
            if (!cursor || (!wanted && cursor < until))
              await store.saveCursor(db, cursorName, until, nowIso());
            continue;
          }
          // Each page is logged as it is read (a big import is not held in memory); the cursor moves
          // once all are. Stopped half way, the window is read again and logged events are skipped.
          await read(cursor, until, async (events) => {
            made += await logDeliveries(events, hooks);
          });
          await store.saveCursor(db, cursorName, until, nowIso());
        }
      }
      return made;
    })();
    try {
      return await scanning;
    } finally {
      scanning = null;
    }
  }

  /* ---------- delivery ---------- */

  async function deliver(deliveryId: string): Promise<void> {
    const delivery = await store.findDelivery(db, deliveryId);
    if (!delivery || delivery.status !== 'pending') return;
    const hook = await store.findWebhook(db, delivery.webhook_id);
    const at = nowIso();
    if (!hook || hook.disabled_at) {
      await store.updateDelivery(db, delivery.id, {
        status: 'failed',
        last_error: 'webhook disabled',
        updated_at: at,
      });
      return;
    }
    const attempts = delivery.attempts + 1;
    let status: number | null = null;
    let error: string | null = null;
    try {
      // Checked again at each delivery (a name can be pointed at an inner address later), and the
      // connection goes to the addresses checked, not to a second answer from DNS.
      const url = new URL(hook.url);
      const addresses = await resolveDeliverableAddresses(url, config.webhookAllowPrivate, resolveHost);
      status = await postPinned(url, addresses, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Undersign-Webhooks/1',
          'undersign-event': delivery.event,
          'undersign-delivery': delivery.id,
          [SIGNATURE_HEADER]: signPayload(hook.secret, delivery.payload, Math.floor(Date.now() / 1000)),
        },
        body: delivery.payload,
        timeoutMs: DELIVERY_TIMEOUT_MS,
      });
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    }
    const done = nowIso();
    if (!error) {
      await store.updateDelivery(db, delivery.id, {
        status: 'delivered',
        attempts,
        response_status: status,
        last_error: null,
        updated_at: done,
        delivered_at: done,
      });
      return;
    }
    if (attempts >= MAX_ATTEMPTS) {
      await store.updateDelivery(db, delivery.id, {
        status: 'failed',
        attempts,
        response_status: status,
        last_error: error.slice(0, 500),
        updated_at: done,
      });
      log.warn({ webhookId: hook.id, deliveryId: delivery.id }, 'webhook delivery gave up');
      return;
    }
    const delay = Math.min(config.webhookRetryBaseMs * 2 ** (attempts - 1), MAX_DELAY_MS);
    await db.transaction().execute(async (trx) => {
      await store.updateDelivery(trx, delivery.id, {
        attempts,
        response_status: status,
        last_error: error.slice(0, 500),
        updated_at: done,
      });
      await enqueueJob(trx, {
        queue: DELIVER_QUEUE,
        payload: { deliveryId: delivery.id },
        runAt: new Date(Date.now() + delay),
        maxAttempts: 1,
      });
    });
  }

  ctx.jobs.register(DELIVER_QUEUE, (payload) => deliver(String(payload.deliveryId)));

  /** Scans every few seconds in this process (the web server with the embedded worker). */
  function startScanner(everyMs = 5_000): void {
    if (timer) return;
    timer = setInterval(() => {
      scanChanges().catch((error: unknown) => log.warn({ err: error }, 'webhook change scan failed'));
    }, everyMs);
    timer.unref();
  }

  async function stopScanner(): Promise<void> {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (scanning) await scanning.catch(() => undefined);
  }

  return {
    createWebhook,
    getWebhook,
    listWebhooks,
    disableWebhook,
    listDeliveries,
    eraseFromDeliveries,
    deliveriesConcerning,
    scanChanges,
    deliver,
    startScanner,
    stopScanner,
    useResolver,
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
