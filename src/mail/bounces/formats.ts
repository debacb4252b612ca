import type { BounceReport } from '../mailings/service.ts';

/**
 * Bounce and complaint reports in the shapes we accept:
 * - our own JSON (documented in README): `{ "events": [ { "type": "bounce" | "complaint" | "delivered",
 *   "email": "…", "bounceType": "hard" | "soft", "messageId": "<…>", "reason": "…" } ] }` or one event;
 * - Amazon SES notifications delivered by SNS (`Type: Notification`, `Message` holding the SES JSON);
 * - DSN emails (RFC 3464, multipart/report; report-type=delivery-status).
 */

interface OwnEvent {
  type?: unknown;
  email?: unknown;
  bounceType?: unknown;
  messageId?: unknown;
  reason?: unknown;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.trim() ? value.trim() : null;
}

function ownEvent(event: OwnEvent): BounceReport | null {
  const type = str(event.type);
  if (type !== 'bounce' && type !== 'complaint' && type !== 'delivered') return null;
  return {
    kind: type,
    hard: type === 'bounce' ? str(event.bounceType) !== 'soft' : undefined,
    email: str(event.email),
    messageId: str(event.messageId),
    reason: str(event.reason),
  };
}

interface SesHeader {
  name?: unknown;
  value?: unknown;
}

function sesMessageId(mail: Record<string, unknown> | undefined): string | null {
  const headers = Array.isArray(mail?.headers) ? (mail.headers as SesHeader[]) : [];
  const header = headers.find((h) => typeof h.name === 'string' && h.name.toLowerCase() === 'message-id');
  if (header) return str(header.value);
  const common = mail?.commonHeaders as Record<string, unknown> | undefined;
  return str(common?.messageId);
}

function sesNotification(message: Record<string, unknown>): BounceReport[] {
  const type = str(message.notificationType) ?? str(message.eventType);
  const mail = message.mail as Record<string, unknown> | undefined;
  const messageId = sesMessageId(mail);
  if (type === 'Bounce') {
    const bounce = (message.bounce ?? {}) as Record<string, unknown>;
    const hard = str(bounce.bounceType) === 'Permanent';
    const recipients = Array.isArray(bounce.bouncedRecipients) ? bounce.bouncedRecipients : [];
    return recipients.map((r: Record<string, unknown>) => ({
      kind: 'bounce' as const,
      hard,
      email: str(r.emailAddress),
      messageId,
      reason: str(r.diagnosticCode) ?? str(bounce.bounceSubType),
    }));
  }
  if (type === 'Complaint') {
    const complaint = (message.complaint ?? {}) as Record<string, unknown>;
    const recipients = Array.isArray(complaint.complainedRecipients) ? complaint.complainedRecipients : [];
    return recipients.map((r: Record<string, unknown>) => ({
      kind: 'complaint' as const,
      email: str(r.emailAddress),
      messageId,
      reason: str(complaint.complaintFeedbackType),
    }));
  }
  if (type === 'Delivery') {
    const delivery = (message.delivery ?? {}) as Record<string, unknown>;
    const recipients = Array.isArray(delivery.recipients) ? (delivery.recipients as unknown[]) : [];
    return recipients.map((email) => ({ kind: 'delivered' as const, email: str(email), messageId }));
  }
  return [];
}

export type WebhookParse =
  | { kind: 'reports'; reports: BounceReport[] }
  | { kind: 'sns-subscription'; subscribeUrl: string | null }
  | { kind: 'unrecognised' };

/** Reads a webhook body (already JSON-parsed, or text holding JSON as SNS sends it). */
export function parseWebhookBody(body: unknown): WebhookParse {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return { kind: 'unrecognised' };
    }
  }
  if (!value || typeof value !== 'object') return { kind: 'unrecognised' };
  const object = value as Record<string, unknown>;
  if (object.Type === 'SubscriptionConfirmation') {
    return { kind: 'sns-subscription', subscribeUrl: str(object.SubscribeURL) };
  }
  if (object.Type === 'Notification' && typeof object.Message === 'string') {
    try {
      return {
        kind: 'reports',
        reports: sesNotification(JSON.parse(object.Message) as Record<string, unknown>),
      };
    } catch {
      return { kind: 'unrecognised' };
    }
  }
  if (object.notificationType || object.eventType)
    return { kind: 'reports', reports: sesNotification(object) };
  const events = Array.isArray(object.events) ? (object.events as OwnEvent[]) : [object as OwnEvent];
  const reports = events.map(ownEvent).filter((r): r is BounceReport => r !== null);
  return reports.length ? { kind: 'reports', reports } : { kind: 'unrecognised' };
}

export interface DsnRecipient {
  email: string | null;
  action: string;
  status: string;
  diagnostic: string | null;
}

