import type { AppContext } from '../context.ts';
import type { Executor } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { enqueueJobs } from '../jobs/index.ts';
import * as store from './store.ts';
import { createMailTransport, type MailTransport } from './transport.ts';

export interface TransactionalEmail {
  to: string;
  subject: string;
  text: string;
  html?: string | null;
  /** What it is, for the outbox and the person's history: "petition.confirm", "event.rsvp", … */
  kind: string;
  personId?: string | null;
  attachments?: { filename: string; content: string; contentType: string }[];
}

export const TRANSACTIONAL_QUEUE = 'mail.transactional';
/** Transactional mail runs before bulk sending jobs. */
export const TRANSACTIONAL_PRIORITY = 100;

/** SMTP answers that will not change on retry (5xx), as opposed to deferrals and outages. */
export function isPermanentSmtpError(error: unknown): boolean {
  const code = (error as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

export function createMailService(
  ctx: AppContext,
  transport: MailTransport = createMailTransport(ctx.config, ctx.db),
) {
  /**
   * Stores the message and queues its send job in the caller's transaction: when the caller
   * commits, the email is guaranteed to go out (at least once).
   */
  async function queueTransactional(executor: Executor, email: TransactionalEmail): Promise<string> {
    const [id] = await queueTransactionalMany(executor, [email]);
    return id!;
  }

  /** Many messages in the caller's transaction: one insert of messages, one of their jobs. */
  async function queueTransactionalMany(
    executor: Executor,
    emails: readonly TransactionalEmail[],
  ): Promise<string[]> {
    if (emails.some((email) => !email.to.includes('@'))) {
      throw new AppError('invalid', 'The recipient address is not valid.');
    }
    const now = nowIso();
    const rows = emails.map((email) => ({
      id: newId(),
      kind: email.kind,
      person_id: email.personId ?? null,
      to_address: email.to,
      subject: email.subject,
      text_body: email.text,
      html_body: email.html ?? null,
      attachments: JSON.stringify(email.attachments ?? []),
      status: 'queued',
      message_id: null,
      last_error: null,
      created_at: now,
      sent_at: null,
    }));
    await store.insertTransactionalEmails(executor, rows);
    await enqueueJobs(
      executor,
      rows.map((row) => ({
        queue: TRANSACTIONAL_QUEUE,
        payload: { id: row.id },
        priority: TRANSACTIONAL_PRIORITY,
        maxAttempts: 10,
      })),
    );
    return rows.map((row) => row.id);
  }

  async function sendTransactional(id: string): Promise<void> {
    const email = await store.findTransactionalEmail(ctx.db, id);
    // Idempotent: a job retried after a crash does not send a message marked sent.
    if (!email || email.status === 'sent' || email.status === 'failed') return;
    const attachments = JSON.parse(email.attachments) as {
      filename: string;
      content: string;
      contentType: string;
    }[];
    try {
      const result = await transport.send({
        to: email.to_address,
        subject: email.subject,
        text: email.text_body,
        ...(email.html_body ? { html: email.html_body } : {}),
        attachments,
        kind: email.kind,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
      await store.markTransactionalEmail(ctx.db, id, {
        status: 'sent',
        message_id: result.messageId,
        sent_at: nowIso(),
        last_error: null,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (isPermanentSmtpError(error)) {
        await store.markTransactionalEmail(ctx.db, id, { status: 'failed', last_error: message });
        ctx.log.warn({ emailId: id, kind: email.kind }, 'transactional email rejected permanently');
        return;
      }
      await store.markTransactionalEmail(ctx.db, id, { status: 'queued', last_error: message });
      throw error; // the job queue retries with backoff
    }
  }

  ctx.jobs.register(TRANSACTIONAL_QUEUE, async (payload) => sendTransactional(String(payload.id)));

  return {
    transport,
    queueTransactional,
    queueTransactionalMany,
    sendTransactional,
    listOutbox: (filter: { to?: string; limit?: number; offset?: number } = {}) =>
      store.listOutbox(ctx.db, {
        limit: filter.limit ?? 50,
        offset: filter.offset ?? 0,
        ...(filter.to ? { to: filter.to } : {}),
      }),
    countOutbox: (filter: { to?: string } = {}) => store.countOutbox(ctx.db, filter),
    findOutboxMessage: (id: string) => store.findOutboxMessage(ctx.db, id),
    listTransactionalForPerson: (personId: string) =>
      store.listTransactionalEmailsForPerson(ctx.db, personId),
    /**
     * Erasure, in the caller's transaction: transactional messages to the person (by id or by one
     * of their addresses) and outbox copies keep their rows without address or content.
     */
    async anonymiseMailOfPerson(
      executor: Executor,
      personId: string,
      addresses: readonly string[],
      placeholder: string,
    ): Promise<void> {
      await store.anonymiseTransactionalEmails(executor, { personId, addresses }, placeholder);
      await store.anonymiseOutboxMessages(executor, addresses, placeholder);
    },
    close: () => transport.close(),
  };
}

export type MailService = ReturnType<typeof createMailService>;
