import type Sqlite from 'better-sqlite3';
import type { Expression } from 'kysely';
import { createHash, hash } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import type { AppContext } from '../context.ts';
import { isConnectionError, isUniqueViolation, type Executor, type Trx } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { enqueueJob, enqueueJobSqlite } from '../jobs/index.ts';
import { tryNormaliseEmail } from '../people/index.ts';
import { RateLimiter } from '../ratelimit/index.ts';
import { newId, nowIso } from '../ids.ts';
import { clientPseudonym } from '../log.ts';
import { AltchaGuard } from './altcha.ts';
import { CounterBatcher } from './counters.ts';
import { displayGoal } from './goal.ts';
import { GroupCommitter } from './group-commit.ts';
import * as intakeSqlite from './intake-sqlite.ts';
import { PendingKeys } from './pending-keys.ts';
import { messages, pickLanguage, type Language } from './i18n.ts';
import { renderMarkdown } from './markdown.ts';
import * as store from './store.ts';
import type {
  IntakeRow,
  NewIntakeRow,
  NewSignatureRow,
  PetitionRow,
  PetitionTranslationRow,
  SignatureRow,
} from './tables.ts';
import {
  deriveKey,
  makeSignedToken,
  newReferralCode,
  referralCodePattern,
  verifySignedToken,
} from './tokens.ts';
import {
  defaultFormSettings,
  type CommentModeration,
  type FieldRule,
  type FormSettings,
  type MailPort,
  type PetitionEmail,
  type PeoplePort,
  type Petition,
  type PetitionInput,
  type PetitionTexts,
  type PublicCount,
  type RequestMeta,
  type SignInput,
  type SignResult,
} from './types.ts';

const CONFIRM_PURPOSE = 'petition-confirm';
const CONFIRM_TTL_MS = 14 * 24 * 3600_000;
/** A second confirmation email for the same signature goes out at most this often. */
const RESEND_AFTER_MS = 10 * 60_000;
const PETITION_CACHE_MS = 5000;
const COUNT_CACHE_MS = 2000;
/**
 * A count older than COUNT_CACHE_MS is still served, at once, while the new one is read: readers
 * never wait for a slow or unreachable database behind a number that was right seconds ago. Past
 * this age readers wait for the read.
 */
const COUNT_STALE_MS = 60_000;

const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const emailPattern = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

export interface PetitionDeps {
  people: PeoplePort;
  mail: MailPort;
}

export type PetitionService = ReturnType<typeof createPetitionService>;

/** One validated signature waiting for its batch. */
interface SignItem {
  petition: Petition;
  fields: ReturnType<typeof validateSignInput>;
  language: Language;
  requiresConfirmation: boolean;
  districtId: string | null;
  referrer: string | null;
  source: string | null;
  meta: RequestMeta;
  signatureId: string;
  referralCode: string;
  /** The intake's uniqueness key (a hash of the address). */
  emailKey: string;
}

type SignOutcome =
  | { inserted: true; signatureId: string; referralCode: string }
  | { inserted: false; signature: SignatureRow };

type IntakeOutcome =
  { inserted: true } | { inserted: false; intake: Pick<IntakeRow, 'id' | 'signature_id' | 'payload'> };

/** What an intake row keeps of a signing until it is processed (the petition is referenced by id). */
type IntakePayload = Omit<SignItem, 'petition' | 'signatureId' | 'emailKey'>;

/** An intake row about to be written, its payload not yet JSON. */
interface IntakeEntry {
  id: string;
  petition_id: string;
  email_key: string;
  payload: IntakePayload;
  created_at: string;
}

const INTAKE_QUEUE = 'petitions.intake';
/**
 * Pending intake older than this is handed to a new job (checked every 15 s): its job gave up,
 * waits out a retry after a database outage, or died with its process. A row still queued in a
 * backlog may get a second job; whichever job claims it first processes it, the other finds it done.
 */
const INTAKE_STALLED_MS = 30_000;

