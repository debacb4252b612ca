/**
 * What an SMTP answer means for one recipient of a bulk mailing:
 * - sent: accepted;
 * - hard-bounce: 5xx about the address (suppress it);
 * - policy: 5.7.x / reputation or rate refusals (slow down for that receiving domain, keep the person);
 * - deferred: 4xx, try again later with backoff, never dropped;
 * - unavailable: the SMTP server itself cannot be reached (pause the mailing, resume later).
 */
export type SmtpOutcome = 'hard-bounce' | 'policy' | 'deferred' | 'unavailable';

const connectionCodes = new Set([
  'ECONNECTION',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'EPROTOCOL',
]);

export function classifySmtpError(error: unknown): SmtpOutcome {
  const e = (error ?? {}) as {
    responseCode?: unknown;
    code?: unknown;
    response?: unknown;
    message?: unknown;
  };
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const text = `${typeof e.response === 'string' ? e.response : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  const enhanced = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(text);
  if (responseCode === undefined) {
    return connectionCodes.has(String(e.code)) || !enhanced ? 'unavailable' : 'deferred';
  }
  // 421 / 454 on connect or from a pool: the server is going away or overloaded as a whole.
  if (responseCode === 421) return 'unavailable';
  if (responseCode >= 500) {
    if (enhanced && enhanced[2] === '7') return 'policy';
    if (
      /\b(policy|reputation|blocked|spam|rate limit|too many)\b/i.test(text) &&
      !/user unknown|no such/i.test(text)
    ) {
      return 'policy';
    }
    return 'hard-bounce';
  }
  if (responseCode >= 400) {
    if (enhanced && enhanced[2] === '7') return 'policy';
    return 'deferred';
  }
  return 'deferred';
}

/** Backoff for a deferred recipient: 1, 2, 4 … minutes, at most an hour. */
export function deferralDelayMs(attempts: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, attempts - 1), 3_600_000);
}

export function domainOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}
