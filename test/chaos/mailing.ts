import { randomBytes } from 'node:crypto';
import type { ReceivedMessage } from '../helpers/smtp.ts';
import type { ChaosDatabase } from './harness.ts';

/** Settings for a sender that sends fast but not all at once, to a real SMTP sink. */
export function senderSettings(smtpUrl: string, concurrency: number): Record<string, string> {
  return {
    SMTP_URL: smtpUrl,
    ORG_POSTAL_ADDRESS: '1 Main Street, 10115 Berlin',
    PUBLIC_URL: 'https://act.chaos.example',
    MAIL_RATE: '150',
    MAIL_CONCURRENCY: String(concurrency),
    MAIL_BATCH_SIZE: '40',
  };
}

/** `count` subscribed people with a tag of their own, and a mailing to them, started (its job queued). */
export async function startMailing(
  db: ChaosDatabase,
  count: number,
): Promise<{ mailingId: string; emails: string[] }> {
  const tag = `chaos-${randomBytes(3).toString('hex')}`;
  const emails = Array.from({ length: count }, (_, i) => `r${i}-${tag}@chaos.example`);
  for (let i = 0; i < emails.length; i += 500) {
    await db.services.people.mergePeople(
      db.runtime.ctx.db,
      emails.slice(i, i + 500).map((email) => ({ email, tags: [tag], subscribe: true })),
    );
  }
  const mailingId = await db.services.mailings.createMailing({
    fromName: 'Chaos Campaign',
    fromAddress: 'news@chaos.example',
    subject: 'Still here',
    body: 'Hello {{ given_name }}',
    format: 'markdown',
    audience: { tags: [tag] },
  });
  const recipients = await db.services.mailings.startSending(mailingId);
  if (recipients !== count) throw new Error(`expected ${count} recipients, got ${recipients}`);
  return { mailingId, emails };
}

/** Recipient address → how many messages of this mailing it received. */
export function deliveriesOf(messages: readonly ReceivedMessage[], mailingId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    const id = String(message.headers.get('message-id') ?? '');
    if (!id.includes(mailingId)) continue;
    for (const to of message.envelopeTo) counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

export function total(counts: Map<string, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}
