import type { AppContext } from '../../context.ts';
import { AppError } from '../../errors.ts';
import { newId, nowIso } from '../../ids.ts';
import { enqueueJob, enqueueJobs } from '../../jobs/index.ts';
import {
  findEmailStatus,
  listAllTagAndListNames,
  listListsOfPerson,
  listMergeFields,
  removeFromList,
  selectReachableEmails,
  updateEmailStatus,
  type PeopleAudienceFilter,
  type ReachableEmailQuery,
} from '../../people/audience/index.ts';
import type { Executor } from '../../db/index.ts';
import { tryNormaliseEmail } from '../../people/normalize.ts';
import { parseAudience, type AudienceDefinition } from '../audience/definition.ts';
import * as audienceStore from '../audience/store.ts';
import { BULK_PRIORITY, BULK_QUEUE, BulkSender, senderJobs } from '../sending/sender.ts';
import { buildBulkMessage } from '../sending/message.ts';
import { MailTokens } from '../tracking/tokens.ts';
import { createMailTransport, type MailTransport } from '../transport.ts';
import { CompiledMailing, type RecipientFields, type RenderedMessage } from './render.ts';
import type { PetitionsForMail } from './sources.ts';
import type { PersonIdSubquery } from '../../people/audience/index.ts';

/** Group members for the "in group" audience criterion (the groups capability provides it). */
export interface GroupsForMail {
  memberIdsQuery(groupIds: readonly string[], executor: Executor): Promise<PersonIdSubquery>;
  /** Group ids a user's rights are limited to (a group leader's), or null for the whole organisation. */
  scopeFor?(actor: MailActor): Promise<string[] | null>;
  /** Groups the user may choose in the "in group" criterion, indented as a tree. */
  groupChoices?(actor: MailActor | null): Promise<Array<{ id: string; name: string }>>;
}

/**
 * The signed-in user on whose behalf a mailing is read, composed or counted. A group leader's
 * mailings only ever reach (and their counts and previews only ever show) their groups' members.
 */
export interface MailActor {
  id: string;
  role: string;
}
import * as store from './store.ts';
import type { MailEventKind, MailingRow, MailingStatus } from './tables.ts';

export const MAILING_START_QUEUE = 'mail.start';

export interface MailingInput {
  name?: string;
  fromName: string;
  fromAddress: string;
  replyTo?: string | null;
  subject: string;
  subjectB?: string | null;
  /** Share of the audience in the A/B test (the rest waits for the winner); 100 = split everyone. */
  abTestPercent?: number;
  preheader?: string | null;
  body: string;
  format: 'markdown' | 'html';
  layout?: 'default' | 'plain';
  audience?: AudienceDefinition | string;
  petitionId?: string | null;
  tracking?: boolean;
  /** Messages per second; 0 or unset: the configured default. */
  rate?: number;
}

export interface MailingReport {
  mailing: MailingRow;
  recipients: number;
  states: Record<string, number>;
  sent: number;
  delivered: number;
  bounced: number;
  opened: number;
  clicked: number;
  unsubscribed: number;
  complained: number;
  signatures: number;
  variants: Array<{
    variant: string;
    subject: string;
    sent: number;
    opened: number;
    clicked: number;
    signatures: number;
  }>;
  winner: { variant: string; by: 'signatures' | 'clicks' } | null;
  /** Messages sent, events and signatures per hour (UTC), oldest first. */
  hourly: store.HourlyRow[];
}

export interface BounceReport {
  kind: 'bounce' | 'complaint' | 'delivered';
  /** Permanent (hard) bounce; soft bounces are recorded but never suppress. */
  hard?: boolean;
  email?: string | null;
  mailingId?: string | null;
  personId?: string | null;
  messageId?: string | null;
  reason?: string | null;
}

const sending: readonly MailingStatus[] = ['sending'];

function hexDigits(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => (from + i).toString(16));
}

/** Writes a line on a person's timeline (the people service's addActivity). */
export type ActivityWriter = (
  personId: string,
  kind: string,
  summary: string,
  details?: unknown,
) => Promise<void>;

const ourMessageId = /^<?m\.([0-9a-f-]{36})\.([0-9a-f-]{36})@[^>]+>?$/i;

