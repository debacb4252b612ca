import type { BulkMailConfig } from '../../config.ts';
import type { OutgoingMessage } from '../transport.ts';
import type { CompiledMailing, RecipientFields } from '../mailings/render.ts';
import type { MailTokens } from '../tracking/tokens.ts';
import { verpLocalPart } from '../tracking/tokens.ts';
import { domainOfAddress } from './classify.ts';

export interface BulkMessageContext {
  mailingId: string;
  fromName: string;
  fromAddress: string;
  replyTo: string | null;
  orgName: string;
  settings: BulkMailConfig;
  tokens: MailTokens;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'undersign'
  );
}

function quoteName(name: string): string {
  return `"${name.replace(/["\\\r\n]/g, '')}"`;
}

/**
 * One recipient's message with every bulk header: Message-ID (stable per mailing and person, so a
 * resend after a crash carries the same id), List-Unsubscribe (URL + mailto) with RFC 8058
 * one-click, List-Id, Feedback-ID, a VERP return path, and DKIM when configured.
 */
export function buildBulkMessage(
  context: BulkMessageContext,
  compiled: CompiledMailing,
  recipient: RecipientFields,
): OutgoingMessage & { messageId: string } {
  const rendered = compiled.render(recipient);
  const fromDomain = domainOfAddress(context.fromAddress);
  const bounceDomain = context.settings.bounceDomain || fromDomain;
  const messageId = `<m.${context.mailingId}.${recipient.personId}@${fromDomain}>`;
  const verp = verpLocalPart(context.tokens, context.mailingId, recipient.personId, 'b');
  const unsubscribeLocal = verpLocalPart(context.tokens, context.mailingId, recipient.personId, 'u');
  const orgSlug = slug(context.orgName);
  const listUnsubscribe = unsubscribeLocal
    ? `<${rendered.unsubscribeUrl}>, <mailto:${unsubscribeLocal}@${bounceDomain}?subject=unsubscribe>`
    : `<${rendered.unsubscribeUrl}>`;
  const message: OutgoingMessage & { messageId: string } = {
    from: { name: context.fromName, address: context.fromAddress },
    to: recipient.email,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    messageId,
    kind: 'mailing',
    envelope: {
      from: verp ? `${verp}@${bounceDomain}` : context.fromAddress,
      to: recipient.email,
    },
    // Prepared: written as they are (nodemailer would otherwise MIME-encode the quotes).
    headers: {
      'List-Unsubscribe': { prepared: true, value: listUnsubscribe },
      'List-Unsubscribe-Post': { prepared: true, value: 'List-Unsubscribe=One-Click' },
      'List-Id': {
        prepared: true,
        value: `${quoteName(context.orgName)} <${orgSlug}.mailings.${fromDomain}>`,
      },
      'Feedback-ID': {
        prepared: true,
        value: `${context.mailingId.slice(0, 8)}:${context.mailingId}:mailing:${orgSlug}`,
      },
      Precedence: 'bulk',
    },
  };
  if (context.replyTo) message.replyTo = context.replyTo;
  if (context.settings.dkim) {
    message.dkim = {
      ...context.settings.dkim,
      headerFieldNames:
        'From:Sender:Reply-To:Subject:Date:Message-ID:To:MIME-Version:Content-Type:List-Id:List-Unsubscribe:List-Unsubscribe-Post:Feedback-ID',
    };
  }
  return message;
}
