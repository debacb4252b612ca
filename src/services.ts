import type { FastifyInstance } from 'fastify';
import { apiPlugin, createApiService, type ApiService } from './api/index.ts';
import {
  authPlugin,
  createAuthService,
  installAuthHooks,
  printFirstOwnerLink,
  type AuthService,
} from './auth/index.ts';
import type { AppContext } from './context.ts';
import { homePlugin } from './web/home.ts';
import {
  createDashboardService,
  dashboardPlugin,
  renderDashboardHome,
  type DashboardService,
} from './dashboard/index.ts';
import { createEventsService, eventsPlugin, type EventsService } from './events/index.ts';
import {
  createGroupsService,
  eventGroupAccess,
  groupsPlugin,
  installLeaderGuard,
  petitionGroupAccess,
  type GroupsService,
} from './groups/index.ts';
import { createMailService, type MailService } from './mail/index.ts';
import {
  createMailingsService,
  mailingsAdminPlugin,
  mailingsPublicPlugin,
  petitionsForMail,
  startInboundListener,
  type MailingsService,
} from './mail/mailings/index.ts';
import { createPeopleService, peoplePlugin, type PeopleService } from './people/index.ts';
import { createPetitionService, petitionsPlugin, type PetitionService } from './petitions/index.ts';
import { createPrivacyService, privacyPlugin, type PrivacyService } from './privacy/index.ts';

/**
 * Every capability's service, built once per process. Capabilities reach each other only through
 * these services (never each other's stores); job handlers are registered here so that a
 * `undersign worker` process has them without the web app.
 */
export interface Services {
  ctx: AppContext;
  auth: AuthService;
  mail: MailService;
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
  api: ApiService;
  events: EventsService;
  dashboard: DashboardService;
  groups: GroupsService;
  privacy: PrivacyService;
  /** Run once the server listens (e.g. printing the first-owner link). */
  afterListen?: Array<() => Promise<void>>;
}

export function createServices(ctx: AppContext): Services {
  const auth = createAuthService(ctx);
  const mail = createMailService(ctx);
  const people = createPeopleService(ctx);
  const petitions = createPetitionService(ctx, { people, mail });
  const groups = createGroupsService(ctx, {
    people,
    auth,
    districtPostalCodes: (districtIds) => petitions.postalCodesInDistrictsQuery(districtIds),
    petitionSigners: async (groupIds) =>
      groupIds.length > 0 ? [petitions.signerIdsOfGroupPetitionsQuery(groupIds)] : [],
  });
  const mailings = createMailingsService(ctx, {
    groups: {
      memberIdsQuery: (groupIds, executor) => groups.memberIdsQuery(groupIds, executor),
      scopeFor: (actor) => groups.groupScope(actor),
      groupChoices: (actor) => groups.groupChoices(actor),
    },
    petitions: petitionsForMail(petitions, ctx.config.publicUrl),
    activity: (personId, kind, summary, details) =>
      people.addActivity(ctx.db, personId, kind, summary, details),
  });
  const events = createEventsService(ctx, { people, mail });
  events.useGroupMembership((executor, groupId, personId) =>
    groups.addMemberFromEvent(executor, groupId, personId),
  );
  // Group leaders see their groups' members only, and every read of people is audited.
  people.setAccessControl({
    scopeFor: (viewer) => groups.peopleScope(viewer),
    recordView: (viewer, action, details) =>
      auth.audit({
        userId: viewer.id,
        action,
        subjectType: typeof details.personId === 'string' ? 'person' : 'people',
        ...(typeof details.personId === 'string' ? { subjectId: details.personId } : {}),
        details,
      }),
  });
  const api = createApiService(ctx, { auth, people, petitions, mailings, events, groups });
  const dashboard = createDashboardService(ctx, { people, petitions, mailings, events, groups });
  const privacy = createPrivacyService(ctx, { auth, people, petitions, events, groups, mail, mailings, api });
  const services: Services = {
    ctx,
    api,
    auth,
    mail,
    people,
    petitions,
    mailings,
    events,
    dashboard,
    groups,
    privacy,
    afterListen: [
      () => printFirstOwnerLink(auth, (line) => console.log(line)),
      // Webhook events are read from a change feed while the embedded worker runs.
      async () => {
        if (ctx.config.embeddedWorker) api.webhooks.startScanner();
      },
      async () => {
        if (ctx.config.embeddedWorker) startHousekeeping(services);
      },
      // Optional listener for bounce reports (DSNs) and mailto unsubscribes.
      async () => {
        const port = ctx.config.bulkMail.inboundSmtpPort;
        if (port > 0) await startInboundListener(mailings, ctx.log, { port, host: ctx.config.host });
      },
    ],
  };
  return services;
}

