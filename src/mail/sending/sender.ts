import type { AppContext } from '../../context.ts';
import { nowIso } from '../../ids.ts';
import { enqueueJob } from '../../jobs/index.ts';
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
 * The sending lease is short and renewed on a timer while the sender runs, so a sender that died
 * (kill -9, lost machine) holds its mailing for at most this long once its job is retried.
 */
const leaseMs = 15_000;
const leaseRenewMs = 5_000;
const jobBudgetMs = 20_000;
/** How long a receiving domain that refused us on policy grounds (5.7.x) is left alone, doubled per strike. */
const domainPauseMs = 10 * 60_000;
/** SMTP outage: first retry after 5 s (a relay restarting), then doubling up to 10 minutes. */
const outageRetryMs = (attempt: number) => Math.min(5_000 * 2 ** attempt, 600_000);

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
 * Sends a mailing in person-id-ordered batches. A recipient is marked sent only after the SMTP
 * server accepted its message; anything else leaves it queued, so a crash or restart resumes with
 * nobody skipped and at most the in-flight messages sent twice. One sender at a time per mailing
 * (a lease in the mailings row).
 */
export class BulkSender {
  private readonly deps: SenderDeps;
  /** Set by tests and shutdown to stop taking new recipients. */
  stopping = false;

  constructor(deps: SenderDeps) {
    this.deps = deps;
  }

  /** One job's worth of sending; enqueues the follow-up job itself. */
  async runJob(
    mailingId: string,
    options: { budgetMs?: number; outageAttempt?: number } = {},
  ): Promise<BatchOutcome> {
    const { ctx } = this.deps;
    const outcome: BatchOutcome = { sent: 0, skipped: 0, deferred: 0, bounced: 0, stop: 'continue' };
    const now = nowIso();
    let mailing = await store.findMailing(ctx.db, mailingId);
    if (!mailing) return { ...outcome, stop: 'not-sending' };
    if (
      mailing.status === 'paused' &&
      mailing.pause_reason === 'smtp_unavailable' &&
      options.outageAttempt !== undefined
    ) {
      // Automatic resume after an SMTP outage.
      await store.updateMailing(
        ctx.db,
        mailingId,
        { status: 'sending', pause_reason: null, updated_at: now },
        ['paused'],
      );
      mailing = (await store.findMailing(ctx.db, mailingId))!;
    }
    if (mailing.status !== 'sending') return { ...outcome, stop: 'not-sending' };
    const leaseUntil = () => new Date(Date.now() + leaseMs).toISOString();
    if (!(await store.takeMailingLease(ctx.db, mailingId, leaseUntil(), now))) {
      // Another sender holds it; look again when its lease would have run out.
      const holder = await store.findMailing(ctx.db, mailingId);
      const at = holder?.lease_until ? new Date(holder.lease_until) : new Date(Date.now() + leaseMs);
      await enqueueJob(ctx.db, {
        queue: BULK_QUEUE,
        payload: { mailingId },
        priority: BULK_PRIORITY,
        runAt: at,
      });
      return { ...outcome, stop: 'locked' };
    }
    let followUp: { runAt: Date; outageAttempt?: number } | null = null;
    const renew = setInterval(() => {
      store.extendMailingLease(ctx.db, mailingId, leaseUntil()).catch((error: unknown) => {
        ctx.log.warn({ err: error, mailingId }, 'could not renew the sending lease');
      });
    }, leaseRenewMs);
    renew.unref();
    try {
      const compiled = await this.deps.compile(mailing);
      const rate = mailing.rate > 0 ? mailing.rate : ctx.config.bulkMail.rate;
      const pacer = new Pacer(rate);
      const started = Date.now();
      const budget = options.budgetMs ?? jobBudgetMs;
      let cursor = '';
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
        await store.extendMailingLease(ctx.db, mailingId, leaseUntil());
        const batch = await store.listQueuedRecipients(
          ctx.db,
          mailingId,
          cursor,
          ctx.config.bulkMail.batchSize,
          nowIso(),
        );
        if (batch.length === 0) {
          const end = await this.finishOrWait(mailing);
          outcome.stop = end.stop;
          if (end.retryAt) followUp = { runAt: end.retryAt };
          break;
        }
        cursor = batch[batch.length - 1]!.person_id;
        const result = await this.sendBatch(mailing, compiled, batch, pacer);
        outcome.sent += result.sent;
        outcome.skipped += result.skipped;
        outcome.deferred += result.deferred;
        outcome.bounced += result.bounced;
        if (result.unavailable) {
          const attempt = (options.outageAttempt ?? -1) + 1;
          await store.updateMailing(
            ctx.db,
            mailingId,
            { status: 'paused', pause_reason: 'smtp_unavailable', updated_at: nowIso() },
            ['sending'],
          );
          ctx.log.warn({ mailingId, attempt }, 'SMTP server unavailable: mailing paused, will resume');
          followUp = { runAt: new Date(Date.now() + outageRetryMs(attempt)), outageAttempt: attempt };
          outcome.stop = 'paused';
          break;
        }
      }
    } finally {
      clearInterval(renew);
      await store.releaseMailingLease(ctx.db, mailingId);
    }
    // Enqueued after the lease is released, so the follow-up job can take it.
    if (followUp) {
      await enqueueJob(ctx.db, {
        queue: BULK_QUEUE,
        payload: {
          mailingId,
          ...(followUp.outageAttempt !== undefined ? { outageAttempt: followUp.outageAttempt } : {}),
        },
        priority: BULK_PRIORITY,
        runAt: followUp.runAt,
      });
    }
    return outcome;
  }

  /** No due recipient left: done, wait for deferred retries, or hold for the A/B winner. */
  private async finishOrWait(mailing: MailingRow): Promise<{ stop: BatchOutcome['stop']; retryAt?: Date }> {
    const { ctx } = this.deps;
    const queued = await store.countRecipientsInState(ctx.db, mailing.id, ['queued']);
    if (queued > 0) {
      const at = await store.findNextRetryAt(ctx.db, mailing.id);
      return { stop: 'waiting', retryAt: at ? new Date(Math.max(Date.parse(at), Date.now())) : new Date() };
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
      }
    };
    // Three workers per SMTP connection keep it busy while others wait for their "sent" mark to
    // commit. Each worker has at most one accepted-but-unrecorded message, so a crash sends at most
    // this many messages twice.
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
  private readonly interval: number;
  constructor(rate: number) {
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
