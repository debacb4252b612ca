import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Config } from '../config.ts';
import type { DB } from '../db/index.ts';
import { newId, nowIso } from '../ids.ts';
import { insertOutboxMessage } from './store.ts';

export type OutgoingMessage = Mail.Options & { kind?: string };

export interface SendResult {
  messageId: string;
  /** The SMTP server's final answer, e.g. "250 2.0.0 OK". */
  response: string;
}

/** Sends one message: through SMTP when configured, otherwise into the local outbox table. */
export interface MailTransport {
  readonly kind: 'smtp' | 'outbox';
  send(message: OutgoingMessage): Promise<SendResult>;
  close(): void;
}

function domainOf(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'localhost';
}

export function createMailTransport(
  config: Config,
  db: DB,
  options: { pool?: boolean; maxConnections?: number } = {},
): MailTransport {
  const fromDomain = domainOf(config.mailFrom);
  if (config.smtpUrl) {
    // An options object with `url`: its other keys apply where the URL says nothing (a second
    // argument would only be per-message defaults, leaving every send on a new connection).
    const transporter = nodemailer.createTransport({
      url: config.smtpUrl,
      ...(options.pool !== false
        ? { pool: true, maxConnections: options.maxConnections ?? 5, maxMessages: 1000 }
        : {}),
    } as never);
    return {
      kind: 'smtp',
      async send(message) {
        const info = (await transporter.sendMail({ from: config.mailFrom, ...message })) as {
          messageId: string;
          response: string;
        };
        return { messageId: info.messageId, response: info.response };
      },
      close: () => transporter.close(),
    };
  }
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'outbox',
    async send(message) {
      const messageId = (message.messageId as string | undefined) ?? `<${newId()}@${fromDomain}>`;
      const info = (await builder.sendMail({ from: config.mailFrom, ...message, messageId })) as {
        message: Buffer;
      };
      const to = Array.isArray(message.to) ? message.to.map(String).join(', ') : String(message.to ?? '');
      await insertOutboxMessage(db, {
        id: newId(),
        message_id: messageId,
        from_address: String(message.from ?? config.mailFrom),
        to_address: to.toLowerCase(),
        subject: String(message.subject ?? ''),
        kind: message.kind ?? null,
        raw: info.message.toString('utf8'),
        created_at: nowIso(),
      });
      return { messageId, response: '250 stored in the local outbox' };
    },
    close: () => builder.close(),
  };
}