/**
 * Deletes what nobody needs any more (finished jobs older than a week, expired sessions, processed
 * background API requests, old webhook delivery logs) and hands signatures whose processing job
 * gave up to a new job.
 */
export async function runHousekeeping(services: Services): Promise<void> {
  await services.ctx.jobs.purgeFinished();
  await services.auth.purgeExpiredSessions();
  await services.api.purgeProcessed();
  await services.petitions.requeueStalledIntake();
}

/** Runs housekeeping now and every hour in a job-running process (serve with its worker, or worker). */
export function startHousekeeping(services: Services): void {
  const run = () =>
    runHousekeeping(services).catch((error: unknown) =>
      services.ctx.log.warn({ err: error }, 'housekeeping failed'),
    );
  void run();
  setInterval(run, 3600_000).unref();
  // Answered signatures whose job died (a crash, a database outage) are picked up within a minute,
  // and all pending ones at once when a job-running process starts (after a crash, say).
  const requeue = (olderThanMs?: number) =>
    void services.petitions
      .requeueStalledIntake(olderThanMs)
      .catch((error: unknown) => services.ctx.log.warn({ err: error }, 'could not requeue signatures'));
  requeue(0);
  setInterval(() => requeue(), 15_000).unref();
  // The dashboard's costly numbers (group members, mailings funnel), counted every few minutes.
  services.dashboard.startRefreshing();
}

/** Admin home links, one per capability. */
const homeSections = [
  { href: '/admin/people', label: 'People', text: 'search supporters, see their history, export' },
  { href: '/admin/imports/new', label: 'Import', text: 'add supporters from a CSV file' },
  {
    href: '/admin/petitions',
    label: 'Petitions',
    text: 'publish petitions, follow signatures, deliver them',
  },
  {
    href: '/admin/mailings',
    label: 'Mailings',
    text: 'email supporters, A/B test subjects, follow the results',
  },
];

/** Registers each capability's Fastify plugin. */
export async function registerPlugins(
  app: FastifyInstance,
  ctx: AppContext,
  services: Services,
): Promise<void> {
  installAuthHooks(app, services.auth, ctx);
  installLeaderGuard(app, services.groups);
  await app.register(authPlugin, {
    ctx,
    auth: services.auth,
    homeSections: () => homeSections,
    home: (user) => renderDashboardHome(ctx, services.dashboard, user, homeSections),
  });
  await app.register(peoplePlugin, { ctx, people: services.people });
  await app.register(petitionsPlugin, {
    ctx,
    petitions: services.petitions,
    access: petitionGroupAccess(services.groups, services.auth),
  });
  await app.register(mailingsPublicPlugin, { ctx, mailings: services.mailings });
  await app.register(mailingsAdminPlugin, {
    ctx,
    mailings: services.mailings,
    mail: services.mail,
    audit: (entry) => services.auth.audit(entry),
  });
  await app.register(apiPlugin, {
    ctx,
    api: services.api,
    people: services.people,
    petitions: services.petitions,
    mailings: services.mailings,
    events: services.events,
    privacy: services.privacy,
  });
  await app.register(eventsPlugin, {
    ctx,
    events: services.events,
    auth: services.auth,
    groups: eventGroupAccess(services.groups),
  });
  await app.register(dashboardPlugin, { ctx, dashboard: services.dashboard });
  await app.register(groupsPlugin, {
    ctx,
    groups: services.groups,
    auth: services.auth,
    people: services.people,
    petitions: services.petitions,
    events: services.events,
    keptMemberCounts: () => services.dashboard.keptGroupMembers(),
  });
  await app.register(privacyPlugin, { ctx, privacy: services.privacy });
  await app.register(homePlugin, {
    orgName: ctx.config.orgName,
    petitions: services.petitions,
    events: services.events,
  });
}
