import type { AuthService } from '../auth/index.ts';
import type { EventsService } from '../events/index.ts';
import type { AppContext } from '../context.ts';
import type { Executor } from '../db/index.ts';
import { AppError, isAppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { enqueueJob } from '../jobs/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import {
  eraseAddressesIn,
  tryNormaliseEmail,
  type PeopleService,
  type PersonIdSet,
  type PersonInput,
} from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';
import {
  hashApiKey,
  KeyRateLimiter,
  newApiKeySecret,
  parseScopes,
  type ApiKeyIdentity,
  type ApiScope,
} from './keys.ts';
import type { AttendanceHelperBody, PersonInputBody, SignatureHelperBody, SignupHelperBody } from './osdi.ts';
import * as store from './store.ts';
import { createWebhookService, type WebhookService } from './webhooks/service.ts';

export interface ApiDeps {
  auth: AuthService;
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
  events: EventsService;
  /** Group membership, for keys limited to a group (absent: such keys are refused). */
  groups?: GroupScopePort | undefined;
}

export interface GroupScopePort {
  /** Ids of the people in these groups (and the groups below them), as a subquery. */
  memberIdsQuery(groupIds: readonly string[]): Promise<PersonIdSet>;
}

export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiScope[];
  groupId: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

type RequestKind = 'person_signup' | 'record_signature' | 'record_attendance';
const REQUEST_QUEUE = 'api.background-request';
const REQUEST_ATTEMPTS = 5;
/** Processed background requests are kept a week (the outcome, not the body), then deleted. */
const REQUEST_KEEP_MS = 7 * 24 * 3600_000;
/** The webhook delivery log shown in the admin goes back 30 days. */
const DELIVERY_KEEP_MS = 30 * 24 * 3600_000;
const TOUCH_EVERY_MS = 60_000;

