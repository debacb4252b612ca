import type { AppContext } from '../context.ts';
import type { EventsService } from '../events/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import type { PeopleService } from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';

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
  days: number;
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

/** The organisation dashboard: every number comes from the owning capability's service. */
export function createDashboardService(_ctx: AppContext, deps: DashboardDeps) {
  let groups = deps.groups ?? null;

  async function getDashboard(options: { days?: number; now?: Date } = {}): Promise<Dashboard> {
    const days = Math.min(Math.max(options.days ?? 30, 7), 365);
    const now = options.now ?? new Date();
    const since = new Date(
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days - 1) * DAY_MS,
    );
    const weekAgo = new Date(now.getTime() - 7 * DAY_MS);

    const [total, before, perDay, weekBefore] = [
      await deps.people.countPeople(),
      await deps.people.countPeopleCreatedBefore(since.toISOString()),
      await deps.people.countPeopleCreatedPerDay(since.toISOString()),
      await deps.people.countPeopleCreatedBefore(weekAgo.toISOString()),
    ];
    const newPerDay = fillDays(perDay, since, now);
    let running = before;
    const runningTotal = newPerDay.map((d) => ({ day: d.day, total: (running += d.total) }));

    const stats = await deps.petitions.signatureStats(since.toISOString());
    const signaturesTotal = stats.byPetition.reduce((sum, p) => sum + p.total, 0);

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
      generatedAt: now.toISOString(),
      days,
      supporters: { total, newThisWeek: total - weekBefore, newPerDay, runningTotal },
      signaturesPerDay: fillDays(stats.perDay, since, now),
      signaturesTotal,
      topPetitions: stats.byPetition.slice(0, 10).map((p) => ({
        title: p.title,
        slug: p.slug,
        total: p.total,
        confirmed: p.confirmed,
      })),
      topSources: stats.bySource
        .slice(0, 10)
        .map((s) => ({ source: s.source ?? '(direct)', total: s.total })),
      funnel,
      groups: groups ? await groups.groupCounts() : [],
      upcomingEvents: await deps.events.countUpcomingEvents(),
    };
  }

  return {
    getDashboard,
    useGroups(provider: GroupCounts) {
      groups = provider;
    },
  };
}

export type DashboardService = ReturnType<typeof createDashboardService>;