export function createMailingsService(
  ctx: AppContext,
  options: {
    petitions?: PetitionsForMail | null;
    transport?: MailTransport;
    activity?: ActivityWriter;
    groups?: GroupsForMail | null;
  } = {},
) {
  const { db, config } = ctx;
  const tokens = new MailTokens(config.secretKey);
  const transport =
    options.transport ??
    createMailTransport(config, db, { pool: true, maxConnections: config.bulkMail.concurrency });
  let petitions: PetitionsForMail | null = options.petitions ?? null;

  async function compile(mailing: MailingRow): Promise<CompiledMailing> {
    const petitionUrl =
      mailing.petition_id && petitions ? await petitions.petitionUrl(mailing.petition_id) : null;
    return new CompiledMailing(mailing, {
      publicUrl: config.publicUrl,
      orgName: config.orgName,
      orgPostalAddress: config.bulkMail.orgPostalAddress,
      tokens,
      petitionUrl,
    });
  }

  async function noteActivity(personId: string | null, kind: string, summary: string, details?: unknown) {
    if (!personId || !options.activity) return;
    try {
      await options.activity(personId, kind, summary, details);
    } catch (error) {
      ctx.log.warn({ err: error, kind }, 'could not write the timeline entry');
    }
  }

  async function suppress(email: string, reason: string, details: string | null): Promise<void> {
    const now = nowIso();
    const added = await store.insertSuppression(db, email, reason, details, now);
    let personId: string | null = null;
    if (reason === 'bounce') personId = await updateEmailStatus(db, email, 'bouncing', now);
    else if (reason === 'complaint') personId = await updateEmailStatus(db, email, 'complained', now);
    if (added && personId) {
      await noteActivity(
        personId,
        `email.${reason}`,
        reason === 'complaint'
          ? `${email} reported a mailing as spam`
          : `${email} bounced; no more email to it`,
        { email, details },
      );
    }
  }

  const sender = new BulkSender({
    ctx,
    transport,
    tokens,
    get petitions() {
      return petitions;
    },
    compile,
    async onHardBounce(mailingId, personId, email, reason) {
      await suppress(email, 'bounce', reason);
      await store.insertMailEvent(db, {
        mailingId,
        personId,
        email,
        kind: 'bounce',
        details: reason,
        at: nowIso(),
      });
    },
  });

  /** (Re)registers this instance's job handlers; creating the service does it once. */
  function registerJobs(): void {
    ctx.jobs.register(BULK_QUEUE, async (payload) => {
      const outageAttempt = typeof payload.outageAttempt === 'number' ? payload.outageAttempt : undefined;
      // Jobs queued before sender slots carry no slot: they are slot 0.
      const slot = typeof payload.slot === 'number' ? payload.slot : 0;
      await sender.runJob(String(payload.mailingId), {
        slot,
        ...(outageAttempt !== undefined ? { outageAttempt } : {}),
      });
    });
    ctx.jobs.register(MAILING_START_QUEUE, async (payload) => {
      const mailing = await store.findMailing(db, String(payload.mailingId));
      // Idempotent: a cancelled or rescheduled mailing is left alone.
      if (!mailing || mailing.status !== 'scheduled') return;
      if (mailing.scheduled_at && mailing.scheduled_at > nowIso()) return;
      await startSending(mailing.id);
    });
  }
  registerJobs();

  /** The group ids an actor is limited to; null for organisation-wide users (and no actor). */
  async function scopeOf(actor: MailActor | null | undefined): Promise<string[] | null> {
    if (!actor || !options.groups?.scopeFor) return null;
    return options.groups.scopeFor(actor);
  }

  function storedScope(mailing: MailingRow): string[] | null {
    if (mailing.scope_group_ids === null) return null;
    try {
      const ids: unknown = JSON.parse(mailing.scope_group_ids);
      return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
    } catch {
      // Unreadable scope: reach nobody rather than everyone.
      return [];
    }
  }

  /** Whether a limited actor may see a mailing: only mailings limited to groups within their own. */
  function withinScope(mailing: MailingRow, scope: string[] | null): boolean {
    if (scope === null) return true;
    const limited = storedScope(mailing);
    return limited !== null && limited.every((id) => scope.includes(id));
  }

  async function audienceFilter(
    executor: Executor,
    audience: AudienceDefinition,
    scope: readonly string[] | null = null,
  ): Promise<PeopleAudienceFilter> {
    const include = [];
    if (scope !== null) {
      // Always intersected with the scope's members, whatever the criteria say.
      if (!options.groups) throw new AppError('forbidden', 'Group-limited mailings need the groups module.');
      include.push(await options.groups.memberIdsQuery(scope, executor));
    }
    if (audience.groups?.length) {
      if (!options.groups) throw new AppError('invalid', 'Group criteria need the groups module.');
      include.push(await options.groups.memberIdsQuery(audience.groups, executor));
    }
    const exclude = [];
    if (audience.signed?.length || audience.notSigned?.length) {
      if (!petitions) throw new AppError('invalid', 'Petition criteria need the petitions module.');
      if (audience.signed?.length) include.push(petitions.signersOfAny(audience.signed));
      if (audience.notSigned?.length) exclude.push(petitions.signersOfAny(audience.notSigned));
    }
    if (audience.opened?.length)
      include.push(audienceStore.selectEngagedPeople(executor, audience.opened, 'open'));
    if (audience.clicked?.length)
      include.push(audienceStore.selectEngagedPeople(executor, audience.clicked, 'click'));
    return {
      ...(audience.lists ? { lists: audience.lists } : {}),
      ...(audience.tags ? { tags: audience.tags } : {}),
      ...(audience.excludeTags ? { excludeTags: audience.excludeTags } : {}),
      ...(audience.postalCodes ? { postalCodes: audience.postalCodes } : {}),
      ...(audience.districts
        ? {
            districts: audience.districts,
            ...(petitions
              ? { districtPostalCodes: petitions.selectDistrictPostalCodes(audience.districts) }
              : {}),
          }
        : {}),
      ...(audience.languages ? { languages: audience.languages } : {}),
      include,
      exclude,
      excludeAddresses: [audienceStore.selectSuppressedAddresses(executor)],
    };
  }

  async function audienceQuery(
    executor: Executor,
    audience: AudienceDefinition,
    scope: readonly string[] | null = null,
  ): Promise<ReachableEmailQuery> {
    return selectReachableEmails(executor, await audienceFilter(executor, audience, scope));
  }

  /**
   * Exact number of people a definition reaches right now (subscribed, not suppressed); for a
   * group leader, only among their groups' members.
   */
  async function countAudience(
    audience: AudienceDefinition | string | unknown,
    actor?: MailActor | null,
  ): Promise<number> {
    const scope = await scopeOf(actor);
    return audienceStore.countDistinctPeople(db, await audienceQuery(db, parseAudience(audience), scope));
  }

  /** Refuses "in group" criteria outside a leader's groups (the scope would reach nobody there anyway). */
  function checkGroupsInScope(input: MailingInput, scope: string[] | null): void {
    if (scope === null) return;
    const groups = parseAudience(input.audience ?? {}).groups ?? [];
    if (groups.some((id) => !scope.includes(id)))
      throw new AppError('forbidden', 'You can only mail the members of the groups you lead.');
  }

  function rowFromInput(
    input: MailingInput,
  ): Omit<
    MailingRow,
    | 'id'
    | 'status'
    | 'created_at'
    | 'updated_at'
    | 'created_by'
    | 'scheduled_at'
    | 'started_at'
    | 'finished_at'
    | 'pause_reason'
    | 'lease_until'
    | 'ab_winner'
    | 'scope_group_ids'
  > {
    const fromAddress = tryNormaliseEmail(input.fromAddress);
    if (!fromAddress) throw new AppError('invalid', 'The from address is not a valid email address.');
    const fromName = input.fromName.trim();
    if (!fromName) throw new AppError('invalid', 'A from name is required.');
    const subject = input.subject.trim();
    if (!subject) throw new AppError('invalid', 'A subject is required.');
    if (!input.body.trim()) throw new AppError('invalid', 'The message body is empty.');
    if (input.format !== 'markdown' && input.format !== 'html')
      throw new AppError('invalid', 'Format must be markdown or html.');
    const replyTo = input.replyTo ? tryNormaliseEmail(input.replyTo) : null;
    if (input.replyTo && !replyTo) throw new AppError('invalid', 'The reply-to address is not valid.');
    const percent = input.abTestPercent ?? 100;
    if (!Number.isInteger(percent) || percent < 10 || percent > 100) {
      throw new AppError('invalid', 'The A/B test share must be between 10 and 100 percent.');
    }
    const rate = input.rate ?? 0;
    if (!Number.isInteger(rate) || rate < 0 || rate > 100_000)
      throw new AppError('invalid', 'The rate is not valid.');
    const row = {
      name: (input.name ?? subject).trim().slice(0, 200),
      from_name: fromName.slice(0, 200),
      from_address: fromAddress,
      reply_to: replyTo,
      subject: subject.slice(0, 500),
      subject_b: input.subjectB?.trim() ? input.subjectB.trim().slice(0, 500) : null,
      ab_test_percent: percent,
      preheader: input.preheader?.trim() ? input.preheader.trim().slice(0, 500) : null,
      body: input.body,
      format: input.format,
      layout: input.layout === 'plain' ? 'plain' : 'default',
      audience: JSON.stringify(parseAudience(input.audience ?? {})),
      petition_id: input.petitionId?.trim() ? input.petitionId.trim() : null,
      tracking: input.tracking === false ? 0 : 1,
      rate,
    };
    // Unknown merge tags fail here, at compose time, not halfway through a send.
    new CompiledMailing(
      { id: 'check', ...row },
      {
        publicUrl: config.publicUrl,
        orgName: config.orgName,
        orgPostalAddress: '',
        tokens,
        petitionUrl: null,
      },
    );
    return row;
  }

  /** The mailing; with an actor, not found unless it is within their scope. */
  async function getMailing(id: string, actor?: MailActor | null): Promise<MailingRow> {
    const mailing = await store.findMailing(db, id);
    if (!mailing || !withinScope(mailing, await scopeOf(actor)))
      throw new AppError('not_found', 'There is no such mailing.');
    return mailing;
  }

  /**
   * A new draft. With an actor who leads groups (and is not an admin), the mailing is limited for
   * good to those groups' members: whoever sends it later, recipients are chosen among them.
   */
  async function createMailing(
    input: MailingInput,
    createdBy: string | null = null,
    actor?: MailActor | null,
  ): Promise<string> {
    const scope = await scopeOf(actor);
    checkGroupsInScope(input, scope);
    const id = newId();
    const now = nowIso();
    await store.insertMailing(db, {
      id,
      ...rowFromInput(input),
      scope_group_ids: scope === null ? null : JSON.stringify(scope),
      status: 'draft',
      ab_winner: null,
      scheduled_at: null,
      started_at: null,
      finished_at: null,
      pause_reason: null,
      lease_until: null,
      created_by: createdBy,
      created_at: now,
      updated_at: now,
    });
    return id;
  }

  async function updateDraft(id: string, input: MailingInput, actor?: MailActor | null): Promise<void> {
    const mailing = await getMailing(id, actor);
    checkGroupsInScope(input, await scopeOf(actor));
    if (mailing.status !== 'draft' && mailing.status !== 'scheduled') {
      throw new AppError('conflict', 'Only a draft or scheduled mailing can be edited.');
    }
    await store.updateMailing(db, id, { ...rowFromInput(input), updated_at: nowIso() }, [
      'draft',
      'scheduled',
    ]);
  }

  /**
   * Materialises the recipients (one INSERT … SELECT, unique per person), splits the A/B test and
   * queues the first sending job, all in one transaction.
   */
  async function startSending(id: string): Promise<number> {
    // The audience SQL is built before the transaction: building it reads groups and petitions,
    // which must not wait on the transaction's own connection (SQLite has one).
    const draft = await store.findMailing(db, id);
    if (!draft) throw new AppError('not_found', 'There is no such mailing.');
    const reachable = await audienceQuery(db, parseAudience(draft.audience), storedScope(draft));
    return db.transaction().execute(async (trx) => {
      const mailing = await store.findMailing(trx, id);
      if (!mailing) throw new AppError('not_found', 'There is no such mailing.');
      if (mailing.status !== 'draft' && mailing.status !== 'scheduled') {
        throw new AppError('conflict', `This mailing is ${mailing.status}; it cannot be started again.`);
      }
      if (mailing.audience !== draft.audience || mailing.scope_group_ids !== draft.scope_group_ids)
        throw new AppError('conflict', 'The audience changed while sending started; please try again.');
      const ab = Boolean(mailing.subject_b);
      const testing = ab && mailing.ab_test_percent < 100;
      const count = await audienceStore.insertRecipientsFrom(trx, id, reachable, testing ? 'held' : 'queued');
      if (ab) {
        // The last hex digit of a person id is random: digits split the audience evenly.
        const share = testing
          ? Math.max(2, Math.min(15, Math.round((mailing.ab_test_percent / 100) * 16)))
          : 16;
        const half = Math.floor(share / 2);
        await store.assignVariantByLastDigit(trx, id, hexDigits(half, share), 'B');
        if (testing) await store.queueRecipientsByLastDigit(trx, id, hexDigits(0, share));
      }
      const now = nowIso();
      await store.updateMailing(trx, id, {
        status: 'sending',
        started_at: now,
        updated_at: now,
        pause_reason: null,
      });
      await enqueueJobs(trx, senderJobs(ctx, id));
      ctx.log.info({ mailingId: id, recipients: count }, 'mailing started');
      return count;
    });
  }

  /** Sends now (at = null) or at a later time. */
  async function scheduleMailing(id: string, at: Date | null = null): Promise<void> {
    const mailing = await getMailing(id);
    if (mailing.status !== 'draft' && mailing.status !== 'scheduled') {
      throw new AppError('conflict', `This mailing is ${mailing.status}; it cannot be scheduled.`);
    }
    if (!at || at.getTime() <= Date.now()) {
      await startSending(id);
      return;
    }
    await db.transaction().execute(async (trx) => {
      await store.updateMailing(
        trx,
        id,
        { status: 'scheduled', scheduled_at: at.toISOString(), updated_at: nowIso() },
        ['draft', 'scheduled'],
      );
      await enqueueJob(trx, {
        queue: MAILING_START_QUEUE,
        payload: { mailingId: id },
        runAt: at,
        priority: BULK_PRIORITY,
      });
    });
  }

  async function cancelMailing(id: string): Promise<void> {
    const mailing = await getMailing(id);
    if (!['draft', 'scheduled', 'sending', 'paused'].includes(mailing.status)) {
      throw new AppError('conflict', `This mailing is ${mailing.status}; it cannot be cancelled.`);
    }
    await store.updateMailing(db, id, { status: 'cancelled', finished_at: nowIso(), updated_at: nowIso() }, [
      'draft',
      'scheduled',
      'sending',
      'paused',
    ]);
  }

  async function pauseMailing(id: string): Promise<void> {
    const ok = await store.updateMailing(
      db,
      id,
      { status: 'paused', pause_reason: 'manual', updated_at: nowIso() },
      sending,
    );
    if (!ok) throw new AppError('conflict', 'Only a mailing that is sending can be paused.');
  }

  async function resumeMailing(id: string): Promise<void> {
    await db.transaction().execute(async (trx) => {
      const ok = await store.updateMailing(
        trx,
        id,
        { status: 'sending', pause_reason: null, updated_at: nowIso() },
        ['paused'],
      );
      if (!ok) throw new AppError('conflict', 'Only a paused mailing can be resumed.');
      await enqueueJobs(trx, senderJobs(ctx, id));
    });
  }

  /** A/B: sends the chosen (or winning) subject to everyone held back. */
  async function sendWinnerToRest(id: string, variant?: 'A' | 'B'): Promise<number> {
    const report = await mailingReport(id);
    const chosen = variant ?? report.winner?.variant;
    if (chosen !== 'A' && chosen !== 'B')
      throw new AppError('invalid', 'There is no winner yet; choose a variant.');
    return db.transaction().execute(async (trx) => {
      const released = await store.releaseHeldRecipients(trx, id, chosen);
      if (released === 0) throw new AppError('conflict', 'Nobody is waiting for the winning subject.');
      await store.updateMailing(
        trx,
        id,
        { ab_winner: chosen, status: 'sending', pause_reason: null, updated_at: nowIso() },
        ['paused', 'sending'],
      );
      await enqueueJobs(trx, senderJobs(ctx, id));
      return released;
    });
  }

  async function recipientFields(
    personId: string | null,
    email: string,
    variant: string,
  ): Promise<RecipientFields> {
    if (!personId)
      return { personId: '00000000-0000-7000-8000-000000000000', email, variant, givenName: null };
    const [row] = await listMergeFields(db, [personId]);
    if (!row) throw new AppError('not_found', 'There is no such person.');
    return {
      personId,
      email,
      variant,
      givenName: row.given_name,
      familyName: row.family_name,
      postalCode: row.postal_code,
      locality: row.locality,
    };
  }

  /** The message as a given person (or a nameless sample) would receive it; links untracked. */
  async function previewMailing(
    id: string,
    personId: string | null = null,
    variant = 'A',
  ): Promise<RenderedMessage> {
    const mailing = await getMailing(id);
    const compiled = await compile({ ...mailing, tracking: 0 });
    return compiled.render(
      await recipientFields(personId, 'preview@example.org', variant === 'B' ? 'B' : 'A'),
    );
  }

  /**
   * The person id behind an address, for "preview as" and "test as"; a group leader finds only
   * their groups' members (others read as unknown).
   */
  async function personIdByEmail(email: string, actor?: MailActor | null): Promise<string> {
    const address = tryNormaliseEmail(email);
    const found = address ? await findEmailStatus(db, address) : undefined;
    const scope = await scopeOf(actor);
    const visible =
      found &&
      (scope === null ||
        (await audienceStore.isPersonAmong(
          db,
          found.person_id,
          await options.groups!.memberIdsQuery(scope, db),
        )));
    if (!found || !visible) throw new AppError('invalid', `Nobody has the address ${email.slice(0, 100)}.`);
    return found.person_id;
  }

  /** A short-lived signed address for the framed HTML preview (served outside the admin's CSP). */
  function previewToken(id: string, personId: string | null, variant: string, expires: number): string {
    return tokens.sign('preview', id, personId ?? '', variant, String(expires));
  }

  /** Sends one test message (with all bulk headers) to any address, now; nothing is recorded. */
  async function sendTestMessage(id: string, to: string, personId: string | null = null): Promise<void> {
    const address = tryNormaliseEmail(to);
    if (!address) throw new AppError('invalid', 'The test address is not valid.');
    const mailing = await getMailing(id);
    const compiled = await compile(mailing);
    const message = buildBulkMessage(
      {
        mailingId: mailing.id,
        fromName: mailing.from_name,
        fromAddress: mailing.from_address,
        replyTo: mailing.reply_to,
        orgName: config.orgName,
        settings: config.bulkMail,
        tokens,
      },
      compiled,
      await recipientFields(personId, address, 'A'),
    );
    message.subject = `[Test] ${String(message.subject)}`;
    message.to = address;
    message.envelope = { from: mailing.from_address, to: address };
    message.messageId = `<test.${newId()}@${mailing.from_address.split('@')[1]}>`;
    try {
      await transport.send(message);
    } catch (error) {
      throw new AppError(
        'invalid',
        `The test message was not accepted: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async function mailingReport(id: string): Promise<MailingReport> {
    const mailing = await getMailing(id);
    const states = await store.countRecipientsByState(db, id);
    const events = await store.countEventPeople(db, id);
    const sentByVariant = await store.countSentByVariant(db, id);
    const signaturesByVariant = petitions
      ? await store.countRecipientsAmong(db, id, petitions.selectSignersWithSourcePrefix(db, `m.${id}.`))
      : {};
    const eventTotal = (kind: MailEventKind) =>
      events.filter((e) => e.kind === kind).reduce((sum, e) => sum + e.n, 0);
    const eventOf = (kind: MailEventKind, variant: string) =>
      events.find((e) => e.kind === kind && e.variant === variant)?.n ?? 0;
    const variantNames = mailing.subject_b ? ['A', 'B'] : ['A'];
    const variants = variantNames.map((variant) => ({
      variant,
      subject: variant === 'B' ? mailing.subject_b! : mailing.subject,
      sent: sentByVariant[variant] ?? 0,
      opened: Math.max(eventOf('open', variant), eventOf('click', variant)),
      clicked: eventOf('click', variant),
      signatures: signaturesByVariant[variant] ?? 0,
    }));
    let winner: MailingReport['winner'] = null;
    if (variants.length === 2) {
      const [a, b] = variants as [(typeof variants)[0], (typeof variants)[0]];
      const rate = (n: number, of: number) => (of > 0 ? n / of : 0);
      if (a.signatures + b.signatures > 0 && rate(a.signatures, a.sent) !== rate(b.signatures, b.sent)) {
        winner = {
          variant: rate(a.signatures, a.sent) > rate(b.signatures, b.sent) ? 'A' : 'B',
          by: 'signatures',
        };
      } else if (a.clicked + b.clicked > 0 && rate(a.clicked, a.sent) !== rate(b.clicked, b.sent)) {
        winner = { variant: rate(a.clicked, a.sent) > rate(b.clicked, b.sent) ? 'A' : 'B', by: 'clicks' };
      }
    }
    const total = Object.values(states).reduce((sum, n) => sum + n, 0);
    return {
      mailing,
      recipients: total,
      states,
      sent: (states.sent ?? 0) + (states.bounced ?? 0),
      delivered: eventTotal('delivered'),
      bounced: states.bounced ?? 0,
      // Distinct people who opened or clicked (a click proves an open even with images off).
      opened: events.length ? await countOpenedPeople(id) : 0,
      clicked: eventTotal('click'),
      unsubscribed: eventTotal('unsubscribe'),
      complained: eventTotal('complaint'),
      signatures: Object.values(signaturesByVariant).reduce((sum, n) => sum + n, 0),
      variants,
      winner,
      hourly: await store.countActivityByHour(
        db,
        id,
        petitions ? await petitions.countSignaturesWithSourcePrefixByHour(`m.${id}.`) : [],
      ),
    };
  }

  async function countOpenedPeople(id: string): Promise<number> {
    return store
      .countRecipientsAmong(db, id, audienceStore.selectEngagedPeople(db, [id], 'open'))
      .then((byVariant) => Object.values(byVariant).reduce((sum, n) => sum + n, 0));
  }

  // ---- public links: tracking, unsubscribe, preferences ----

  async function recordOpen(mailingId: string, personId: string, signature: string): Promise<boolean> {
    if (!tokens.verify('open', signature, mailingId, personId)) return false;
    const recipient = await store.findRecipient(db, mailingId, personId);
    if (!recipient) return false;
    await store.insertMailEvent(db, { mailingId, personId, kind: 'open', at: nowIso() });
    return true;
  }

  /** Returns the destination when the link is genuine (signed for this mailing, person and URL). */
  async function recordClick(
    mailingId: string,
    personId: string,
    signature: string,
    url: string,
  ): Promise<string | null> {
    if (!tokens.verify('click', signature, mailingId, personId, url)) return null;
    if (!/^https?:\/\//i.test(url)) return null;
    const recipient = await store.findRecipient(db, mailingId, personId);
    if (recipient)
      await store.insertMailEvent(db, {
        mailingId,
        personId,
        kind: 'click',
        url: url.slice(0, 2000),
        at: nowIso(),
      });
    return url;
  }

  function verifyUnsubscribe(mailingId: string, personId: string, signature: string): boolean {
    return tokens.verify('unsubscribe', signature, mailingId, personId);
  }

  async function recipientOrThrow(mailingId: string, personId: string, signature: string) {
    if (!verifyUnsubscribe(mailingId, personId, signature))
      throw new AppError('not_found', 'This link is not valid.');
    const recipient = await store.findRecipient(db, mailingId, personId);
    if (!recipient) throw new AppError('not_found', 'This link is not valid.');
    return recipient;
  }

  /** One-click (RFC 8058) or preference-page unsubscribe from all email. Idempotent. */
  async function unsubscribe(
    mailingId: string,
    personId: string,
    signature: string,
    source: string,
  ): Promise<{ language: string }> {
    const recipient = await recipientOrThrow(mailingId, personId, signature);
    await unsubscribeRecipient(recipient, source);
    return { language: await languageOf(personId) };
  }

  /** The person's language for public pages ("en" unless they chose another). */
  async function languageOf(personId: string): Promise<string> {
    const [row] = await listMergeFields(db, [personId]);
    return row?.language ?? 'en';
  }

  /** Unsubscribe by an email to the List-Unsubscribe mailto address (already verified). */
  async function unsubscribeFromVerp(mailingId: string, personId: string, source: string): Promise<boolean> {
    const recipient = await store.findRecipient(db, mailingId, personId);
    if (!recipient) return false;
    await unsubscribeRecipient(recipient, source);
    return true;
  }

  async function unsubscribeRecipient(
    recipient: { mailing_id: string; person_id: string; email: string },
    source: string,
  ) {
    const current = await findEmailStatus(db, recipient.email);
    await updateEmailStatusIfSubscribed(recipient.email, current?.status);
    if (current?.status === 'subscribed') {
      await noteActivity(
        recipient.person_id,
        'email.unsubscribe',
        `Unsubscribed ${recipient.email} (${source})`,
        {
          mailingId: recipient.mailing_id,
        },
      );
      await store.insertMailEvent(db, {
        mailingId: recipient.mailing_id,
        personId: recipient.person_id,
        email: recipient.email,
        kind: 'unsubscribe',
        details: source,
        at: nowIso(),
      });
    }
  }

  async function updateEmailStatusIfSubscribed(email: string, status: string | undefined): Promise<void> {
    // Bouncing and complained stay as they are (stronger than unsubscribed).
    if (status === 'subscribed' || status === undefined)
      await updateEmailStatus(db, email, 'unsubscribed', nowIso());
  }

  async function preferences(mailingId: string, personId: string, signature: string) {
    const recipient = await recipientOrThrow(mailingId, personId, signature);
    const status = await findEmailStatus(db, recipient.email);
    const lists = await listListsOfPerson(db, personId);
    return {
      email: recipient.email,
      status: status?.status ?? 'unsubscribed',
      lists,
      language: await languageOf(personId),
    };
  }

  async function leaveList(
    mailingId: string,
    personId: string,
    signature: string,
    listId: string,
  ): Promise<{ language: string }> {
    await recipientOrThrow(mailingId, personId, signature);
    await removeFromList(db, personId, listId);
    return { language: await languageOf(personId) };
  }

  // ---- bounces and complaints ----

  /** Records a provider or DSN report; hard bounces and complaints suppress the address. */
  async function recordDeliveryReport(report: BounceReport): Promise<{ matched: boolean }> {
    let mailingId = report.mailingId ?? null;
    let personId = report.personId ?? null;
    let email = report.email ? tryNormaliseEmail(report.email) : null;
    const parsedId = report.messageId ? ourMessageId.exec(report.messageId.trim()) : null;
    if ((!mailingId || !personId) && parsedId) {
      // Our own Message-ID names the mailing and the person: no lookup needed.
      mailingId = parsedId[1]!.toLowerCase();
      personId = parsedId[2]!.toLowerCase();
    }
    if (mailingId && personId && !email)
      email = (await store.findRecipient(db, mailingId, personId))?.email ?? null;
    if (!email) return { matched: false };
    if (!mailingId || !personId) {
      // Only an address: attribute the report to the last mailing sent to it.
      const owner = await findEmailStatus(db, email);
      const latest = owner ? await store.findLatestSentRecipient(db, owner.person_id, email) : undefined;
      if (latest) {
        mailingId = latest.mailing_id;
        personId = latest.person_id;
      } else if (owner) {
        personId = owner.person_id;
      }
    }
    const now = nowIso();
    const details = report.reason?.slice(0, 1000) ?? null;
    if (report.kind === 'delivered') {
      await store.insertMailEvent(db, { mailingId, personId, email, kind: 'delivered', at: now });
      return { matched: true };
    }
    if (report.kind === 'complaint') {
      await suppress(email, 'complaint', details);
      await store.insertMailEvent(db, { mailingId, personId, email, kind: 'complaint', details, at: now });
      return { matched: true };
    }
    await store.insertMailEvent(db, {
      mailingId,
      personId,
      email,
      kind: 'bounce',
      details: `${report.hard === false ? 'soft' : 'hard'}: ${details ?? ''}`,
      at: now,
    });
    if (report.hard !== false) {
      await suppress(email, 'bounce', details);
      if (mailingId && personId)
        await store.markRecipientBounced(db, mailingId, personId, details ?? 'bounced');
    }
    return { matched: true };
  }

  return {
    tokens,
    transport,
    sender,
    registerJobs,
    setPetitions(source: PetitionsForMail) {
      petitions = source;
    },
    createMailing,
    updateDraft,
    getMailing,
    /** Newest mailings; a group leader sees only the mailings limited to their groups. */
    listMailings: async (actor?: MailActor | null) => {
      const scope = await scopeOf(actor);
      return (await store.listMailings(db)).filter((m) => withinScope(m, scope));
    },
    /** Every mailing, a page at a time, oldest first (the API's messages collection). */
    listMailingsPage: (page: { offset: number; limit: number }) => store.listMailingsPage(db, page),
    /** Mailings whose sending finished in [since, until) (webhook events), a page at a time. */
    listMailingsSentBetween: (range: { since: string; until: string }, limit: number, offset: number) =>
      store.listMailingsSentBetween(db, range, limit, offset),
    countAudience,
    audienceChoices: async (actor?: MailActor | null) => {
      const scope = await scopeOf(actor);
      return {
        ...(await listAllTagAndListNames(db)),
        petitions: petitions ? await petitions.listPetitionChoices() : [],
        mailings: (await store.listMailings(db, 100))
          .filter((m) => m.started_at && withinScope(m, scope))
          .map((m) => ({ id: m.id, name: m.name })),
        groups: options.groups?.groupChoices ? await options.groups.groupChoices(actor ?? null) : [],
      };
    },
    /** The group ids the actor's mailings are limited to, or null (for pages that say so). */
    scopeOf,
    startSending,
    scheduleMailing,
    cancelMailing,
    pauseMailing,
    resumeMailing,
    sendWinnerToRest,
    previewMailing,
    personIdByEmail,
    previewToken,
    sendTestMessage,
    mailingReport,
    recordOpen,
    recordClick,
    verifyUnsubscribe,
    unsubscribe,
    unsubscribeFromVerp,
    preferences,
    leaveList,
    recordDeliveryReport,
    suppress,
    /**
     * Erasure, in the caller's transaction: recipient rows and mail events keep counting without
     * the person's address. (Suppressions stay: an erased address must still never be mailed.)
     */
    anonymiseRecipient: (
      executor: Executor,
      personId: string,
      addresses: readonly string[],
      placeholder: string,
    ) => store.anonymiseRecipientOf(executor, personId, addresses, placeholder),
    /** Shutdown: senders stop taking recipients; what is left is queued for the next process. */
    stopSending() {
      sender.stopping = true;
    },
    close: () => transport.close(),
  };
}

export type MailingsService = ReturnType<typeof createMailingsService>;