export function createPetitionService(ctx: AppContext, deps: PetitionDeps) {
  const { db, config, log } = ctx;
  const confirmKey = deriveKey(config.secretKey, CONFIRM_PURPOSE);
  const altcha = new AltchaGuard(deriveKey(config.secretKey, 'altcha'));
  const counters = new CounterBatcher(db, log);
  // Counted together with the other web processes through the database, about once a second.
  const shared = (scope: string) => ({ db, scope, secret: config.secretKey, log });
  const ipLimiter = new RateLimiter(config.signRateIp, 10 * 60_000, shared('sign-ip'));
  const emailLimiter = new RateLimiter(config.signRateEmail, 3600_000, shared('sign-email'));
  // `value` is set once the load resolved, so the signing path can read it without awaiting.
  const petitionCache = new Map<string, { at: number; petition: Promise<Petition>; value?: Petition }>();
  // Postal code → district, per petition; forgotten every minute so other processes see new uploads.
  const districtCache = new Map<
    string,
    { lookup: Promise<{ id: string; name: string } | null>; found?: { id: string; name: string } | null }
  >();
  let districtCacheAt = Date.now();
  const districtNames = new Map<string, { at: number; names: Map<string, string> }>();
  const countCache = new Map<string, { at: number; value?: PublicCount; loading?: Promise<PublicCount> }>();
  const markdownCache = new Map<string, { key: string; html: string }>();
  // Signatures arriving together are taken in together: one transaction and one insert per batch
  // (one SQLite writer; a few parallel batches on PostgreSQL).
  // SQLite: the signings this process took in and the job may not have processed yet.
  const sqlite = ctx.sqlite;
  const pendingKeys = sqlite ? new PendingKeys() : null;
  const intakeCommitter = new GroupCommitter<SignItem, IntakeOutcome>(
    (items) =>
      // SQLite: the whole batch synchronously on the connection, no promise per statement.
      pendingKeys && sqlite
        ? sqlite.transaction((database) => writeIntakeSqlite(database, intakeEntries(items), pendingKeys, {}))
        : db.transaction().execute((trx) => writeIntake(trx, items)),
    {
      maxBatch: 500,
      maxConcurrent: ctx.dialect === 'sqlite' ? 1 : 4,
      afterCommit: (items, outcomes) => {
        if (!pendingKeys) return;
        items.forEach((item, i) => {
          if (outcomes[i]!.inserted) {
            pendingKeys.add(item.petition.row.id, item.emailKey, item.signatureId);
          }
        });
      },
    },
  );
  ctx.jobs.register(INTAKE_QUEUE, async (payload) => {
    const ids = Array.isArray(payload.ids) ? payload.ids.map(String) : [];
    await processIntake(ids);
  });

  /* ---------- organiser side ---------- */

  async function loadPetition(row: PetitionRow): Promise<Petition> {
    const [targets, translations] = await Promise.all([
      store.listTargets(db, row.id),
      store.listTranslations(db, row.id),
    ]);
    return { row, formSettings: parseFormSettings(row.form_settings), targets, translations };
  }

  async function getPetition(id: string): Promise<Petition> {
    const row = await store.findPetitionById(db, id);
    if (!row) throw new AppError('not_found', 'There is no such petition.');
    return loadPetition(row);
  }

  /** A petition by slug, cached briefly: the signing hot path reads it on every request. */
  function getPetitionBySlug(slug: string): Promise<Petition> {
    const cached = petitionCache.get(slug);
    if (cached && Date.now() - cached.at < PETITION_CACHE_MS) return cached.petition;
    // One load shared by every request that arrives meanwhile (no stampede when the entry expires).
    const petition = (async () => {
      const row = slugPattern.test(slug) ? await store.findPetitionBySlug(db, slug) : undefined;
      if (!row) throw new AppError('not_found', 'There is no such petition.');
      return loadPetition(row);
    })();
    const entry: { at: number; petition: Promise<Petition>; value?: Petition } = { at: Date.now(), petition };
    petitionCache.set(slug, entry);
    petition.then(
      (value) => {
        entry.value = value;
      },
      () => {
        if (petitionCache.get(slug) === entry) petitionCache.delete(slug);
      },
    );
    return petition;
  }

  /** The petition if it is cached and loaded: the signing path then goes on without awaiting. */
  function cachedPetition(slug: string): Petition | undefined {
    const cached = petitionCache.get(slug);
    return cached && Date.now() - cached.at < PETITION_CACHE_MS ? cached.value : undefined;
  }

  function forgetCaches(): void {
    petitionCache.clear();
    countCache.clear();
  }

  async function createPetition(input: PetitionInput): Promise<Petition> {
    const values = validatePetitionInput(input);
    const id = newId();
    const now = nowIso();
    try {
      await db.transaction().execute(async (trx) => {
        await store.insertPetition(trx, {
          id,
          ...values.row,
          status: 'draft',
          created_at: now,
          updated_at: now,
          published_at: null,
          closed_at: null,
        });
        await store.replaceTargets(trx, id, values.targets);
        for (const t of values.translations) await store.upsertTranslation(trx, { petition_id: id, ...t });
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('conflict', `The address /petitions/${values.row.slug} is taken.`);
      throw error;
    }
    forgetCaches();
    return getPetition(id);
  }

  async function updatePetition(id: string, input: PetitionInput): Promise<Petition> {
    const existing = await getPetition(id);
    const values = validatePetitionInput(input);
    try {
      await db.transaction().execute(async (trx) => {
        await store.updatePetition(trx, id, values.row);
        await store.replaceTargets(trx, id, values.targets);
        if (input.translations) {
          const keep = new Set<string>(values.translations.map((t) => t.language));
          for (const old of existing.translations) {
            if (!keep.has(old.language)) await store.deleteTranslation(trx, id, old.language);
          }
          for (const t of values.translations) await store.upsertTranslation(trx, { petition_id: id, ...t });
        }
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('conflict', `The address /petitions/${values.row.slug} is taken.`);
      throw error;
    }
    forgetCaches();
    return getPetition(id);
  }

  async function setStatus(id: string, status: 'open' | 'closed'): Promise<Petition> {
    const petition = await getPetition(id);
    const now = nowIso();
    await store.updatePetition(db, id, {
      status,
      ...(status === 'open'
        ? { published_at: petition.row.published_at ?? now, closed_at: null }
        : { closed_at: now }),
    });
    forgetCaches();
    return getPetition(id);
  }

  /* ---------- texts ---------- */

  function textsFor(petition: Petition, language: string): PetitionTexts {
    const own: PetitionTexts = {
      language: petition.row.language,
      title: petition.row.title,
      summary: petition.row.summary,
      body: petition.row.body,
      thankYouMessage: petition.row.thank_you_message,
    };
    if (language === petition.row.language) return own;
    const tr: PetitionTranslationRow | undefined = petition.translations.find((t) => t.language === language);
    if (!tr) return own;
    return {
      language,
      title: tr.title || own.title,
      summary: tr.summary || own.summary,
      body: tr.body || own.body,
      thankYouMessage: tr.thank_you_message || own.thankYouMessage,
    };
  }

  /** Languages a petition can be read in: its own plus its translations. */
  function languagesOf(petition: Petition): string[] {
    return [petition.row.language, ...petition.translations.map((t) => t.language)].filter(
      (l, i, all) => all.indexOf(l) === i,
    );
  }

  /** Sanitised HTML of a petition's Markdown text, cached per text. */
  function bodyHtml(petition: Petition, texts: PetitionTexts): string {
    const key = `${petition.row.id}:${texts.language}`;
    const cached = markdownCache.get(key);
    if (cached && cached.key === texts.body) return cached.html;
    const html = renderMarkdown(texts.body);
    markdownCache.set(key, { key: texts.body, html });
    return html;
  }

  /* ---------- districts ---------- */

  /** Loads "postal_code,district_id,district_name" rows (header optional) for a petition or globally. */
  async function importDistricts(
    petitionId: string | null,
    csvText: string,
  ): Promise<{ imported: number; errors: string[] }> {
    let records: string[][];
    try {
      records = parseCsv(csvText, {
        skip_empty_lines: true,
        trim: true,
        relax_column_count: true,
        bom: true,
      });
    } catch (error) {
      throw new AppError('invalid', `The CSV file could not be read: ${(error as Error).message}`);
    }
    const rows: Array<{ postalCode: string; districtId: string; districtName: string }> = [];
    const errors: string[] = [];
    records.forEach((record, index) => {
      const line = index + 1;
      const [postal, districtId, districtName] = record;
      if (index === 0 && /postal|zip|code/i.test(postal ?? '')) return;
      const postalCode = normalisePostal(postal);
      if (!postalCode || !districtId) {
        errors.push(`Line ${line}: needs a postal code and a district id.`);
        return;
      }
      rows.push({
        postalCode,
        districtId: districtId.slice(0, 100),
        districtName: (districtName || districtId).slice(0, 200),
      });
    });
    if (errors.length > 50) errors.splice(50, errors.length - 50, `…and more errors.`);
    const scope = petitionId ?? '*';
    await db.transaction().execute((trx) => store.upsertDistrictPostcodes(trx, scope, rows));
    districtCache.clear();
    districtNames.clear();
    return { imported: rows.length, errors };
  }

  // Not async: a known district is handed back at once (signing asks for every signature).
  function lookupDistrict(
    petitionId: string,
    postalCode: string | null | undefined,
  ): { id: string; name: string } | null | Promise<{ id: string; name: string } | null> {
    const code = normalisePostal(postalCode);
    if (!code) return null;
    const cacheKey = `${petitionId}\n${code}`;
    if (Date.now() - districtCacheAt > 60_000) {
      districtCache.clear();
      districtCacheAt = Date.now();
    }
    const cached = districtCache.get(cacheKey);
    if (cached) return cached.found !== undefined ? cached.found : cached.lookup;
    const candidates = [code];
    const short = code.split(/[-\s]/)[0];
    if (short && short !== code) candidates.push(short);
    const lookup = (async () => {
      for (const candidate of candidates) {
        const rows = await store.findDistrictForPostcode(db, [petitionId, '*'], candidate);
        const row = rows.find((r) => r.scope === petitionId) ?? rows[0];
        if (row) return { id: row.district_id, name: row.district_name };
      }
      return null;
    })();
    if (districtCache.size > 50_000) districtCache.clear();
    const entry: { lookup: typeof lookup; found?: { id: string; name: string } | null } = { lookup };
    districtCache.set(cacheKey, entry);
    lookup.then(
      (found) => {
        entry.found = found;
      },
      () => districtCache.delete(cacheKey),
    );
    return lookup;
  }

  async function districtNameMap(petitionId: string): Promise<Map<string, string>> {
    const cached = districtNames.get(petitionId);
    if (cached && Date.now() - cached.at < 60_000) return cached.names;
    const rows = await store.listDistrictNames(db, ['*', petitionId]);
    const names = new Map(rows.map((r) => [r.district_id, r.district_name]));
    districtNames.set(petitionId, { at: Date.now(), names });
    return names;
  }

  /* ---------- signing ---------- */

  function reject(petitionId: string | null, reason: string, meta: RequestMeta, email?: string | null): void {
    counters.logRejection({
      petitionId,
      reason,
      ip: meta.ip,
      emailHash: email ? rejectionEmailHash(email) : null,
      userAgent: meta.userAgent?.slice(0, 300) ?? null,
      at: nowIso(),
    });
    log.info(
      { petitionId, reason, client: clientPseudonym(config.secretKey, meta.ip) },
      'signing attempt rejected',
    );
  }

  function altchaRequired(petition: Petition): boolean {
    return config.signAltcha && petition.row.altcha_enabled === 1;
  }

  /**
   * `trusted`: a signature recorded through the API with a key — no honeypot, rate limits or ALTCHA,
   * and only the email is required (the key holder answers for the data).
   */
  async function signPetition(
    slug: string,
    input: SignInput,
    meta: RequestMeta,
    options: { trusted?: boolean } = {},
  ): Promise<SignResult> {
    const petition = cachedPetition(slug) ?? (await getPetitionBySlug(slug));
    const { row } = petition;
    const trusted = options.trusted === true;
    const formSettings: FormSettings = trusted
      ? { postalCode: 'optional', locality: 'optional', phone: 'optional', questions: [] }
      : petition.formSettings;
    // Messages and emails in the language the signer read the petition in (if it has that version).
    const asked = pickLanguage(input.language, pickLanguage(row.language));
    const language = languagesOf(petition).includes(asked) ? asked : pickLanguage(row.language);
    if (row.status !== 'open' || (row.end_date && row.end_date < nowIso().slice(0, 10))) {
      reject(row.id, 'closed', meta);
      throw new AppError('invalid', messages(language).closed);
    }
    if (input.website && !trusted) {
      reject(row.id, 'honeypot', meta);
      throw new AppError('invalid', messages(language).errors.honeypot);
    }
    if (meta.ip && !trusted) {
      const wait = ipLimiter.hit(meta.ip);
      if (wait) {
        reject(row.id, 'rate_limited_ip', meta);
        throw new AppError('rate_limited', messages(language).errors.rateIp(minutes(wait, language)), {
          retryAfter: wait,
        });
      }
    }
    const fields = validateSignInput(input, formSettings, language, trusted);
    const wait = trusted ? 0 : emailLimiter.hit(fields.email);
    if (wait) {
      reject(row.id, 'rate_limited_email', meta, fields.email);
      throw new AppError('rate_limited', messages(language).errors.rateEmail(minutes(wait, language)), {
        retryAfter: wait,
      });
    }
    // Without JavaScript there is no proof of work; email confirmation then has to prove the person.
    let requiresConfirmation = row.requires_confirmation === 1;
    if (altchaRequired(petition) && !trusted) {
      if (!input.altcha) {
        if (!requiresConfirmation) {
          reject(row.id, 'altcha_missing', meta, fields.email);
          throw new AppError('invalid', messages(language).errors.altchaMissing);
        }
        requiresConfirmation = true;
      } else if (!(await altcha.verify(input.altcha))) {
        reject(row.id, 'altcha_invalid', meta, fields.email);
        throw new AppError('invalid', messages(language).errors.altchaInvalid);
      }
    }
    const known = lookupDistrict(row.id, fields.postalCode);
    const district = known instanceof Promise ? await known : known;
    const item: SignItem = {
      petition,
      fields,
      language,
      requiresConfirmation,
      districtId: district?.id ?? null,
      referrer: input.ref && referralCodePattern.test(input.ref) ? input.ref : null,
      source: cleanCode(input.source),
      meta,
      signatureId: newId(),
      referralCode: newReferralCode(),
      emailKey: emailKey(fields.email),
    };
    if (trusted) return signNow(item);
    const outcome = await intakeCommitter.submit(item);
    if (outcome.inserted) {
      return {
        status: 'signed',
        confirmationRequired: requiresConfirmation,
        referralCode: item.referralCode,
        signatureId: item.signatureId,
        slug: row.slug,
      };
    }
    return alreadySigned(petition, outcome.intake, item);
  }

  /**
   * A signing whose (petition, email) was taken in before. Once processed, an unconfirmed signer
   * gets the link again (at most every RESEND_AFTER_MS); while pending, its email is on its way.
   */
  async function alreadySigned(
    petition: Petition,
    intake: Pick<IntakeRow, 'id' | 'signature_id' | 'payload'>,
    item: SignItem,
  ): Promise<SignResult> {
    const answer = (confirmationRequired: boolean, signatureId: string): SignResult => ({
      status: 'already_signed',
      confirmationRequired,
      referralCode: null,
      signatureId,
      slug: petition.row.slug,
    });
    const signature = intake.signature_id
      ? await store.findSignatureById(db, intake.signature_id)
      : undefined;
    if (!signature) {
      const pending = intake.payload ? (JSON.parse(intake.payload) as IntakePayload) : null;
      return answer(pending?.requiresConfirmation ?? false, intake.id);
    }
    if (
      !signature.confirmed_at &&
      (!signature.confirmation_sent_at ||
        Date.parse(signature.confirmation_sent_at) < Date.now() - RESEND_AFTER_MS)
    ) {
      const now = nowIso();
      await db.transaction().execute(async (trx) => {
        await deps.mail.queueTransactional(
          trx,
          confirmationEmail(petition, signature, item.fields.email, item.language),
        );
        await store.markConfirmationSent(trx, signature.id, now);
      });
    }
    return answer(!signature.confirmed_at, signature.id);
  }

  /**
   * Signing that answers with the signature itself (API, sample data): the intake row is written
   * and processed in one transaction, together with a pending intake of the same email if any.
   */
  async function signNow(item: SignItem): Promise<SignResult> {
    const { row } = item.petition;
    const result = await db.transaction().execute(async (trx) => {
      const [outcome] = await writeIntake(trx, [item], { enqueue: false });
      const intakeId = outcome!.inserted ? item.signatureId : outcome!.intake.id;
      const processed = await processIntakeIn(trx, [intakeId], new Map([[row.id, item.petition]]));
      const mine = processed.find((p) => p.id === intakeId);
      if (mine) return { processed, inserted: mine.status === 'signed', signatureId: mine.signatureId };
      // Processed earlier (or just now by another process): the row says which signature it is.
      const [intake] = await store.findIntakeByIds(trx, [intakeId]);
      return { processed, inserted: false, signatureId: intake?.signature_id ?? intakeId };
    });
    countProcessed(result.processed);
    const signature = await store.findSignatureById(db, result.signatureId);
    if (!result.inserted && signature) {
      return alreadySigned(
        item.petition,
        { id: signature.id, signature_id: signature.id, payload: null },
        item,
      );
    }
    return {
      status: result.inserted ? 'signed' : 'already_signed',
      confirmationRequired: signature ? !signature.confirmed_at : item.requiresConfirmation,
      referralCode: result.inserted ? (signature?.referral_code ?? item.referralCode) : null,
      signatureId: result.signatureId,
      slug: row.slug,
    };
  }

  function intakeEntries(items: readonly SignItem[]): IntakeEntry[] {
    const now = nowIso();
    return items.map((item) => ({
      id: item.signatureId,
      petition_id: item.petition.row.id,
      email_key: item.emailKey,
      payload: {
        fields: item.fields,
        language: item.language,
        requiresConfirmation: item.requiresConfirmation,
        districtId: item.districtId,
        referrer: item.referrer,
        source: item.source,
        meta: item.meta,
        referralCode: item.referralCode,
      },
      created_at: now,
    }));
  }

  /**
   * Takes in a batch of signings in one transaction: one insert (a repeat of (petition, email) is
   * left alone) and one job that will process the new rows. Nothing else is written per signature.
   */
  async function writeIntake(
    trx: Trx,
    items: readonly SignItem[],
    options: { enqueue?: boolean } = {},
  ): Promise<IntakeOutcome[]> {
    const entries = intakeEntries(items);
    // SQLite: statements straight on the connection, which this transaction holds.
    if (pendingKeys && sqlite) return writeIntakeSqlite(sqlite.database, entries, pendingKeys, options);
    const rows: NewIntakeRow[] = entries.map((entry) => ({
      ...entry,
      status: 'pending',
      payload: JSON.stringify(entry.payload),
    }));
    const inserted = new Set(await store.insertIntakeIfNew(trx, rows));
    if (inserted.size > 0 && options.enqueue !== false) {
      await enqueueJob(trx, { queue: INTAKE_QUEUE, payload: { ids: [...inserted] } });
    }
    const earlier = new Map<string, IntakeRow>();
    const repeats = rows.filter((r) => !inserted.has(r.id));
    for (const petitionId of new Set(repeats.map((r) => r.petition_id))) {
      const keys = repeats.filter((r) => r.petition_id === petitionId).map((r) => r.email_key);
      for (const found of await store.findIntakeByKeys(trx, petitionId, keys)) {
        earlier.set(`${petitionId}\n${found.email_key}`, found);
      }
    }
    return rows.map((r) => {
      if (inserted.has(r.id)) return { inserted: true };
      const intake = earlier.get(`${r.petition_id}\n${r.email_key}`);
      if (!intake) throw new Error('signature intake vanished during signing');
      return { inserted: false, intake };
    });
  }

  /**
   * SQLite: the batch's repeats are found first — an earlier row of the batch, a row this process
   * took in (pending or processed since), a processed row — and the rest inserted without a
   * uniqueness check (see the 0016 migration). Synchronous, inside a write transaction that holds
   * the connection: SQLite excludes every other writer, so nothing can slip in between the look-up
   * and the insert within this process.
   */
  function writeIntakeSqlite(
    database: Sqlite.Database,
    rows: readonly IntakeEntry[],
    keys: PendingKeys,
    options: { enqueue?: boolean },
  ): IntakeOutcome[] {
    if (!keys.isLoaded) keys.load(intakeSqlite.listPendingIntakeKeys(database, 250_000));
    const keyOf = (r: { petition_id: string; email_key: string }) =>
      PendingKeys.key(r.petition_id, r.email_key);
    // Each row's key made once: three look-ups below use it.
    const rowKeys = rows.map(keyOf);
    const firstInBatch = new Map<string, IntakeEntry>();
    const rememberedIds: string[] = [];
    const unknown: IntakeEntry[] = [];
    rows.forEach((r, i) => {
      const key = rowKeys[i]!;
      if (firstInBatch.has(key)) return;
      firstInBatch.set(key, r);
      const remembered = keys.get(r.petition_id, r.email_key);
      if (remembered) rememberedIds.push(remembered);
      else unknown.push(r);
    });
    const earlier: Map<string, Pick<IntakeRow, 'id' | 'signature_id' | 'payload'>> = processedSqlite(
      database,
      unknown,
    );
    // A remembered row may have been erased since: then the signing is new after all.
    for (const found of intakeSqlite.findIntakeByIds(database, rememberedIds)) {
      earlier.set(keyOf(found), found);
    }
    const fresh: IntakeEntry[] = [];
    for (const [key, r] of firstInBatch) if (!earlier.has(key)) fresh.push(r);
    intakeSqlite.insertIntake(database, fresh);
    if (fresh.length > 0 && options.enqueue !== false) {
      enqueueJobSqlite(database, { queue: INTAKE_QUEUE, payload: { ids: fresh.map((r) => r.id) } });
    }
    return rows.map((r, i) => {
      const key = rowKeys[i]!;
      const before = earlier.get(key);
      if (before) return { inserted: false, intake: before };
      const first = firstInBatch.get(key)!;
      if (first === r) return { inserted: true };
      // The same address twice in one batch (a double click): the second repeats the first.
      return {
        inserted: false,
        intake: { id: first.id, signature_id: null, payload: JSON.stringify(first.payload) },
      };
    });
  }

  /**
   * Turns pending intake rows into people and signatures (the job's work). A batch that fails is
   * retried row by row, so one bad row never holds back the others; a row that fails alone keeps
   * its error and is tried again later (housekeeping). Idempotent: processed rows are skipped.
   */
  async function processIntake(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // Petitions are read before the transaction: SQLite has one connection, held by the transaction.
    const petitions = new Map<string, Petition>();
    for (const petitionId of await store.listIntakePetitionIds(db, ids)) {
      petitions.set(petitionId, await getPetition(petitionId));
    }
    try {
      countProcessed(await db.transaction().execute((trx) => processIntakeIn(trx, ids, petitions)));
      return;
    } catch (error) {
      // An unreachable database is no bad row: the job retries the batch later (row by row, each
      // would wait out the connection timeout in turn).
      if (isConnectionError(error)) throw error;
      if (ids.length === 1) {
        await store.recordIntakeFailure(db, ids[0]!, error instanceof Error ? error.message : String(error));
        throw error;
      }
    }
    let failures = 0;
    let lastError: unknown;
    for (const id of ids) {
      try {
        await processIntake([id]);
      } catch (error) {
        failures++;
        lastError = error;
        if (isConnectionError(error)) throw error;
        log.error({ err: error, intakeId: id }, 'a signature could not be processed; it stays pending');
      }
    }
    // Every row failing alone is no bad row but a failing database: let the job retry later.
    if (failures === ids.length) throw lastError;
  }

  interface Processed {
    id: string;
    status: 'signed' | 'repeat';
    signatureId: string;
    petitionId: string;
    emailKey: string;
    districtId: string | null;
    confirmed: boolean;
  }

  /** The earlier signing a claimed row repeats: a processed row's signature, or a row of its batch. */
  interface RepeatOf {
    signatureId: string | null;
    rowId: string;
  }

  async function processIntakeIn(
    trx: Trx,
    ids: readonly string[],
    petitions: ReadonlyMap<string, Petition>,
  ): Promise<Processed[]> {
    const claimed = await store.claimPendingIntake(trx, ctx.dialect, ids);
    if (claimed.length === 0) return [];
    // PostgreSQL's unique index lets no repeat of an address in: nothing to look for there.
    const repeatOf = pendingKeys ? await findRepeatedKeys(trx, claimed) : new Map<string, RepeatOf>();
    const toSign = claimed.filter((r) => !repeatOf.has(r.id));
    const items: SignItem[] = toSign.map((r) => ({
      ...(JSON.parse(r.payload ?? '{}') as IntakePayload),
      petition: petitions.get(r.petition_id)!,
      signatureId: r.id,
      emailKey: r.email_key,
    }));
    const outcomes = await writeSignatures(trx, items);
    const signatureOf = new Map<string, string>();
    const processed: Processed[] = outcomes.map((outcome, i) => {
      const item = items[i]!;
      const signatureId = outcome.inserted ? outcome.signatureId : outcome.signature.id;
      signatureOf.set(item.signatureId, signatureId);
      return {
        id: item.signatureId,
        status: outcome.inserted ? 'signed' : 'repeat',
        signatureId,
        petitionId: item.petition.row.id,
        emailKey: item.emailKey,
        districtId: item.districtId,
        confirmed: outcome.inserted && !item.requiresConfirmation,
      };
    });
    // A repeat of the same address changes nothing: no merge into the person, no email.
    for (const r of claimed) {
      const earlier = repeatOf.get(r.id);
      if (!earlier) continue;
      processed.push({
        id: r.id,
        status: 'repeat',
        signatureId: earlier.signatureId ?? signatureOf.get(earlier.rowId)!,
        petitionId: r.petition_id,
        emailKey: r.email_key,
        districtId: null,
        confirmed: false,
      });
    }
    await store.markIntakeProcessed(trx, processed, nowIso());
    return processed;
  }

  /**
   * Claimed rows whose address already signed this petition: a processed row of the same key, or
   * an earlier row of the same key in this batch. Only SQLite takes such repeats in (see the 0016
   * migration): from another web process, or past what this process remembers.
   */
  async function findRepeatedKeys(trx: Trx, claimed: readonly IntakeRow[]): Promise<Map<string, RepeatOf>> {
    const repeatOf = new Map<string, RepeatOf>();
    const processed = await findProcessedByKey(trx, claimed);
    const firstRow = new Map<string, string>();
    for (const r of claimed) {
      const key = PendingKeys.key(r.petition_id, r.email_key);
      const signatureId = processed.get(key)?.signature_id;
      if (signatureId) {
        repeatOf.set(r.id, { signatureId, rowId: r.id });
        continue;
      }
      const first = firstRow.get(key);
      if (first) repeatOf.set(r.id, { signatureId: null, rowId: first });
      else firstRow.set(key, r.id);
    }
    return repeatOf;
  }

  function byPetition(
    rows: ReadonlyArray<{ petition_id: string; email_key: string }>,
  ): Map<string, string[]> {
    const keys = new Map<string, string[]>();
    for (const r of rows) {
      const list = keys.get(r.petition_id);
      if (list) list.push(r.email_key);
      else keys.set(r.petition_id, [r.email_key]);
    }
    return keys;
  }

  /** Processed intake rows (signed or repeat) with the keys of these rows, by PendingKeys.key. */
  async function findProcessedByKey(
    trx: Trx,
    rows: ReadonlyArray<{ petition_id: string; email_key: string }>,
  ): Promise<Map<string, IntakeRow>> {
    // SQLite: statements straight on the connection, which this transaction holds.
    if (sqlite) return processedSqlite(sqlite.database, rows);
    const found = new Map<string, IntakeRow>();
    for (const [petitionId, emailKeys] of byPetition(rows)) {
      for (const row of await store.findProcessedIntakeByKeys(trx, petitionId, emailKeys)) {
        found.set(PendingKeys.key(petitionId, row.email_key), row);
      }
    }
    return found;
  }

  function processedSqlite(
    database: Sqlite.Database,
    rows: ReadonlyArray<{ petition_id: string; email_key: string }>,
  ): Map<string, IntakeRow> {
    const found = new Map<string, IntakeRow>();
    for (const [petitionId, emailKeys] of byPetition(rows)) {
      for (const row of intakeSqlite.findProcessedIntakeByKeys(database, petitionId, emailKeys)) {
        found.set(PendingKeys.key(petitionId, row.email_key), row);
      }
    }
    return found;
  }

  /**
   * Once processed rows are committed (in whichever process processed them): counters move, and
   * this process forgets them as pending.
   */
  function countProcessed(processed: readonly Processed[]): void {
    for (const p of processed) {
      pendingKeys?.remove(p.petitionId, p.emailKey, p.id);
      if (p.status === 'signed') counters.add(p.petitionId, p.districtId, 1, p.confirmed ? 1 : 0);
    }
  }

  /** Processes every pending intake row now, in batches (tests, the CLI, benchmarks). */
  async function processPendingIntake(batch = 500): Promise<number> {
    let done = 0;
    for (;;) {
      const ids = await store.listPendingIntake(db, batch);
      if (ids.length === 0) return done;
      await processIntake(ids);
      done += ids.length;
      if (ids.length < batch) return done;
    }
  }

  /** Housekeeping: pending rows whose job gave up (or was lost) get a new job. */
  async function requeueStalledIntake(olderThanMs = INTAKE_STALLED_MS): Promise<number> {
    const before = new Date(Date.now() - olderThanMs).toISOString();
    const ids = await store.listPendingIntake(db, 10_000, before);
    for (let i = 0; i < ids.length; i += 500) {
      await enqueueJob(db, { queue: INTAKE_QUEUE, payload: { ids: ids.slice(i, i + 500) } });
    }
    return ids.length;
  }

  /**
   * Writes a batch of signatures in one transaction: people merged in one call, signatures in one
   * insert (a repeat of (petition, person) is left alone), then each new signer's email queued.
   */
  async function writeSignatures(trx: Trx, items: readonly SignItem[]): Promise<SignOutcome[]> {
    const now = nowIso();
    const people = await deps.people.mergePeople(
      trx,
      items.map((item) => {
        const { fields } = item;
        const source = `petition:${item.petition.row.slug}`;
        return {
          email: fields.email,
          givenName: fields.givenName,
          familyName: fields.familyName,
          language: item.language,
          phone: fields.phone,
          address:
            fields.postalCode || fields.locality
              ? { postalCode: fields.postalCode, locality: fields.locality }
              : null,
          source,
          subscribe: fields.consent,
          consent: fields.consent ? { what: 'email', source, ip: item.meta.ip } : null,
        };
      }),
    );
    const firstOfPair = new Set<string>();
    const rows: NewSignatureRow[] = [];
    items.forEach((item, i) => {
      const personId = people[i]!.personId;
      const pair = `${item.petition.row.id}\n${personId}`;
      if (firstOfPair.has(pair)) return;
      firstOfPair.add(pair);
      const { fields, petition } = item;
      rows.push({
        id: item.signatureId,
        petition_id: petition.row.id,
        person_id: personId,
        signer_name: [fields.givenName, fields.familyName].filter(Boolean).join(' '),
        locality: fields.locality,
        postal_code: fields.postalCode,
        district: item.districtId,
        comment: fields.comment,
        comment_status: fields.comment
          ? petition.row.comment_moderation === 'immediate'
            ? 'approved'
            : 'pending'
          : 'none',
        answers: JSON.stringify(fields.answers),
        source: item.source,
        referrer_code: item.referrer,
        referral_code: item.referralCode,
        language: item.language,
        ip: item.meta.ip,
        user_agent: item.meta.userAgent?.slice(0, 300) ?? null,
        confirmed_at: item.requiresConfirmation ? null : now,
        confirmation_sent_at: item.requiresConfirmation ? now : null,
        created_at: now,
      });
    });
    // Same order in every batch, so concurrent batches on PostgreSQL take index locks alike (no deadlock).
    rows.sort((a, b) => (a.person_id < b.person_id ? -1 : a.person_id > b.person_id ? 1 : 0));
    const inserted = new Set(await store.insertSignaturesIfNew(trx, rows));
    const repeats = items.filter((item) => !inserted.has(item.signatureId));
    const existing = new Map<string, SignatureRow>();
    for (const petitionId of new Set(repeats.map((item) => item.petition.row.id))) {
      const personIds = items
        .map((item, i) =>
          item.petition.row.id === petitionId && !inserted.has(item.signatureId) ? people[i]!.personId : null,
        )
        .filter((id): id is string => id !== null);
      for (const signature of await store.findSignaturesByPeople(trx, petitionId, personIds)) {
        existing.set(`${petitionId}\n${signature.person_id}`, signature);
      }
    }
    const outcomes: SignOutcome[] = [];
    // The batch's emails are queued together at the end: one insert of messages, one of jobs.
    const emails: PetitionEmail[] = [];
    const add = (email: PetitionEmail | null) => {
      if (email) emails.push(email);
    };
    for (const [i, item] of items.entries()) {
      const personId = people[i]!.personId;
      const { petition, fields } = item;
      if (inserted.has(item.signatureId)) {
        const signature = { id: item.signatureId, person_id: personId };
        add(
          item.requiresConfirmation
            ? confirmationEmail(petition, signature, fields.email, item.language, fields.givenName)
            : autoresponseEmail(petition, personId, fields.email, textsFor(petition, item.language).title),
        );
        outcomes.push({ inserted: true, signatureId: item.signatureId, referralCode: item.referralCode });
        continue;
      }
      const signature = existing.get(`${petition.row.id}\n${personId}`);
      if (!signature) throw new Error('signature vanished during signing');
      // Signing again while unconfirmed re-sends the link, at most every RESEND_AFTER_MS.
      if (
        !signature.confirmed_at &&
        (!signature.confirmation_sent_at ||
          Date.parse(signature.confirmation_sent_at) < Date.now() - RESEND_AFTER_MS)
      ) {
        add(confirmationEmail(petition, signature, fields.email, item.language));
        await store.markConfirmationSent(trx, signature.id, now);
        signature.confirmation_sent_at = now;
      }
      outcomes.push({ inserted: false, signature });
    }
    await deps.mail.queueTransactionalMany(trx, emails);
    return outcomes;
  }

  function confirmationLink(slug: string, signatureId: string, language: string, expiresAt?: Date): string {
    const token = makeSignedToken(
      confirmKey,
      CONFIRM_PURPOSE,
      signatureId,
      expiresAt ?? new Date(Date.now() + CONFIRM_TTL_MS),
    );
    const lang = language === 'en' ? '' : `&lang=${language}`;
    return `${config.publicUrl}/petitions/${slug}/confirm?token=${encodeURIComponent(token)}${lang}`;
  }

  function confirmationEmail(
    petition: Petition,
    signature: Pick<SignatureRow, 'id' | 'person_id'>,
    email: string,
    language: string,
    givenName?: string | null,
  ): PetitionEmail {
    const lang = pickLanguage(language);
    const m = messages(lang);
    const texts = textsFor(petition, lang);
    const link = confirmationLink(petition.row.slug, signature.id, lang);
    return {
      to: email,
      subject: m.confirmSubject(texts.title),
      text: m.confirmBody(givenName || (lang === 'es' ? 'amiga o amigo' : 'there'), texts.title, link),
      kind: 'petition.confirm',
      personId: signature.person_id,
    };
  }

  function autoresponseEmail(
    petition: Petition,
    personId: string,
    email: string,
    title: string,
  ): PetitionEmail | null {
    const { autoresponse_subject: subject, autoresponse_body: body } = petition.row;
    if (!subject.trim() || !body.trim()) return null;
    const url = `${config.publicUrl}/petitions/${petition.row.slug}`;
    return {
      to: email,
      subject,
      text: body.replaceAll('{petition_title}', title).replaceAll('{petition_url}', url),
      kind: 'petition.autoresponse',
      personId,
    };
  }

  /** The signature a confirmation link names; a tampered, expired or foreign link is refused. */
  async function signatureForLink(slug: string, token: string) {
    const petition = await getPetitionBySlug(slug);
    const check = verifySignedToken(confirmKey, CONFIRM_PURPOSE, token);
    if (!check.ok) {
      throw new AppError(
        'invalid',
        check.reason === 'expired'
          ? 'This confirmation link has expired. Sign the petition again to get a new one.'
          : 'This confirmation link is not valid. Please use the link from the email exactly as sent.',
      );
    }
    const signature = await store.findSignatureById(db, check.id);
    if (!signature || signature.petition_id !== petition.row.id) {
      throw new AppError('not_found', 'This signature no longer exists.');
    }
    return { petition, signature };
  }

  /**
   * Reads a confirmation link without using it: opening the link only shows a button, so a mail
   * scanner that fetches every link confirms nothing; the person's click (a POST) does.
   */
  async function checkConfirmationLink(
    slug: string,
    token: string,
  ): Promise<{ confirmed: boolean; referralCode: string; petition: Petition }> {
    const { petition, signature } = await signatureForLink(slug, token);
    return { confirmed: signature.confirmed_at !== null, referralCode: signature.referral_code, petition };
  }

  /** Uses a confirmation link: counts the signature once; a tampered or expired link is refused. */
  async function confirmSignature(
    slug: string,
    token: string,
  ): Promise<{ status: 'confirmed' | 'already_confirmed'; referralCode: string; petition: Petition }> {
    const { petition, signature } = await signatureForLink(slug, token);
    // Read before the transaction: on SQLite the transaction holds the only connection.
    const email =
      !signature.confirmed_at && petition.row.autoresponse_subject.trim()
        ? await findEmailForAutoresponse(signature)
        : null;
    const confirmed = await db.transaction().execute(async (trx) => {
      const changed = await store.markSignatureConfirmed(trx, signature.id, nowIso());
      if (changed && email) {
        const texts = textsFor(petition, pickLanguage(signature.language));
        const message = autoresponseEmail(petition, signature.person_id, email, texts.title);
        if (message) await deps.mail.queueTransactional(trx, message);
      }
      return changed;
    });
    if (confirmed) counters.add(petition.row.id, signature.district, 0, 1);
    return {
      status: confirmed ? 'confirmed' : 'already_confirmed',
      referralCode: signature.referral_code,
      petition,
    };
  }

  // The autoresponse after confirmation needs the signer's address; the people service owns it.
  async function findEmailForAutoresponse(signature: SignatureRow): Promise<string | null> {
    try {
      const person = await deps.people.getPerson(signature.person_id);
      const emails = person.emails;
      return (emails.find((e) => e.primary) ?? emails[0])?.address ?? null;
    } catch {
      return null;
    }
  }

  /* ---------- public numbers ---------- */

  async function getPublicCount(slug: string): Promise<PublicCount> {
    const now = Date.now();
    let entry = countCache.get(slug);
    if (entry?.value && now - entry.at < COUNT_CACHE_MS) return entry.value;
    if (!entry) {
      entry = { at: 0 };
      countCache.set(slug, entry);
    }
    if (!entry.loading) {
      // Readers arriving while the count is read share that one read.
      const loading = getPetitionBySlug(slug).then(publicCountOf);
      const target = entry;
      target.loading = loading;
      loading.then(
        (value) => {
          target.value = value;
          target.at = Date.now();
          target.loading = undefined;
        },
        () => {
          target.loading = undefined;
          // Nothing to serve meanwhile (an unknown slug, say): nothing is kept.
          if (!target.value && countCache.get(slug) === target) countCache.delete(slug);
        },
      );
    }
    if (entry.value && now - entry.at < COUNT_STALE_MS) return entry.value;
    return entry.loading!;
  }

  /** Counter table plus unflushed deltas (fresh within this process). */
  async function publicCountOf(petition: Petition): Promise<PublicCount> {
    const snapshot = await counters.read(petition.row.id);
    const names = await districtNameMap(petition.row.id);
    const count = snapshot.confirmed;
    const byDistrict = [...snapshot.byDistrict.entries()]
      .filter(([id, c]) => id !== '' && c.confirmed > 0)
      .map(([id, c]) => ({ id, name: names.get(id) ?? id, count: c.confirmed }))
      .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
    return {
      total: snapshot.total,
      confirmed: snapshot.confirmed,
      count,
      goal: petition.row.goal,
      displayGoal: displayGoal(count, petition.row.goal),
      byDistrict,
    };
  }

  async function listPublicComments(petition: Petition, limit = 20) {
    return store.listComments(db, petition.row.id, ['approved'], limit, true);
  }

  /* ---------- dashboard and delivery ---------- */

  async function getDashboard(id: string) {
    const petition = await getPetition(id);
    await counters.flush();
    const since = new Date(Date.now() - 60 * 24 * 3600_000).toISOString();
    const [exact, byDistrictRaw, perDay, bySource, byReferrer, comments, rejections, names, districtRows] =
      await Promise.all([
        store.countSignatures(db, id),
        store.countSignaturesByDistrict(db, id),
        store.countSignaturesPerDay(db, id, since),
        store.countSignaturesBySource(db, id),
        store.countSignaturesByReferrer(db, id, 20),
        store.listComments(db, id, ['pending', 'approved', 'hidden'], 50, false),
        store.countRejectionsByReason(db, id),
        districtNameMap(id),
        store.countDistrictPostcodes(db, id),
      ]);
    // The dashboard counts exactly; it also puts the public counters right if a batch was lost.
    await db.transaction().execute((trx) => store.replaceCounters(trx, id, byDistrictRaw));
    counters.invalidate(id);
    countCache.delete(petition.row.slug);
    const byDistrict = byDistrictRaw
      .map((d) => ({ id: d.district, name: d.district ? (names.get(d.district) ?? d.district) : '', ...d }))
      .sort((a, b) => b.total - a.total || a.name.localeCompare(b.name));
    return { petition, exact, perDay, bySource, byReferrer, byDistrict, comments, rejections, districtRows };
  }

  async function moderateComment(petitionId: string, signatureId: string, status: 'approved' | 'hidden') {
    const changed = await store.setCommentStatus(db, petitionId, signatureId, status);
    if (!changed) throw new AppError('not_found', 'There is no such comment.');
  }

  /** Confirmed signatures in id order, one keyset page at a time (never all rows in memory). */
  async function* signaturesForDelivery(petitionId: string, district?: string | null, pageSize = 1000) {
    let afterId: string | null = null;
    for (;;) {
      const page = await store.listSignaturesPage(db, petitionId, {
        afterId,
        limit: pageSize,
        confirmedOnly: true,
        ...(district !== undefined ? { district } : {}),
      });
      if (page.length === 0) return;
      yield page;
      if (page.length < pageSize) return;
      afterId = page[page.length - 1]!.id;
    }
  }

  async function deliveryDistricts(petitionId: string) {
    const [ids, names] = await Promise.all([
      store.listSignatureDistricts(db, petitionId),
      districtNameMap(petitionId),
    ]);
    return ids.map((id) => ({ id, name: id ? (names.get(id) ?? id) : null }));
  }

  /**
   * Person ids who signed a petition (confirmed when it requires confirmation), as a subquery
   * other capabilities embed in their audience SQL.
   */
  function signerIdsQuery(petitionId: string) {
    return store.signerIdsSubquery(db, petitionId);
  }

  /**
   * The same signers of any of these petitions, as a subquery of one person's rows (`personId` is
   * a column of the embedding query), for audiences that ask about few candidates.
   */
  function signerIdsOfPersonQuery(petitionIds: readonly string[], personId: Expression<string>) {
    return store.signerIdsOfPersonSubquery(db, petitionIds, personId);
  }

  /** Person ids of counted signers whose source code starts with a prefix (e.g. one mailing's). */
  function signerIdsWithSourcePrefixQuery(prefix: string) {
    return store.signerIdsWithSourcePrefixSubquery(db, ctx.dialect, prefix);
  }

  return {
    createPetition,
    updatePetition,
    publishPetition: (id: string) => setStatus(id, 'open'),
    closePetition: (id: string) => setStatus(id, 'closed'),
    getPetition,
    getPetitionBySlug,
    cachedPetition,
    listPetitions: () => store.listPetitions(db),
    listOpenPetitions: (limit = 20) => store.listOpenPetitions(db, limit),
    textsFor,
    languagesOf,
    bodyHtml,
    importDistricts,
    lookupDistrict,
    signPetition,
    confirmSignature,
    checkConfirmationLink,
    confirmationLink,
    createAltchaChallenge: () => altcha.createChallenge(),
    altchaRequired,
    getPublicCount,
    publicCountOf,
    listPublicComments,
    getDashboard,
    moderateComment,
    signaturesForDelivery,
    deliveryDistricts,
    signerIdsQuery,
    signerIdsOfPersonQuery,
    /** Counted signers of the petitions these groups own (they count as the groups' members). */
    signerIdsOfGroupPetitionsQuery: (groupIds: readonly string[]) =>
      store.signerIdsOfGroupPetitionsSubquery(db, groupIds),
    /** Postal codes the organisation-wide district map puts in these districts (a subquery). */
    postalCodesInDistrictsQuery: (districtIds: readonly string[]) =>
      store.selectPostalCodesInDistricts(db, districtIds),
    signerIdsWithSourcePrefixQuery,
    /** Counted signatures whose source starts with `prefix`, per hour (mail reports). */
    countSignaturesWithSourcePrefixByHour: (prefix: string) =>
      store.countSignaturesWithSourcePrefixByHour(db, ctx.dialect, prefix),
    /**
     * Totals across every petition, for the organisation dashboard: per petition (the counters),
     * and signatures made since `sinceIso` (until `untilIso`) per day and per source (the most
     * frequent `sourceLimit`).
     */
    signatureStats: async (sinceIso: string, options: { untilIso?: string; sourceLimit?: number } = {}) => {
      await counters.flush();
      return {
        perDay: await store.countAllSignaturesPerDay(db, sinceIso, options.untilIso),
        byPetition: await store.countSignaturesPerPetition(db),
        bySource: await store.countAllSignaturesBySource(
          db,
          sinceIso,
          options.sourceLimit ?? 20,
          options.untilIso,
        ),
      };
    },
    /** A person's signatures (their data export). */
    signaturesOfPerson: (personId: string) => store.listSignaturesOfPerson(db, personId),
    /** Erasure: the signatures stay counted, without the signer's name, place, comment or IP. */
    anonymiseSignaturesOfPerson: async (executor: Executor, personId: string) => {
      await store.deleteIntakeOfPerson(executor, personId);
      await store.anonymiseSignaturesOfPerson(executor, personId);
    },
    /**
     * Erasure of signings not processed yet (pending intake keeps what was typed): they are deleted,
     * so they never become signatures (nor count). Rejected attempts lose the hash of the address.
     */
    eraseSigningsOfAddresses: async (executor: Executor, addresses: readonly string[]) => {
      const deleted = await store.deletePendingIntakeByEmailKeys(executor, addresses.map(emailKey));
      await store.clearRejectionEmailHashes(executor, addresses.map(rejectionEmailHash));
      return deleted;
    },
    /** What the intake still holds of signings by these addresses that are not processed yet (data export). */
    pendingSigningsOfAddresses: async (addresses: readonly string[]) =>
      (await store.listPendingIntakeByEmailKeys(db, addresses.map(emailKey))).map((row) => {
        const payload = JSON.parse(row.payload ?? '{}') as Partial<IntakePayload>;
        return {
          petitionId: row.petition_id,
          receivedAt: row.created_at,
          fields: payload.fields ?? null,
          language: payload.language ?? null,
          source: payload.source ?? null,
          meta: payload.meta ?? null,
        };
      }),
    findSignatureByReferralCode: (code: string) =>
      referralCodePattern.test(code)
        ? store.findSignatureByReferralCode(db, code)
        : Promise.resolve(undefined),
    countReferrals: (petitionId: string, code: string) =>
      store.countSignaturesByReferralCode(db, petitionId, code),
    /** Signatures (all petitions or one) whose last change is in `range`, in id order (the API). */
    async listSignaturesChanged(
      petitionId: string | null,
      range: store.SignatureChangedRange,
      limit: number,
      offset: number,
    ): Promise<{ signatures: SignatureRow[]; total: number }> {
      const [total, signatures] = [
        await store.countSignaturesChanged(db, petitionId, range),
        await store.listSignaturesChanged(db, petitionId, range, limit, offset),
      ];
      return { signatures, total };
    },
    async getSignature(id: string): Promise<SignatureRow> {
      const signature = await store.findSignatureById(db, id);
      if (!signature) throw new AppError('not_found', 'There is no such signature.');
      return signature;
    },
    processPendingIntake,
    requeueStalledIntake,
    countIntake: () => store.countIntake(db),
    /** Processes pending signatures, then writes counter deltas and rejection logs (tests, shutdown). */
    flushPending: async () => {
      await processPendingIntake();
      await counters.flush();
    },
    close: () => {
      ipLimiter.close();
      emailLimiter.close();
      return counters.close();
    },
  };
}

/* ---------- validation ---------- */

function minutes(seconds: number, language: Language): string {
  return messages(language).errors.minutes(Math.ceil(seconds / 60));
}

function normalisePostal(value: string | null | undefined): string | null {
  const text = (value ?? '').trim().toUpperCase().replace(/\s+/g, ' ');
  return text ? text.slice(0, 20) : null;
}

/** What a rejected signing attempt keeps of the address (to see one address retried many times). */
function rejectionEmailHash(email: string): string {
  return createHash('sha256').update(email).digest('hex').slice(0, 32);
}

/** The intake's uniqueness key: derived from the address, so processed rows keep no email. */
function emailKey(email: string): string {
  return hash('sha256', email, 'base64url').slice(0, 32);
}

function cleanCode(value: string | undefined): string | null {
  const text = (value ?? '').trim().slice(0, 100);
  return /^[\w.:/-]+$/.test(text) ? text : null;
}

function text(value: string | undefined | null, max: number): string | null {
  // Control characters have no place in names or comments (they break CSV and PDF output).
  // eslint-disable-next-line no-control-regex
  const trimmed = (value ?? '').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').trim();
  return trimmed ? trimmed.slice(0, max) : null;
}

function checkRule(rule: FieldRule, value: string | null, label: string, language: Language): string | null {
  if (rule === 'hidden') return null;
  if (rule === 'required' && !value) throw new AppError('invalid', messages(language).errors.required(label));
  return value;
}

function validateSignInput(
  input: SignInput,
  settings: FormSettings,
  language: Language,
  nameOptional = false,
) {
  const m = messages(language);
  // The people capability's own rule: an address accepted here is one the job can merge.
  const email = tryNormaliseEmail(input.email);
  if (!email) throw new AppError('invalid', m.errors.email);
  const givenName = text(input.givenName, 100);
  if (!givenName && !nameOptional) throw new AppError('invalid', m.errors.givenName);
  const familyName = text(input.familyName, 100);
  const postalCode = checkRule(
    settings.postalCode,
    normalisePostal(input.postalCode),
    m.postalCode,
    language,
  );
  const locality = checkRule(settings.locality, text(input.locality, 100), m.city, language);
  const phoneText = text(input.phone, 40);
  if (phoneText && !/^[+()\d\s.-]{5,40}$/.test(phoneText)) throw new AppError('invalid', m.errors.phone);
  const phone = checkRule(settings.phone, phoneText, m.phone, language);
  const answers: Record<string, string> = {};
  for (const question of settings.questions) {
    const answer = text(input.answers?.[question.id], 1000);
    if (question.required && !answer) throw new AppError('invalid', m.errors.answer(question.label));
    if (answer) answers[question.id] = answer;
  }
  const comment = text(input.comment, 2000);
  return {
    email,
    givenName,
    familyName,
    postalCode,
    locality,
    phone,
    answers,
    comment,
    consent: input.consent === true,
  };
}

export function parseFormSettings(json: string): FormSettings {
  try {
    return normaliseFormSettings(JSON.parse(json) as Partial<FormSettings>);
  } catch {
    return normaliseFormSettings({});
  }
}

const rules: readonly FieldRule[] = ['required', 'optional', 'hidden'];

function normaliseFormSettings(value: Partial<FormSettings> | undefined): FormSettings {
  const rule = (v: unknown, fallback: FieldRule): FieldRule =>
    rules.includes(v as FieldRule) ? (v as FieldRule) : fallback;
  const questions = Array.isArray(value?.questions) ? value.questions : [];
  return {
    postalCode: rule(value?.postalCode, defaultFormSettings.postalCode),
    locality: rule(value?.locality, defaultFormSettings.locality),
    phone: rule(value?.phone, defaultFormSettings.phone),
    questions: questions
      .filter((q) => q && typeof q.label === 'string' && q.label.trim())
      .slice(0, 20)
      .map((q, i) => ({
        id: typeof q.id === 'string' && /^[a-z0-9_-]{1,40}$/.test(q.id) ? q.id : `q${i + 1}`,
        label: q.label.trim().slice(0, 300),
        required: q.required === true,
      })),
  };
}

function httpUrl(value: string | null | undefined, label: string): string | null {
  const trimmed = (value ?? '').trim();
  if (!trimmed) return null;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new AppError('invalid', `${label} must be a full web address starting with https://.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('invalid', `${label} must start with https:// or http://.`);
  }
  return url.toString();
}

function validatePetitionInput(input: PetitionInput) {
  const slug = (input.slug ?? '').trim().toLowerCase();
  if (!slugPattern.test(slug) || slug.length > 80) {
    throw new AppError(
      'invalid',
      'The address must be lower-case letters, digits and single dashes (e.g. "save-the-park").',
    );
  }
  const title = (input.title ?? '').trim();
  if (!title || title.length > 200)
    throw new AppError('invalid', 'The title is required (up to 200 characters).');
  const goal = input.goal ?? 100;
  if (!Number.isInteger(goal) || goal < 1 || goal > 1_000_000_000) {
    throw new AppError('invalid', 'The goal must be a whole number of at least 1.');
  }
  const endDate = (input.endDate ?? '').trim() || null;
  if (endDate && (!/^\d{4}-\d{2}-\d{2}$/.test(endDate) || Number.isNaN(Date.parse(endDate)))) {
    throw new AppError('invalid', 'The end date must be a date like 2026-12-31.');
  }
  const moderation: CommentModeration = input.commentModeration === 'immediate' ? 'immediate' : 'moderated';
  const language = pickLanguage(input.language);
  const targets = (input.targets ?? [])
    .map((t) => ({
      name: (t.name ?? '').trim().slice(0, 200),
      title: text(t.title, 200),
      district: text(t.district, 100),
      email: text(t.email, 254),
    }))
    .filter((t) => t.name);
  for (const t of targets) {
    if (t.email && !emailPattern.test(t.email))
      throw new AppError('invalid', `The email of target ${t.name} is not valid.`);
  }
  const translations = (input.translations ?? [])
    .filter((t) => t.language && t.title?.trim() && pickLanguage(t.language) !== language)
    .map((t) => ({
      language: pickLanguage(t.language),
      title: t.title.trim().slice(0, 200),
      summary: (t.summary ?? '').trim().slice(0, 2000),
      body: (t.body ?? '').slice(0, 100_000),
      thank_you_message: (t.thankYouMessage ?? '').trim().slice(0, 5000),
    }));
  return {
    row: {
      slug,
      language,
      title,
      summary: (input.summary ?? '').trim().slice(0, 2000),
      body: (input.body ?? '').slice(0, 100_000),
      image_url: httpUrl(input.imageUrl, 'The image address'),
      bill_reference: text(input.billReference, 100),
      bill_url: httpUrl(input.billUrl, 'The bill link'),
      goal,
      end_date: endDate,
      group_id: text(input.groupId, 100),
      form_settings: JSON.stringify(normaliseFormSettings(input.formSettings)),
      requires_confirmation: input.requiresConfirmation === false ? 0 : 1,
      comment_moderation: moderation,
      altcha_enabled: input.altchaEnabled === false ? 0 : 1,
      thank_you_message: (input.thankYouMessage ?? '').trim().slice(0, 5000),
      autoresponse_subject: (input.autoresponseSubject ?? '').trim().slice(0, 300),
      autoresponse_body: (input.autoresponseBody ?? '').slice(0, 20_000),
    },
    targets,
    translations,
  };
}
