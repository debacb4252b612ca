import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { clientPseudonym, type Logger } from '../log.ts';
import type { DB } from '../db/index.ts';
import { RateLimiter } from '../ratelimit/index.ts';

/** Why a public form refused a person for now (the pages say it in the person's language). */
export type FormLimitReason = 'rate_limited_ip' | 'rate_limited_email';

export interface FormLimitSettings {
  /** Attempts per network (IP) per 10 minutes; 0 turns the limit off. */
  perIp: number;
  /** Attempts per email address per hour; 0 turns the limit off. */
  perEmail: number;
}

/**
 * Per-IP and per-email limits for a public form that signs people up (an RSVP, joining a group),
 * like signing a petition has. Counted in memory, shared with the other web processes about once a second. A refusal is logged (the email
 * address only as a hash, the client's IP address only as a keyed pseudonym) and thrown as `rate_limited` with the reason and the seconds to wait.
 */
export class PublicFormLimits {
  private readonly byIp: RateLimiter;
  private readonly byEmail: RateLimiter;
  private readonly form: string;
  private readonly log: Logger;
  /** Keys the pseudonym that logs give a client address (none without it). */
  private readonly secret: string | null;

  /** `shared`: count together with the other web processes (the database and the app secret). */
  constructor(
    form: string,
    settings: FormLimitSettings,
    log: Logger,
    shared: { db: DB; secret: string } | null = null,
  ) {
    this.form = form;
    this.log = log;
    this.secret = shared?.secret ?? null;
    const counting = (scope: string) => (shared ? { ...shared, scope: `${form}-${scope}`, log } : null);
    this.byIp = new RateLimiter(settings.perIp, 10 * 60_000, counting('ip'));
    this.byEmail = new RateLimiter(settings.perEmail, 3600_000, counting('email'));
  }

  close(): void {
    this.byIp.close();
    this.byEmail.close();
  }

  /**
   * Counts one attempt. Only attempts from a network address are limited: the API and the demo
   * pass none and have limits of their own.
   */
  check(
    meta: { ip: string | null },
    email: string,
    subject: { id: string },
    message: (reason: FormLimitReason, waitSeconds: number) => string,
  ): void {
    if (!meta.ip) return;
    let reason: FormLimitReason | null = null;
    let wait = this.byIp.hit(meta.ip);
    if (wait) reason = 'rate_limited_ip';
    else {
      wait = this.byEmail.hit(email.trim().toLowerCase());
      if (wait) reason = 'rate_limited_email';
    }
    if (!reason) return;
    this.log.warn(
      {
        form: this.form,
        subject: subject.id,
        reason,
        client: this.secret ? clientPseudonym(this.secret, meta.ip) : null,
        emailHash: createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16),
        retryAfter: wait,
      },
      'public form attempt refused: too many attempts',
    );
    throw new AppError('rate_limited', message(reason, wait), { retryAfter: wait, reason });
  }
}
