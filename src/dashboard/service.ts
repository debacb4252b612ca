import type { AppContext } from '../context.ts';
import type { EventsService } from '../events/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import type { PeopleService } from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';
import * as store from './store.ts';

/** What the dashboard needs from groups (the groups capability provides it). */
export interface GroupCounts {
  groupCounts(): Promise<{ id: string; name: string; level: string; depth: number; members: number }[]>;
}

export interface DashboardDeps {
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
  events: EventsService;
  groups?: GroupCounts | null;
}

export interface DayCount {
  day: string;
  total: number;
}

export interface Dashboard {
  generatedAt: string;
  /** When the stored numbers (the mailings funnel and the groups' members) were computed. */
  storedAt: string;
  days: number;
  /** newThisWeek: people created in the last 7 UTC days, today included. */
  supporters: { total: number; newThisWeek: number; newPerDay: DayCount[]; runningTotal: DayCount[] };
  signaturesPerDay: DayCount[];
  signaturesTotal: number;
  topPetitions: { title: string; slug: string; total: number; confirmed: number }[];
  topSources: { source: string; total: number }[];
  funnel: { mailings: number; sent: number; opened: number; clicked: number; signed: number };
  groups: { id: string; name: string; level: string; depth: number; members: number }[];
  upcomingEvents: number;
}

const DAY_MS = 24 * 3600_000;

/** How often a job-running process computes the stored numbers again. */
export const REFRESH_MS = 5 * 60_000;
/** Stored numbers this old are refreshed from the page's process too (no job-running process did). */
const STALE_MS = 2 * REFRESH_MS;
/** How long one process may take to compute them before another may try. */
const LEASE_MS = 5 * 60_000;
const NUMBERS = 'organisation';

/**
 * Numbers too costly to count on every view at a million people: members per group (members
 * joined, matched by rules and signers of the group's petitions, distinct) and the funnel of up to
 * 100 mailings (each reads its recipients, events and signatures). Computed in the background and
 * kept in dashboard_numbers.
 */
export interface StoredNumbers {
  funnel: Dashboard['funnel'];
  groups: Dashboard['groups'];
  /**
   * The default window's days before the day they were computed on (`day`): those days do not
   * change, so a view counts only the people and signatures since `day` began (at 5,000,000
   * signatures a month holds 400,000 of them, too many to count on every view).
   */
  history?: History;
}

interface History {
  /** The UTC day (YYYY-MM-DD) the numbers were computed on; they cover the days before it. */
  day: string;
  days: number;
  peopleBefore: number;
  peoplePerDay: DayCount[];
  signaturesPerDay: DayCount[];
  /** Signatures per source over the days kept (the most frequent SOURCES_KEPT sources). */
  sources: { source: string | null; total: number }[];
}

const DEFAULT_DAYS = 30;
const SOURCES_KEPT = 500;

function parseNumbers(text: string): StoredNumbers | null {
  try {
    const value = JSON.parse(text) as Partial<StoredNumbers>;
    return value && typeof value.funnel === 'object' && Array.isArray(value.groups)
      ? { funnel: value.funnel, groups: value.groups, ...(value.history ? { history: value.history } : {}) }
      : null;
  } catch {
    return null;
  }
}

/** Midnight UTC of `now`'s day, and of the first day of a window of `days` days ending that day. */
function windowOf(now: Date, days: number): { today: Date; since: Date } {
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return { today, since: new Date(today.getTime() - (days - 1) * DAY_MS) };
}

/** Sums per source of two lists, most first. */
function addSources(
  a: readonly { source: string | null; total: number }[],
  b: readonly { source: string | null; total: number }[],
): { source: string | null; total: number }[] {
  const by = new Map<string | null, number>();
  for (const s of [...a, ...b]) by.set(s.source, (by.get(s.source) ?? 0) + s.total);
  return [...by].map(([source, total]) => ({ source, total })).sort((x, y) => y.total - x.total);
}

/** Every UTC day from `since` to `until` (inclusive), with the counts given and 0 elsewhere. */
export function fillDays(counts: readonly DayCount[], since: Date, until: Date): DayCount[] {
  const by = new Map(counts.map((c) => [c.day, c.total]));
  const out: DayCount[] = [];
  for (
    let t = Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate());
    t <= until.getTime();
    t += DAY_MS
  ) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push({ day, total: by.get(day) ?? 0 });
  }
  return out;
}

