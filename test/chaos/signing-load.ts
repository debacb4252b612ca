import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { ChaosDatabase } from './harness.ts';

export type Outcome = 'ok' | 'failed' | 'pending';

export interface Answer {
  token: string;
  /** Date.now() when the request was sent. */
  startedAt: number;
  status: number | 'error' | 'timeout';
  ms: number;
  body: string;
}

/**
 * Posts signatures to a petition at a steady rate (open loop: a new request every 1/rate s, whether
 * or not earlier ones were answered), one new signer per request. Each signer's given name is a
 * unique token, so the stored signatures can be matched back to the answers.
 */
export class SigningLoad {
  readonly posted = new Map<string, Outcome>();
  readonly answers: Answer[] = [];
  private readonly target: () => string;
  private readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private readonly prefix = randomBytes(3).toString('hex');
  private counter = 0;

  constructor(target: () => string, options: { timeoutMs?: number } = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  start(rate: number): void {
    const interval = 1000 / rate;
    const started = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.floor((performance.now() - started) / interval) + 1;
      while (sent < due) {
        sent++;
        this.track(this.post());
      }
      this.timer = setTimeout(tick, Math.max(1, interval / 2));
    };
    tick();
  }

  /** Stops posting and waits for every request in flight to be answered or to fail. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
  }

  /** `count` signatures at once; their statuses. */
  async burst(count: number): Promise<Array<Answer['status']>> {
    const answers = await Promise.all(
      Array.from({ length: count }, () => {
        const answer = this.post();
        this.track(answer);
        return answer;
      }),
    );
    return answers.map((a) => a.status);
  }

  /** Requests sent and not yet answered. */
  pending(): number {
    return this.inFlight.size;
  }

  summary(): { ok: number; failed: number } {
    let ok = 0;
    let failed = 0;
    for (const outcome of this.posted.values()) {
      if (outcome === 'ok') ok++;
      else if (outcome === 'failed') failed++;
    }
    return { ok, failed };
  }

  okTokens(): string[] {
    return [...this.posted].filter(([, outcome]) => outcome === 'ok').map(([token]) => token);
  }

  outcome(token: string): Outcome | undefined {
    return this.posted.get(token);
  }

  private track(work: Promise<unknown>): void {
    const done = work.then(() => undefined);
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  private async post(): Promise<Answer> {
    this.counter++;
    const token = `s${this.prefix}x${this.counter}`;
    this.posted.set(token, 'pending');
    const started = performance.now();
    const startedAt = Date.now();
    let answer: Answer;
    try {
      const response = await fetch(this.target(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          email: `${token}@chaos.example`,
          given_name: token,
          family_name: 'Chaos',
          postal_code: '10115',
          consent: 'yes',
        }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const body = await response.text();
      answer = { token, startedAt, status: response.status, ms: performance.now() - started, body };
    } catch (error) {
      const name = (error as { name?: string }).name;
      answer = {
        token,
        startedAt,
        status: name === 'TimeoutError' ? 'timeout' : 'error',
        ms: performance.now() - started,
        body: String(error),
      };
    }
    const ok = typeof answer.status === 'number' && answer.status >= 200 && answer.status < 300;
    this.posted.set(token, ok ? 'ok' : 'failed');
    this.answers.push(answer);
    return answer;
  }
}

/** The petition's signatures as the product lists them for delivery: signer token → how many times. */
export async function signaturesOf(db: ChaosDatabase, petitionId: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const page of db.services.petitions.signaturesForDelivery(petitionId)) {
    for (const row of page) {
      const token = (row.signer_name ?? '').split(' ')[0]!;
      counts.set(token, (counts.get(token) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * The petition's signatures once every token in `expected` shows (signing answers before the
 * intake is processed by a job), or as they are when `timeoutMs` runs out.
 */
export async function signaturesOnceProcessed(
  db: ChaosDatabase,
  petitionId: string,
  expected: readonly string[],
  timeoutMs = 60_000,
): Promise<{ names: Map<string, number>; waitedMs: number }> {
  const started = Date.now();
  let names = await signaturesOf(db, petitionId);
  while (expected.some((token) => !names.has(token)) && Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    names = await signaturesOf(db, petitionId);
  }
  return { names, waitedMs: Date.now() - started };
}

/** For a failure message: where the signings that did not become signatures are stuck. */
export async function intakeDiagnosis(db: ChaosDatabase): Promise<string> {
  const k = db.runtime.ctx.db;
  const intake = await sql<Record<string, unknown>>`
    select status, attempts, substr(coalesce(last_error, ''), 1, 120) as error, count(*) as n
      from signature_intake group by status, attempts, last_error`
    .execute(k)
    .then(
      (r) => r.rows,
      (error: unknown) => [{ error: String(error) }],
    );
  const jobs = db.schema
    ? await sql<Record<string, unknown>>`
        select name, state, retry_count, start_after > now() as later, count(*) as n
          from job group by name, state, retry_count, later`
        .execute(k)
        .then(
          (r) => r.rows,
          (error: unknown) => [{ error: String(error) }],
        )
    : await sql<Record<string, unknown>>`
        select queue, state, attempts, count(*) as n from jobs group by queue, state, attempts`
        .execute(k)
        .then(
          (r) => r.rows,
          (error: unknown) => [{ error: String(error) }],
        );
  const waiting = db.schema
    ? await sql<Record<string, unknown>>`
        select pid, application_name, state, wait_event_type, wait_event,
               round(extract(epoch from now() - xact_start)) as xact_s, substr(query, 1, 160) as query
          from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()
           and xact_start < now() - interval '10 seconds'`
        .execute(k)
        .then(
          (r) => r.rows,
          (error: unknown) => [{ error: String(error) }],
        )
    : [];
  return `intake ${JSON.stringify(intake)}; jobs ${JSON.stringify(jobs)}; long transactions ${JSON.stringify(waiting)}`;
}
