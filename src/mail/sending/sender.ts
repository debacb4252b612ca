import type { AppContext } from '../../context.ts';
import { newId, nowIso } from '../../ids.ts';
import { enqueueJob, enqueueJobs, type NewJob } from '../../jobs/index.ts';
import { listMergeFields, listNoLongerSubscribed } from '../../people/audience/index.ts';
import type { CompiledMailing } from '../mailings/render.ts';
import type { PetitionsForMail } from '../mailings/sources.ts';
import * as store from '../mailings/store.ts';
import type { MailingRecipientRow, MailingRow } from '../mailings/tables.ts';
import type { MailTokens } from '../tracking/tokens.ts';
import type { MailTransport } from '../transport.ts';
import { classifySmtpError, deferralDelayMs, domainOfAddress } from './classify.ts';
import { buildBulkMessage } from './message.ts';

export const BULK_QUEUE = 'mail.bulk';
/** Below transactional mail (100): confirmations never wait behind a mailing. */
export const BULK_PRIORITY = 10;

/**
 * Sender slot leases and recipient claims are short and renewed on a timer while the sender runs,
 * so a sender that died (kill -9, lost machine) holds its slot and its recipients for at most this
 * long.
 */
const leaseMs = 15_000;
const leaseRenewMs = 5_000;
const jobBudgetMs = 20_000;
/** How long a receiving domain that refused us on policy grounds (5.7.x) is left alone, doubled per strike. */
const domainPauseMs = 10 * 60_000;
/** SMTP outage: first retry after 5 s (a relay restarting), then doubling up to 10 minutes. */
const outageRetryMs = (attempt: number) => Math.min(5_000 * 2 ** attempt, 600_000);

/** Senders that may work on one mailing at once (MAIL_SENDERS, or the queue's default). */
export function senderSlotCount(ctx: AppContext): number {
  const configured = ctx.config.bulkMail.senders;
  if (configured > 0) return configured;
  // The table queue runs two jobs at once for all queues together: one sender leaves room for the rest.
  return ctx.jobs.kind === 'pg-boss' ? 4 : 1;
}

/** The jobs that set every sender slot of a mailing to work (but `except`, already at work). */
export function senderJobs(ctx: AppContext, mailingId: string, except?: number): NewJob[] {
  const jobs: NewJob[] = [];
  for (let slot = 0; slot < senderSlotCount(ctx); slot++) {
    if (slot === except) continue;
    jobs.push({ queue: BULK_QUEUE, payload: { mailingId, slot }, priority: BULK_PRIORITY });
  }
  return jobs;
}

export interface SenderDeps {
  ctx: AppContext;
  transport: MailTransport;
  tokens: MailTokens;
  petitions: PetitionsForMail | null;
  compile(mailing: MailingRow): Promise<CompiledMailing>;
  /** Suppresses the address and marks it bouncing (hard bounce at send time). */
  onHardBounce(mailingId: string, personId: string, email: string, reason: string): Promise<void>;
}