/**
 * The organisation dashboard: every number comes from the owning capability's service. Counts that
 * an index answers are read on each view; the stored numbers are those of the last refresh.
 */
export function createDashboardService(ctx: AppContext, deps: DashboardDeps) {
  const db = ctx.db;
  let groups = deps.groups ?? null;
  let refreshing: Promise<{ numbers: StoredNumbers; computedAt: string }> | null = null;
  let background: Promise<void> | null = null;

  async function computeNumbers(now: Date): Promise<StoredNumbers> {
    const funnel = { mailings: 0, sent: 0, opened: 0, clicked: 0, signed: 0 };
    const mailings = (await deps.mailings.listMailings()).filter((m) => m.status !== 'draft').slice(0, 100);
    for (const mailing of mailings) {
      const report = await deps.mailings.mailingReport(mailing.id);
      funnel.mailings++;
      funnel.sent += report.sent;
      funnel.opened += report.opened;
      funnel.clicked += report.clicked;
      funnel.signed += report.signatures;
    }
    return {
      funnel,
      groups: groups ? await groups.groupCounts() : [],
      history: await computeHistory(now),
    };
  }

  async function computeHistory(now: Date): Promise<History> {
    const { today, since } = windowOf(now, DEFAULT_DAYS);
    const day = today.toISOString().slice(0, 10);
    const stats = await deps.petitions.signatureStats(since.toISOString(), {
      untilIso: today.toISOString(),
      sourceLimit: SOURCES_KEPT,
    });
    return {
      day,
      days: DEFAULT_DAYS,
      peopleBefore: await deps.people.countPeopleCreatedBefore(today.toISOString()),
      peoplePerDay: (await deps.people.countPeopleCreatedPerDay(since.toISOString())).filter(
        (d) => d.day < day,
      ),
      signaturesPerDay: stats.perDay,
      sources: stats.bySource,
    };
  }

  /** Computes the stored numbers now and keeps them (one computation at a time in a process). */
  function refreshStoredNumbers(): Promise<{ numbers: StoredNumbers; computedAt: string }> {
    refreshing ??= (async () => {
      const now = new Date();
      const computedAt = now.toISOString();
      const numbers = await computeNumbers(now);
      await store.saveNumbers(db, NUMBERS, JSON.stringify(numbers), computedAt);
      return { numbers, computedAt };
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  /**
   * Refreshes the stored numbers when they are older than `maxAgeMs` and no other process is at
   * it (a lease in the table). Returns whether this call computed them.
   */
  async function refreshIfDue(maxAgeMs = REFRESH_MS): Promise<boolean> {
    if (!(await store.findNumbers(db, NUMBERS))) {
      await refreshStoredNumbers();
      return true;
    }
    const now = Date.now();
    const claimed = await store.claimRefresh(
      db,
      NUMBERS,
      new Date(now - maxAgeMs).toISOString(),
      new Date(now).toISOString(),
      new Date(now + LEASE_MS).toISOString(),
    );
    if (!claimed) return false;
    // A failed computation keeps the lease: it is tried again when the lease ends, not on every view.
    await refreshStoredNumbers();
    return true;
  }

  function refreshInBackground(maxAgeMs: number): void {
    if (background) return;
    background = refreshIfDue(maxAgeMs)
      .then(() => undefined)
      .catch((error: unknown) => ctx.log.warn({ err: error }, 'could not refresh the dashboard numbers'))
      .finally(() => {
        background = null;
      });
  }

  /**
   * The last stored numbers, refreshed in the background when no job-running process has done it
   * for a while. Only when none were ever stored (a new organisation) are they computed at once.
   */
  async function storedNumbers(): Promise<{ numbers: StoredNumbers; computedAt: string }> {
    const row = await store.findNumbers(db, NUMBERS);
    const numbers = row ? parseNumbers(row.numbers) : null;
    if (!row || !numbers) return refreshStoredNumbers();
    if (Date.parse(row.computed_at) < Date.now() - STALE_MS) refreshInBackground(STALE_MS);
    // Computed on an earlier day: their days no longer end where today's count begins.
    else if (row.computed_at.slice(0, 10) < new Date().toISOString().slice(0, 10)) refreshInBackground(0);
    return { numbers, computedAt: row.computed_at };
  }

  async function getDashboard(options: { days?: number; now?: Date } = {}): Promise<Dashboard> {
    const days = Math.min(Math.max(options.days ?? DEFAULT_DAYS, 7), 365);
    const now = options.now ?? new Date();
    const { today, since } = windowOf(now, days);
    const stored = await storedNumbers();
    const kept = stored.numbers.history;
    const sum = (counts: readonly DayCount[]) => counts.reduce((n, d) => n + d.total, 0);

    let total: number;
    let peoplePerDay: DayCount[];
    let signaturesPerDay: DayCount[];
    let sources: { source: string | null; total: number }[];
    let byPetition: Awaited<ReturnType<PetitionService['signatureStats']>>['byPetition'];
    if (kept && kept.days === days && kept.day === today.toISOString().slice(0, 10)) {
      // The window's earlier days as kept; today counted now.
      const recentPeople = await deps.people.countPeopleCreatedPerDay(today.toISOString());
      const stats = await deps.petitions.signatureStats(today.toISOString(), { sourceLimit: SOURCES_KEPT });
      total = kept.peopleBefore + sum(recentPeople);
      peoplePerDay = [...kept.peoplePerDay, ...recentPeople];
      signaturesPerDay = [...kept.signaturesPerDay, ...stats.perDay];
      sources = addSources(kept.sources, stats.bySource);
      byPetition = stats.byPetition;
    } else {
      total = await deps.people.countPeople();
      peoplePerDay = await deps.people.countPeopleCreatedPerDay(since.toISOString());
      const stats = await deps.petitions.signatureStats(since.toISOString());
      signaturesPerDay = stats.perDay;
      sources = stats.bySource;
      byPetition = stats.byPetition;
    }

    // People created before the window: the total less those created since (counting those
    // before would read nearly every person).
    const newPerDay = fillDays(peoplePerDay, since, now);
    let running = total - sum(peoplePerDay);
    const runningTotal = newPerDay.map((d) => ({ day: d.day, total: (running += d.total) }));

    return {
      generatedAt: now.toISOString(),
      storedAt: stored.computedAt,
      days,
      supporters: { total, newThisWeek: sum(newPerDay.slice(-7)), newPerDay, runningTotal },
      signaturesPerDay: fillDays(signaturesPerDay, since, now),
      signaturesTotal: byPetition.reduce((n, p) => n + p.total, 0),
      topPetitions: byPetition.slice(0, 10).map((p) => ({
        title: p.title,
        slug: p.slug,
        total: p.total,
        confirmed: p.confirmed,
      })),
      topSources: sources.slice(0, 10).map((s) => ({ source: s.source ?? '(direct)', total: s.total })),
      funnel: stored.numbers.funnel,
      groups: stored.numbers.groups,
      upcomingEvents: await deps.events.countUpcomingEvents(),
    };
  }

  /**
   * Members per group as last kept (by group id), and when they were counted: what the groups
   * admin pages show instead of counting every group on each view.
   */
  async function keptGroupMembers(): Promise<{ members: Map<string, number>; countedAt: string }> {
    const stored = await storedNumbers();
    return {
      members: new Map(stored.numbers.groups.map((g) => [g.id, g.members])),
      countedAt: stored.computedAt,
    };
  }

  /** In a job-running process: the stored numbers now if due, then checked every minute. */
  function startRefreshing(): () => void {
    refreshInBackground(REFRESH_MS);
    const timer = setInterval(() => refreshInBackground(REFRESH_MS), 60_000);
    timer.unref();
    return () => clearInterval(timer);
  }

  return {
    getDashboard,
    keptGroupMembers,
    refreshStoredNumbers,
    refreshIfDue,
    startRefreshing,
    /** Resolves when this process is not computing the stored numbers (tests, shutdown). */
    async settled(): Promise<void> {
      await background;
      await refreshing?.catch(() => undefined);
    },
    useGroups(provider: GroupCounts) {
      groups = provider;
    },
  };
}

export type DashboardService = ReturnType<typeof createDashboardService>;