export function createApiService(ctx: AppContext, deps: ApiDeps) {
  const { db, config, log } = ctx;
  const { people, petitions } = deps;
  const limiter = new KeyRateLimiter(config.apiRateLimit);
  const touched = new Map<string, number>();
  const webhooks: WebhookService = createWebhookService(ctx, deps);

  /* ---------- keys ---------- */

  async function createApiKey(input: {
    name: string;
    scope: ApiScope;
    groupId?: string | null;
    createdBy: string | null;
  }): Promise<{ id: string; secret: string }> {
    const name = input.name.trim().slice(0, 100);
    if (!name) throw new AppError('invalid', 'Give the key a name that says who uses it.');
    if (input.scope !== 'read' && input.scope !== 'write')
      throw new AppError('invalid', 'Choose read or write.');
    const groupId = input.groupId?.trim().slice(0, 100) || null;
    const { secret, hash, prefix } = newApiKeySecret();
    const id = newId();
    await store.insertApiKey(db, {
      id,
      name,
      key_hash: hash,
      prefix,
      scopes: JSON.stringify(input.scope === 'write' ? ['read', 'write'] : ['read']),
      group_id: groupId,
      created_by: input.createdBy,
      created_at: nowIso(),
      last_used_at: null,
      revoked_at: null,
    });
    await deps.auth.audit({
      userId: input.createdBy,
      action: 'api_key.create',
      subjectType: 'api_key',
      subjectId: id,
      details: { name, scope: input.scope, groupId },
    });
    return { id, secret };
  }

  async function listApiKeys(): Promise<ApiKeySummary[]> {
    return (await store.listApiKeys(db)).map((row) => ({
      id: row.id,
      name: row.name,
      prefix: row.prefix,
      scopes: parseScopes(row.scopes),
      groupId: row.group_id,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      revokedAt: row.revoked_at,
    }));
  }

  async function revokeApiKey(id: string, userId: string | null): Promise<void> {
    const changed = await store.revokeApiKey(db, id, nowIso());
    if (!changed) throw new AppError('not_found', 'There is no active key with that id.');
    await deps.auth.audit({ userId, action: 'api_key.revoke', subjectType: 'api_key', subjectId: id });
  }

  /** The key's identity, or AppError unauthorized. Also applies the per-key rate limit. */
  async function authenticate(secret: string | undefined): Promise<ApiKeyIdentity> {
    const text = (secret ?? '').trim();
    if (!text) {
      throw new AppError(
        'unauthorized',
        'Send your API key in the OSDI-API-Token header (or Authorization: Bearer).',
      );
    }
    const row = text.length <= 200 ? await store.findApiKeyByHash(db, hashApiKey(text)) : undefined;
    if (!row || row.revoked_at)
      throw new AppError('unauthorized', 'This API key is not valid or has been revoked.');
    const wait = limiter.hit(row.id);
    if (wait) {
      throw new AppError('rate_limited', `Too many requests with this key. Try again in ${wait} s.`, {
        retryAfter: wait,
      });
    }
    const last = touched.get(row.id) ?? 0;
    if (Date.now() - last > TOUCH_EVERY_MS) {
      touched.set(row.id, Date.now());
      await store.touchApiKey(db, row.id, nowIso());
    }
    return { id: row.id, name: row.name, scopes: parseScopes(row.scopes), groupId: row.group_id };
  }

  /** The people a group-limited key may see, or null when the key is not limited. */
  async function scopeOf(key: ApiKeyIdentity): Promise<PersonIdSet | null> {
    if (!key.groupId) return null;
    if (!deps.groups) {
      throw new AppError(
        'forbidden',
        'This key is limited to a group, and groups are not available: it is refused rather than shown everything.',
      );
    }
    return deps.groups.memberIdsQuery([key.groupId]);
  }

  /* ---------- helpers: signup and signature, merged by email like the web forms ---------- */

  function chosenEmail(person: PersonInputBody) {
    const emails = person.email_addresses ?? [];
    return emails.find((e) => e.primary) ?? emails[0];
  }

  /** The email to merge by: the one given, else the email of the person who has the given phone. */
  async function resolveEmail(person: PersonInputBody): Promise<string> {
    const given = chosenEmail(person)?.address?.trim();
    if (given) return given;
    for (const phone of person.phone_numbers ?? []) {
      const id = await people.findPersonIdByPhone(phone.number);
      if (!id) continue;
      const [record] = await people.describePeople([id]);
      const email = record?.emails.find((e) => e.primary) ?? record?.emails[0];
      if (email) return email.address;
    }
    throw new AppError(
      'invalid',
      'person.email_addresses needs an address (or person.phone_numbers a number we already know).',
    );
  }

  function personInput(person: PersonInputBody, email: string, tags: readonly string[] = []): PersonInput {
    const address = person.postal_addresses?.find((a) => a.primary) ?? person.postal_addresses?.[0];
    const custom: Record<string, string | number | boolean | null> = {};
    for (const [key, value] of Object.entries(person.custom_fields ?? {})) custom[key] = value ?? null;
    return {
      email,
      givenName: person.given_name ?? null,
      familyName: person.family_name ?? null,
      language: person.languages_spoken?.[0] ?? null,
      phone: person.phone_numbers?.[0]?.number ?? null,
      address: address
        ? {
            street: address.address_lines?.join(', ') || null,
            locality: address.locality ?? null,
            region: address.region ?? null,
            postalCode: address.postal_code ?? null,
            country: address.country ?? null,
          }
        : null,
      tags,
      customFields: custom,
      source: 'api',
    };
  }

  function wantsSubscription(person: PersonInputBody): boolean {
    return chosenEmail(person)?.status?.toLowerCase() === 'subscribed';
  }

  /** Person signup helper: create or merge by email (else phone), add and remove tags. Idempotent. */
  async function signupPerson(body: SignupHelperBody): Promise<{ personId: string; created: boolean }> {
    const email = await resolveEmail(body.person);
    return db.transaction().execute((trx) => signupPersonIn(trx, body, email));
  }

  /** The signup inside the caller's transaction; `email` was resolved before it (reads outside it wait). */
  async function signupPersonIn(
    trx: Executor,
    body: SignupHelperBody,
    email: string,
  ): Promise<{ personId: string; created: boolean }> {
    const subscribe = wantsSubscription(body.person);
    const result = await people.mergePersonByEmail(trx, {
      ...personInput(body.person, email, body.add_tags ?? []),
      subscribe,
      consent: subscribe ? { what: 'email', source: 'api', ip: null } : null,
    });
    if (body.remove_tags?.length) await people.removeTags(trx, result.personId, body.remove_tags);
    return { personId: result.personId, created: result.created };
  }

  /** Record signature helper: the same signing path as the web form (one signature per person). */
  async function recordSignature(petitionId: string, body: SignatureHelperBody): Promise<string> {
    const petition = await petitions.getPetition(petitionId);
    const email = await resolveEmail(body.person);
    // The language the signature is made in, given to both merges so the second finds nothing new
    // (a person created here keeps created_date == modified_date).
    const language = body.person.languages_spoken?.[0] ?? petition.row.language;
    const input = { ...personInput(body.person, email, body.add_tags ?? []), language };
    // Fields the signing form does not carry (region, country, custom fields, tags) merge first.
    await db.transaction().execute((trx) => people.mergePersonByEmail(trx, input));
    const referrer = body.referrer_data ?? body['action_network:referrer_data'];
    const result = await petitions.signPetition(
      petition.row.slug,
      {
        email,
        givenName: input.givenName ?? undefined,
        familyName: input.familyName ?? undefined,
        postalCode: input.address?.postalCode ?? undefined,
        locality: input.address?.locality ?? undefined,
        phone: input.phone ?? undefined,
        comment: body.comments ?? undefined,
        consent: wantsSubscription(body.person),
        ref: referrer?.referrer ?? undefined,
        source: referrer?.source ?? undefined,
        language,
      },
      { ip: null, userAgent: 'api' },
      { trusted: true },
    );
    return result.signatureId;
  }

  /** Record attendance helper: the same RSVP path as the event page (one RSVP per person). */
  async function recordAttendance(eventId: string, body: AttendanceHelperBody): Promise<string> {
    const event = await deps.events.getEvent(eventId);
    const email = await resolveEmail(body.person);
    const input = personInput(body.person, email, body.add_tags ?? []);
    // Fields the RSVP form does not carry (address, custom fields, tags) merge first.
    await db.transaction().execute((trx) => people.mergePersonByEmail(trx, input));
    const outcome = await deps.events.rsvp(
      event.slug,
      {
        email,
        givenName: input.givenName ?? null,
        familyName: input.familyName ?? null,
        postalCode: input.address?.postalCode ?? null,
        language: input.language ?? null,
        subscribe: wantsSubscription(body.person),
      },
      { ip: null, userAgent: 'api' },
    );
    return outcome.rsvpId;
  }

  /** Checks what can be checked at once, so a background request that cannot succeed gets a 400. */
  function precheck(person: PersonInputBody): void {
    const address = chosenEmail(person)?.address;
    if (address !== undefined && !tryNormaliseEmail(address)) {
      throw new AppError('invalid', `"${address.slice(0, 100)}" is not a valid email address.`);
    }
    if (!address && !(person.phone_numbers ?? []).some((p) => p.number.trim())) {
      throw new AppError(
        'invalid',
        'person.email_addresses needs an address (or person.phone_numbers a number).',
      );
    }
  }

  /* ---------- background requests: the body waits in a row, the job carries its id ---------- */

  async function queueRequest(kind: RequestKind, targetId: string | null, body: unknown): Promise<string> {
    const id = newId();
    await db.transaction().execute(async (trx) => {
      await store.insertApiRequest(trx, {
        id,
        kind,
        target_id: targetId,
        body: JSON.stringify(body),
        status: 'pending',
        result_id: null,
        error: null,
        created_at: nowIso(),
        processed_at: null,
      });
      await enqueueJob(trx, {
        queue: REQUEST_QUEUE,
        payload: { requestId: id },
        priority: 5,
        maxAttempts: REQUEST_ATTEMPTS,
      });
    });
    return id;
  }

  async function queueSignup(body: SignupHelperBody): Promise<string> {
    precheck(body.person);
    return queueRequest('person_signup', null, body);
  }

  async function queueSignature(petitionId: string, body: SignatureHelperBody): Promise<string> {
    precheck(body.person);
    await petitions.getPetition(petitionId);
    return queueRequest('record_signature', petitionId, body);
  }

  async function queueAttendance(eventId: string, body: AttendanceHelperBody): Promise<string> {
    precheck(body.person);
    await deps.events.getEvent(eventId);
    return queueRequest('record_attendance', eventId, body);
  }

  /**
   * Processes a background request once: a request already processed is left alone, and the work
   * itself merges by email, so a run repeated after a crash (or at the same time) makes nothing twice.
   */
  async function processRequest(requestId: string, attempt = 1): Promise<void> {
    const row = await store.findApiRequest(db, requestId);
    if (!row || row.status !== 'pending' || row.body === null) return;
    const text = row.body;
    const finish = (executor: Executor, resultId: string | null, error: string | null) =>
      store.finishApiRequest(executor, row.id, {
        status: error === null ? 'done' : 'rejected',
        resultId,
        error,
        at: nowIso(),
      });
    try {
      const body: unknown = JSON.parse(text);
      if (row.kind === 'person_signup') {
        const signup = body as SignupHelperBody;
        const email = await resolveEmail(signup.person);
        await db.transaction().execute(async (trx) => {
          const result = await signupPersonIn(trx, signup, email);
          await finish(trx, result.personId, null);
        });
      } else if (row.kind === 'record_signature') {
        await finish(db, await recordSignature(String(row.target_id), body as SignatureHelperBody), null);
      } else if (row.kind === 'record_attendance') {
        await finish(db, await recordAttendance(String(row.target_id), body as AttendanceHelperBody), null);
      } else {
        await finish(db, null, `unknown request kind ${row.kind}`);
      }
    } catch (error) {
      // Bad data will not get better on retry: say why in the row and stop.
      if (isAppError(error) && error.code !== 'rate_limited') {
        log.warn(
          { requestId, kind: row.kind, code: error.code, err: error.message },
          'background request rejected',
        );
        await finish(db, null, error.message.slice(0, 500));
        return;
      }
      if (attempt >= REQUEST_ATTEMPTS) {
        const message = error instanceof Error ? error.message : String(error);
        await finish(db, null, `gave up: ${message}`.slice(0, 500));
      }
      throw error;
    }
  }

  ctx.jobs.register(REQUEST_QUEUE, (payload, job) => processRequest(String(payload.requestId), job.attempts));

  /* ---------- erasure ---------- */

  const mentionsAny = (text: string | null, addresses: readonly string[]) =>
    text !== null && addresses.some((address) => text.toLowerCase().includes(address));

  /**
   * Erasure: pending background requests whose body names one of the addresses are rejected with
   * the reason 'erased' and their body dropped, so their job never merges (re-creates) the person;
   * a processed request whose reason quotes an address keeps the reason without it. Returns how
   * many pending requests were rejected.
   */
  async function eraseRequestsOfAddresses(executor: Executor, addresses: readonly string[]): Promise<number> {
    let rejected = 0;
    const at = nowIso();
    for (const row of await store.listApiRequestsMentioning(executor, addresses)) {
      if (row.status === 'pending' && mentionsAny(row.body, addresses)) {
        if (
          await store.finishApiRequest(executor, row.id, {
            status: 'rejected',
            resultId: null,
            error: 'erased',
            at,
          })
        )
          rejected++;
      } else if (row.error !== null && mentionsAny(row.error, addresses)) {
        await store.updateApiRequestError(
          executor,
          row.id,
          eraseAddressesIn(row.error, addresses, '[erased]'),
        );
      }
    }
    return rejected;
  }

  /** Background requests naming one of the addresses that are still waiting (with their body): data export. */
  async function pendingRequestsOfAddresses(addresses: readonly string[]) {
    return (await store.listApiRequestsMentioning(db, addresses))
      .filter((row) => row.status === 'pending' && mentionsAny(row.body, addresses))
      .map((row) => ({
        kind: row.kind,
        receivedAt: row.created_at,
        body: JSON.parse(row.body ?? 'null') as unknown,
      }));
  }

  /** Deletes processed background requests and finished webhook deliveries older than their keep times. */
  async function purgeProcessed(now = Date.now()): Promise<void> {
    await store.deleteProcessedApiRequestsBefore(db, new Date(now - REQUEST_KEEP_MS).toISOString());
    await store.deleteFinishedDeliveriesBefore(db, new Date(now - DELIVERY_KEEP_MS).toISOString());
  }

  return {
    createApiKey,
    listApiKeys,
    revokeApiKey,
    authenticate,
    scopeOf,
    signupPerson,
    recordSignature,
    queueSignup,
    queueSignature,
    recordAttendance,
    queueAttendance,
    processRequest,
    purgeProcessed,
    eraseRequestsOfAddresses,
    pendingRequestsOfAddresses,
    webhooks,
  };
}

export type ApiService = ReturnType<typeof createApiService>;