export interface ParsedDsn {
  recipients: DsnRecipient[];
  /** Message-ID of the message that bounced, from the returned headers. */
  originalMessageId: string | null;
  /** A feedback report (ARF, a complaint) rather than a delivery status. */
  complaint: boolean;
}

function fieldBlocks(text: string): Array<Map<string, string>> {
  const unfolded = text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ');
  return unfolded
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      return fields;
    })
    .filter((fields) => fields.size > 0);
}

function addressOf(field: string | undefined): string | null {
  if (!field) return null;
  const value = field.includes(';') ? field.slice(field.indexOf(';') + 1) : field;
  const address = value.trim().replace(/^<|>$/g, '').toLowerCase();
  return address.includes('@') ? address : null;
}

interface MimePart {
  contentType: string;
  content: string;
}

function splitHeaders(text: string): { headers: Map<string, string>; body: string } {
  const normalised = text.replace(/\r\n/g, '\n');
  const end = normalised.indexOf('\n\n');
  const head = end === -1 ? normalised : normalised.slice(0, end);
  const body = end === -1 ? '' : normalised.slice(end + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string | undefined): string {
  const kind = (encoding ?? '').toLowerCase();
  if (kind === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (kind === 'quoted-printable') {
    return body
      .replace(/=\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return body;
}

/** The leaf parts of a MIME message (multiparts walked recursively, a few levels deep). */
function mimeLeaves(text: string, depth = 0): MimePart[] {
  const { headers, body } = splitHeaders(text);
  const contentType = headers.get('content-type') ?? 'text/plain';
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (type.startsWith('multipart/') && boundary && depth < 5) {
    const parts = body.split(`--${boundary}`).slice(1);
    const leaves: MimePart[] = [];
    for (const part of parts) {
      if (part.startsWith('--')) break;
      leaves.push(...mimeLeaves(part.replace(/^\n/, ''), depth + 1));
    }
    return leaves;
  }
  return [{ contentType: type, content: decodeBody(body, headers.get('content-transfer-encoding')) }];
}

/** Parses an RFC 3464 delivery status notification (or an RFC 5965 feedback report). */
export async function parseDsn(raw: Buffer | string): Promise<ParsedDsn | null> {
  const parts = mimeLeaves(typeof raw === 'string' ? raw : raw.toString('utf8'));
  const status = parts.find((a) => /^message\/(global-)?delivery-status$/.test(a.contentType));
  const feedback = parts.find((a) => a.contentType === 'message/feedback-report');
  const original = parts.find((a) =>
    /^(message\/rfc822|text\/rfc822-headers|message\/global)$/.test(a.contentType),
  );
  let originalMessageId: string | null = null;
  if (original) {
    const match = /^message-id:\s*(<[^>\r\n]+>)/im.exec(original.content);
    originalMessageId = match?.[1] ?? null;
  }
  if (feedback) {
    const blocks = fieldBlocks(feedback.content);
    const fields = blocks[0] ?? new Map<string, string>();
    return {
      recipients: [
        {
          email: addressOf(fields.get('original-rcpt-to')),
          action: 'complaint',
          status: '',
          diagnostic: fields.get('feedback-type') ?? 'abuse',
        },
      ],
      originalMessageId,
      complaint: true,
    };
  }
  if (!status) return null;
  const blocks = fieldBlocks(status.content);
  const recipients = blocks
    .filter(
      (fields) => fields.has('action') && (fields.has('final-recipient') || fields.has('original-recipient')),
    )
    .map((fields) => ({
      email: addressOf(fields.get('final-recipient')) ?? addressOf(fields.get('original-recipient')),
      action: (fields.get('action') ?? '').toLowerCase(),
      status: fields.get('status') ?? '',
      diagnostic: fields.get('diagnostic-code') ?? null,
    }));
  return { recipients, originalMessageId, complaint: false };
}

/** What one DSN recipient means: hard bounce (5.x.x failed), soft (delayed / 4.x.x), or delivered. */
export function dsnReport(recipient: DsnRecipient): BounceReport | null {
  if (recipient.action === 'complaint') {
    return { kind: 'complaint', email: recipient.email, reason: recipient.diagnostic };
  }
  if (recipient.action === 'delivered' || recipient.action === 'relayed' || recipient.action === 'expanded') {
    return { kind: 'delivered', email: recipient.email };
  }
  if (recipient.action === 'failed' || recipient.action === 'delayed') {
    // 5.7.x is a policy refusal (our reputation), not a dead address: recorded, never suppressed.
    const hard =
      recipient.action === 'failed' &&
      recipient.status.startsWith('5') &&
      !recipient.status.startsWith('5.7');
    return {
      kind: 'bounce',
      hard,
      email: recipient.email,
      reason: [recipient.status, recipient.diagnostic].filter(Boolean).join(' '),
    };
  }
  return null;
}