export interface BatchOutcome {
  sent: number;
  skipped: number;
  deferred: number;
  bounced: number;
  /** Why the run stopped: done, more work queued, paused (outage or A/B), not ours to run. */
  stop: 'finished' | 'continue' | 'paused' | 'waiting' | 'not-sending' | 'locked' | 'stopped';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends a mailing in batches of recipients claimed by one sender at a time. A mailing has a few
 * sender slots (each a chain of jobs holding the slot's lease), so several worker processes send
 * one mailing together; each claims the next unclaimed queued recipients in person-id order and
 * renews its claim while it works. A recipient is marked sent only after the SMTP server accepted
 * its message; anything else leaves it queued, so a crash or restart resumes with nobody skipped
 * and at most the in-flight messages sent twice (a dead sender's claims run out).
 */
export class BulkSender {
  private readonly deps: SenderDeps;
  /** Messages accepted by the SMTP server but not yet recorded, across this process's senders. */
  private readonly inFlight: Semaphore;
  /** Set by tests and shutdown to stop taking new recipients. */
  stopping = false;

  constructor(deps: SenderDeps) {
    this.deps = deps;
    // Three per SMTP connection keep the connections busy while others wait for their "sent" mark.
    this.inFlight = new Semaphore(deps.ctx.config.bulkMail.concurrency * 3);
  }

  /** One job's worth of sending for one sender slot; enqueues the slot's follow-up job itself. */
  async runJob(
    mailingId: string,
    options: { budgetMs?: number; outageAttempt?: number; slot?: number } = {},
  ): Promise<BatchOutcome> {
    const { ctx } = this.deps;
    const slot = options.slot ?? 0;
    const outcome: BatchOutcome = { sent: 0, skipped: 0, deferred: 0, bounced: 0, stop: 'continue' };
    const now = nowIso();
    let mailing = await store.findMailing(ctx.db, mailingId);
    if (!mailing) return { ...outcome, stop: 'not-sending' };
    if (
      mailing.status === 'paused' &&
      mailing.pause_reason === 'smtp_unavailable' &&
      options.outageAttempt !== undefined
    ) {
      // Automatic resume after an SMTP outage: the other slots stopped at the pause, start them again.
      await ctx.db.transaction().execute(async (trx) => {
        const resumed = await store.updateMailing(
          trx,
          mailingId,
          { status: 'sending', pause_reason: null, updated_at: now },
          ['paused'],
        );
        if (resumed) await enqueueJobs(trx, senderJobs(ctx, mailingId, slot));
      });
      mailing = (await store.findMailing(ctx.db, mailingId))!;
    }
    if (mailing.status !== 'sending') return { ...outcome, stop: 'not-sending' };
    const leaseUntil = () => new Date(Date.now() + leaseMs).toISOString();
    if (!(await store.takeSenderSlot(ctx.db, mailingId, slot, leaseUntil(), now))) {
      // Another sender holds this slot; look again when its lease would have run out.
      const held = await store.findSenderSlotLease(ctx.db, mailingId, slot);
      await enqueueJob(ctx.db, {
        queue: BULK_QUEUE,
        payload: { mailingId, slot },
        priority: BULK_PRIORITY,
        runAt: held ? new Date(held) : new Date(Date.now() + leaseMs),
      });
      return { ...outcome, stop: 'locked' };
    }
    const senderId = newId();
    let followUp: { runAt: Date; outageAttempt?: number } | null = null;
    const renew = setInterval(() => {
      const until = leaseUntil();
      Promise.all([
        store.extendSenderSlot(ctx.db, mailingId, slot, until),
        store.extendRecipientClaims(ctx.db, mailingId, senderId, until),
      ]).catch((error: unknown) => {
        ctx.log.warn({ err: error, mailingId, slot }, 'could not renew the sending lease');
      });
    }, leaseRenewMs);
    renew.unref();
    try {
      const compiled = await this.deps.compile(mailing);
      const rate = mailing.rate > 0 ? mailing.rate : ctx.config.bulkMail.rate;
      const pacer = new Pacer(rate);
      const started = Date.now();
      const budget = options.budgetMs ?? jobBudgetMs;
      for (;;) {
        if (this.stopping) {
          // Shutting down: whatever is left is picked up by the next process a little later.
          followUp = { runAt: new Date(Date.now() + 5000) };
          outcome.stop = 'stopped';
          break;
        }
        const current = await store.findMailing(ctx.db, mailingId);
        if (!current || current.status !== 'sending') {
          outcome.stop = 'not-sending';
          break;
        }
        if (Date.now() - started > budget) {
          followUp = { runAt: new Date() };
          outcome.stop = 'continue';
          break;
        }
        const until = leaseUntil();
        await store.extendSenderSlot(ctx.db, mailingId, slot, until);
        // The mailing's rate is shared by the slots at work now.
        pacer.setRate(rate / Math.max(1, await store.countLiveSenderSlots(ctx.db, mailingId, nowIso())));
        const batch = await store.claimQueuedRecipients(
          ctx.db,
          mailingId,
          senderId,
          ctx.config.bulkMail.batchSize,
          nowIso(),
          until,
        );
        if (batch.length === 0) {
          const end = await this.finishOrWait(mailing);
          outcome.stop = end.stop;
          if (end.retryAt) followUp = { runAt: end.retryAt };
          break;
        }
        const result = await this.sendBatch(mailing, compiled, batch, pacer);
        outcome.sent += result.sent;
        outcome.skipped += result.skipped;
        outcome.deferred += result.deferred;
        outcome.bounced += result.bounced;
        if (result.unavailable) {
          const attempt = (options.outageAttempt ?? -1) + 1;
          const paused = await store.updateMailing(
            ctx.db,
            mailingId,
            { status: 'paused', pause_reason: 'smtp_unavailable', updated_at: nowIso() },
            ['sending'],
          );
          if (!paused) {
            // Another slot paused it first; its follow-up resumes every slot.
            outcome.stop = 'not-sending';
            break;
          }
          ctx.log.warn({ mailingId, attempt }, 'SMTP server unavailable: mailing paused, will resume');
          followUp = { runAt: new Date(Date.now() + outageRetryMs(attempt)), outageAttempt: attempt };
          outcome.stop = 'paused';
          break;
        }
      }
    } finally {
      clearInterval(renew);
      await store.releaseRecipientClaims(ctx.db, mailingId, senderId);
      await store.releaseSenderSlot(ctx.db, mailingId, slot);
    }
    // Enqueued after the slot is released, so the follow-up job can take it.
    if (followUp) {
      await enqueueJob(ctx.db, {
        queue: BULK_QUEUE,
        payload: {
          mailingId,
          slot,
          ...(followUp.outageAttempt !== undefined ? { outageAttempt: followUp.outageAttempt } : {}),
        },
        priority: BULK_PRIORITY,
        runAt: followUp.runAt,
      });
    }
    return outcome;
  }

  /**
   * Nothing left to claim: done; or wait for deferred retries and for other senders' recipients (a
   * sender that died leaves them claimed until its claim runs out); or hold for the A/B winner.
   * Each sender marks its recipients before looking, so the last one to look sees them all.
   */
  private async finishOrWait(mailing: MailingRow): Promise<{ stop: BatchOutcome['stop']; retryAt?: Date }> {
    const { ctx } = this.deps;
    const queued = await store.countRecipientsInState(ctx.db, mailing.id, ['queued']);
    if (queued > 0) {
      const now = nowIso();
      const times = [
        await store.findNextRetryAt(ctx.db, mailing.id, now),
        await store.findEarliestClaimEnd(ctx.db, mailing.id, now),
      ].filter((at): at is string => at !== null);
      const at = times.length ? Math.min(...times.map((t) => Date.parse(t))) : Date.now();
      return { stop: 'waiting', retryAt: new Date(Math.max(at, Date.now())) };
    }
    const held = await store.countRecipientsInState(ctx.db, mailing.id, ['held']);
    const now = nowIso();
    if (held > 0) {
      await store.updateMailing(
        ctx.db,
        mailing.id,
        { status: 'paused', pause_reason: 'ab_test', updated_at: now },
        ['sending'],
      );
      return { stop: 'paused' };
    }
    await store.updateMailing(ctx.db, mailing.id, { status: 'sent', finished_at: now, updated_at: now }, [
      'sending',
    ]);
    ctx.log.info({ mailingId: mailing.id }, 'mailing sent');
    return { stop: 'finished' };
  }

  private async sendBatch(
    mailing: MailingRow,
    compiled: CompiledMailing,
    batch: MailingRecipientRow[],
    pacer: Pacer,
  ): Promise<{ sent: number; skipped: number; deferred: number; bounced: number; unavailable: boolean }> {
    const { ctx } = this.deps;
    const result = { sent: 0, skipped: 0, deferred: 0, bounced: 0, unavailable: false };
    const ids = batch.map((r) => r.person_id);

    // Action-aware: as the batch leaves, drop whoever signed, unsubscribed, bounced or was suppressed.
    const skip = new Map<string, string>();
    if (mailing.petition_id && this.deps.petitions) {
      const signers = await store.listPeopleAmong(
        ctx.db,
        this.deps.petitions.selectSigners(ctx.db, [mailing.petition_id]),
        ids,
      );
      for (const id of signers) skip.set(id, 'signed the petition');
    }
    const gone = await listNoLongerSubscribed(
      ctx.db,
      batch.map((r) => ({ personId: r.person_id, email: r.email })),
    );
    for (const id of gone) if (!skip.has(id)) skip.set(id, 'no longer subscribed');
    const suppressed = await store.listSuppressedAmong(
      ctx.db,
      batch.map((r) => r.email),
    );
    for (const r of batch)
      if (suppressed.has(r.email) && !skip.has(r.person_id)) skip.set(r.person_id, 'suppressed');
    const byReason = new Map<string, string[]>();
    for (const [id, reason] of skip) byReason.set(reason, [...(byReason.get(reason) ?? []), id]);
    for (const [reason, people] of byReason)
      await store.markRecipientsSkipped(ctx.db, mailing.id, people, reason);
    result.skipped = skip.size;

    const throttled = await store.listThrottledDomains(ctx.db, nowIso());
    const todo = batch.filter((r) => !skip.has(r.person_id));
    const fields = new Map(
      (
        await listMergeFields(
          ctx.db,
          todo.map((r) => r.person_id),
        )
      ).map((row) => [row.person_id, row]),
    );
    const context = {
      mailingId: mailing.id,
      fromName: mailing.from_name,
      fromAddress: mailing.from_address,
      replyTo: mailing.reply_to,
      orgName: ctx.config.orgName,
      settings: ctx.config.bulkMail,
      tokens: this.deps.tokens,
    };

    const marks = new SentMarks(async (personIds) =>
      store.markRecipientsSent(
        ctx.db,
        mailing.id,
        personIds,
        domainOfAddress(mailing.from_address),
        nowIso(),
      ),
    );
    let next = 0;
    const worker = async () => {
      while (!result.unavailable && !this.stopping) {
        const recipient = todo[next++];
        if (!recipient) return;
        const domain = domainOfAddress(recipient.email);
        const pausedUntil = throttled.get(domain);
        if (pausedUntil) {
          await store.deferRecipient(
            ctx.db,
            mailing.id,
            recipient.person_id,
            pausedUntil,
            'receiving domain paused',
            false,
          );
          result.deferred++;
          continue;
        }
        const person = fields.get(recipient.person_id);
        const message = buildBulkMessage(context, compiled, {
          personId: recipient.person_id,
          email: recipient.email,
          variant: recipient.variant,
          givenName: person?.given_name ?? null,
          familyName: person?.family_name ?? null,
          postalCode: person?.postal_code ?? null,
          locality: person?.locality ?? null,
        });
        const release = await this.inFlight.acquire();
        try {
          // Stopping between two messages: this one stays queued (and its claim is given back).
          if (result.unavailable || this.stopping) return;
          await pacer.wait();
          try {
            await this.deps.transport.send(message);
          } catch (error) {
            await this.handleFailure(mailing, recipient, error, throttled, result);
            continue;
          }
          // Waits for its own mark: each worker has at most one accepted-but-unrecorded message.
          await marks.mark(recipient.person_id);
          result.sent++;
        } finally {
          release();
        }
      }
    };
    // Three workers per SMTP connection keep it busy while others wait for their "sent" mark to
    // commit. Each worker has at most one accepted-but-unrecorded message, and the senders of one
    // process share that many at once (inFlight), so a crash sends at most this many twice.
    const workers = Math.max(1, Math.min(ctx.config.bulkMail.concurrency * 3, todo.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return result;
  }

  private async handleFailure(
    mailing: MailingRow,
    recipient: MailingRecipientRow,
    error: unknown,
    throttled: Map<string, string>,
    result: { deferred: number; bounced: number; unavailable: boolean },
  ): Promise<void> {
    const { ctx } = this.deps;
    const message = error instanceof Error ? error.message : String(error);
    const outcome = classifySmtpError(error);
    const now = Date.now();
    switch (outcome) {
      case 'unavailable':
        // Left queued and untouched: the whole mailing pauses and resumes later.
        result.unavailable = true;
        return;
      case 'hard-bounce':
        await store.markRecipientFinal(ctx.db, mailing.id, recipient.person_id, 'bounced', message);
        await this.deps.onHardBounce(mailing.id, recipient.person_id, recipient.email, message);
        result.bounced++;
        return;
      case 'policy': {
        // Our reputation with that provider, not the person's address: slow down for the domain.
        const domain = domainOfAddress(recipient.email);
        const previous = await store.findDomainThrottle(ctx.db, domain);
        const strikes = (previous?.strikes ?? 0) + 1;
        const until = new Date(now + domainPauseMs * 2 ** Math.min(strikes - 1, 6)).toISOString();
        await store.upsertDomainThrottle(
          ctx.db,
          domain,
          until,
          strikes,
          message,
          new Date(now).toISOString(),
        );
        throttled.set(domain, until);
        await store.deferRecipient(ctx.db, mailing.id, recipient.person_id, until, message, false);
        ctx.log.warn(
          { mailingId: mailing.id, domain, strikes },
          'policy rejection: pausing sending to that domain',
        );
        result.deferred++;
        return;
      }
      case 'deferred': {
        const retryAt = new Date(now + deferralDelayMs(recipient.attempts + 1)).toISOString();
        await store.deferRecipient(ctx.db, mailing.id, recipient.person_id, retryAt, message, true);
        result.deferred++;
        return;
      }
    }
  }
}

/** Spaces message starts to at most `rate` per second across all workers. */
class Pacer {
  private next = 0;
  private interval = 0;
  constructor(rate: number) {
    this.setRate(rate);
  }
  setRate(rate: number): void {
    this.interval = rate > 0 ? 1000 / rate : 0;
  }
  async wait(): Promise<void> {
    if (this.interval === 0) return;
    const now = performance.now();
    const slot = Math.max(now, this.next);
    this.next = slot + this.interval;
    const delay = slot - now;
    if (delay >= 2) await sleep(delay);
  }
}

/**
 * Group commit for "sent" marks: marks that arrive while a write is running go out together in the
 * next one, so a busy sender commits once per round instead of once per message.
 */
class SentMarks {
  private pending: Array<{ personId: string; done: (error?: unknown) => void }> = [];
  private writing = false;
  private readonly write: (personIds: string[]) => Promise<void>;

  constructor(write: (personIds: string[]) => Promise<void>) {
    this.write = write;
  }

  mark(personId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ personId, done: (error) => (error ? reject(error) : resolve()) });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.write(batch.map((item) => item.personId));
          for (const item of batch) item.done();
        } catch (error) {
          for (const item of batch) item.done(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}

/** At most `size` holders at once; the others wait in arrival order. */
class Semaphore {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
