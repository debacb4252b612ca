import { personFieldValues, personFieldsBody, personInputOf } from '../web/person-fields.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { hasRole, requireRole, userOf, type AuthService, type CurrentUser } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { AppError, isAppError } from '../errors.ts';
import { choosePublicLanguage } from '../web/language.ts';
import { addAdminNavItem } from '../web/layout.ts';
import { eventIcs } from './ics.ts';
import {
  cancelPage,
  checkInPage,
  eventAdminPage,
  eventFormPage,
  eventPublicPage,
  eventsListPage,
  printListPage,
  rsvpDonePage,
  type AdminContext,
} from './pages.ts';
import type { EventInput, EventsService } from './service.ts';
import type { EventRow } from './tables.ts';

const styles = readFileSync(new URL('./assets/events.css', import.meta.url));

/** What the events pages need to know about groups (implemented by the groups capability). */
export interface EventGroupAccess {
  /** Group ids whose events the user may manage, or null for every event. */
  eventScope(user: CurrentUser): Promise<string[] | null>;
  groupChoices(user: CurrentUser): Promise<{ id: string; name: string }[]>;
  groupName(id: string | null): Promise<string | null>;
}

export interface EventsPluginOptions {
  ctx: AppContext;
  events: EventsService;
  auth: AuthService;
  groups?: EventGroupAccess | null;
}

const slugParams = Type.Object({ slug: Type.String({ minLength: 1, maxLength: 100 }) });
const langQuery = Type.Object({ lang: Type.Optional(Type.String({ maxLength: 10 })) });
const idParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const eventBody = Type.Object({
  _csrf: Type.Optional(Type.String()),
  title: Type.Optional(Type.String({ maxLength: 300 })),
  slug: Type.Optional(Type.String({ maxLength: 100 })),
  description: Type.Optional(Type.String({ maxLength: 20_000 })),
  starts_local: Type.Optional(Type.String({ maxLength: 40 })),
  ends_local: Type.Optional(Type.String({ maxLength: 40 })),
  time_zone: Type.Optional(Type.String({ maxLength: 80 })),
  place: Type.Optional(Type.String({ maxLength: 600 })),
  online_url: Type.Optional(Type.String({ maxLength: 2000 })),
  capacity: Type.Optional(Type.String({ maxLength: 20 })),
  group_id: Type.Optional(Type.String({ maxLength: 64 })),
  status: Type.Optional(Type.String({ maxLength: 20 })),
});

function inputOf(body: typeof eventBody.static): EventInput {
  return {
    title: body.title ?? '',
    slug: body.slug ?? null,
    description: body.description ?? '',
    startsLocal: body.starts_local ?? '',
    endsLocal: body.ends_local ?? '',
    timeZone: body.time_zone ?? '',
    place: body.place ?? null,
    onlineUrl: body.online_url ?? null,
    capacity: body.capacity ?? null,
    groupId: body.group_id || null,
    status: body.status === 'cancelled' ? 'cancelled' : 'published',
  };
}

function csvCell(value: string | null): string {
  if (value === null) return '';
  // A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Public event pages and RSVPs; the admin pages for events, RSVPs and check-in. */
export async function eventsPlugin(instance: FastifyInstance, options: EventsPluginOptions): Promise<void> {
  const { ctx, events, auth } = options;
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  addAdminNavItem({ href: '/admin/events', label: 'Events', section: 'events' });
  const sendHtml = (reply: FastifyReply, page: { value: string }) =>
    reply.type('text/html; charset=utf-8').send(page.value);
  const meta = (request: FastifyRequest) => ({
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
  });

  app.get('/events/-/events.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(styles),
  );

  /* ---------- public ---------- */

  /** ?lang= (or the form's lang field), else the browser's Accept-Language. */
  const languageOf = (request: FastifyRequest, requested?: string) =>
    choosePublicLanguage(requested, request.headers['accept-language']);

  app.get(
    '/events/:slug',
    { schema: { params: slugParams, querystring: langQuery } },
    async (request, reply) => {
      const event = await events.getEventBySlug(request.params.slug);
      return sendHtml(
        reply,
        eventPublicPage({
          event,
          counts: await events.countsOf(event),
          url: events.eventUrl(event),
          lang: languageOf(request, request.query.lang),
        }),
      );
    },
  );

  app.get('/events/:slug/event.ics', { schema: { params: slugParams } }, async (request, reply) => {
    const event = await events.getEventBySlug(request.params.slug);
    return reply
      .type('text/calendar; charset=utf-8')
      .header('content-disposition', `attachment; filename="${event.slug}.ics"`)
      .send(eventIcs(event, { url: events.eventUrl(event), domain: new URL(ctx.config.publicUrl).hostname }));
  });

  app.post(
    '/events/:slug/rsvp',
    { schema: { params: slugParams, body: personFieldsBody } },
    async (request, reply) => {
      const event = await events.getEventBySlug(request.params.slug);
      const body = request.body;
      const values = personFieldValues(body);
      const lang = languageOf(request, body.lang);
      if (body.website) {
        // A filled honeypot is a bot: answer like a success, change nothing.
        ctx.log.info({ event: event.id }, 'rsvp honeypot filled');
        return sendHtml(reply, rsvpDonePage(event, { status: 'going', rsvpId: '', created: false }, lang));
      }
      try {
        const outcome = await events.rsvp(
          event.slug,
          { ...personInputOf(body), language: lang },
          meta(request),
        );
        return sendHtml(reply, rsvpDonePage(event, outcome, lang));
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'rate_limited'].includes(error.code)) throw error;
        // Too many attempts: 429 with the form, the reason and when to try again.
        if (typeof error.details?.retryAfter === 'number')
          reply.header('retry-after', String(error.details.retryAfter));
        reply.status(error.status);
        return sendHtml(
          reply,
          eventPublicPage({
            event,
            counts: await events.countsOf(event),
            url: events.eventUrl(event),
            error: error.message,
            values,
            lang,
          }),
        );
      }
    },
  );

  const tokenQuery = Type.Object({
    token: Type.String({ minLength: 1, maxLength: 300 }),
    lang: Type.Optional(Type.String({ maxLength: 10 })),
  });
  const tokenBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 300 }) });

  app.get('/events/rsvp/cancel', { schema: { querystring: tokenQuery } }, async (request, reply) => {
    const { rsvp, event } = await events.rsvpForToken(request.query.token);
    return sendHtml(
      reply,
      cancelPage({ event, rsvp, token: request.query.token, lang: languageOf(request, request.query.lang) }),
    );
  });

  app.post(
    '/events/rsvp/cancel',
    { schema: { body: tokenBody, querystring: langQuery } },
    async (request, reply) => {
      const { rsvp } = await events.rsvpForToken(request.body.token);
      const { event } = await events.cancelRsvp(rsvp.id);
      return sendHtml(
        reply,
        cancelPage({
          event,
          rsvp,
          token: request.body.token,
          done: true,
          lang: languageOf(request, request.query.lang),
        }),
      );
    },
  );

  /* ---------- admin ---------- */

  const context = (request: FastifyRequest): AdminContext => {
    const user = userOf(request);
    return { user, orgName: ctx.config.orgName, canEdit: hasRole(user.role, 'organiser') };
  };

  /** The event, when the signed-in user may see it (leaders: only their groups' events). */
  async function eventFor(request: FastifyRequest, id: string): Promise<EventRow> {
    const event = await events.getEvent(id);
    const scope = options.groups ? await options.groups.eventScope(userOf(request)) : null;
    if (scope && !(event.group_id && scope.includes(event.group_id))) {
      throw new AppError('not_found', 'There is no such event.');
    }
    return event;
  }

  async function formPage(
    request: FastifyRequest,
    values: Partial<EventInput>,
    event?: EventRow,
    error?: string,
  ) {
    const user = userOf(request);
    const scope = options.groups ? await options.groups.eventScope(user) : null;
    return eventFormPage(context(request), {
      ...(event ? { event } : {}),
      values,
      groups: options.groups ? await options.groups.groupChoices(user) : [],
      allowNoGroup: scope === null,
      error: error ?? null,
    });
  }

  async function checkGroupAllowed(request: FastifyRequest, groupId: string | null): Promise<void> {
    const scope = options.groups ? await options.groups.eventScope(userOf(request)) : null;
    if (scope && !(groupId && scope.includes(groupId))) {
      throw new AppError('forbidden', 'You can only create events for the groups you lead.');
    }
  }

  app.get('/admin/events', { preHandler: requireRole('viewer') }, async (request, reply) => {
    const scope = options.groups ? await options.groups.eventScope(userOf(request)) : null;
    const rows = await events.listEvents(scope ? { groupIds: scope } : {});
    const list = [];
    for (const event of rows) {
      list.push({
        event,
        counts: await events.countsOf(event),
        groupName: options.groups ? await options.groups.groupName(event.group_id) : null,
      });
    }
    return sendHtml(reply, eventsListPage(context(request), list));
  });

  app.get('/admin/events/new', { preHandler: requireRole('organiser') }, async (request, reply) =>
    sendHtml(reply, await formPage(request, { timeZone: ctx.config.orgTimeZone })),
  );

  app.post(
    '/admin/events',
    { preHandler: requireRole('organiser'), schema: { body: eventBody } },
    async (request, reply) => {
      const input = inputOf(request.body);
      try {
        await checkGroupAllowed(request, input.groupId ?? null);
        const event = await events.createEvent(input);
        await auth.audit({
          userId: userOf(request).id,
          action: 'event.create',
          subjectType: 'event',
          subjectId: event.id,
          ip: request.ip,
        });
        return reply.redirect(`/admin/events/${event.id}`, 303);
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'forbidden'].includes(error.code)) throw error;
        reply.status(error.status);
        return sendHtml(reply, await formPage(request, input, undefined, error.message));
      }
    },
  );

  app.get(
    '/admin/events/:id',
    { preHandler: requireRole('viewer'), schema: { params: idParams } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      const rsvps = await events.listRsvps(event.id);
      await auth.audit({
        userId: userOf(request).id,
        action: 'event.rsvps.view',
        subjectType: 'event',
        subjectId: event.id,
        details: { people: rsvps.length },
        ip: request.ip,
      });
      return sendHtml(
        reply,
        eventAdminPage(context(request), {
          event,
          counts: await events.countsOf(event),
          rsvps,
          url: events.eventUrl(event),
          groupName: options.groups ? await options.groups.groupName(event.group_id) : null,
        }),
      );
    },
  );

  app.get(
    '/admin/events/:id/edit',
    { preHandler: requireRole('organiser'), schema: { params: idParams } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      return sendHtml(reply, await formPage(request, events.formInputOf(event), event));
    },
  );

  app.post(
    '/admin/events/:id',
    { preHandler: requireRole('organiser'), schema: { params: idParams, body: eventBody } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      const input = inputOf(request.body);
      try {
        await checkGroupAllowed(request, input.groupId ?? null);
        await events.updateEvent(event.id, input);
        await auth.audit({
          userId: userOf(request).id,
          action: 'event.update',
          subjectType: 'event',
          subjectId: event.id,
          ip: request.ip,
        });
        return reply.redirect(`/admin/events/${event.id}`, 303);
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'forbidden'].includes(error.code)) throw error;
        reply.status(error.status);
        return sendHtml(reply, await formPage(request, input, event, error.message));
      }
    },
  );

  const checkInQuery = Type.Object({ q: Type.Optional(Type.String({ maxLength: 200 })) });

  app.get(
    '/admin/events/:id/check-in',
    { preHandler: requireRole('organiser'), schema: { params: idParams, querystring: checkInQuery } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      const q = (request.query.q ?? '').trim().toLowerCase();
      const rsvps = (await events.listRsvps(event.id, ['going'])).filter(
        (r) =>
          !q ||
          r.email.includes(q) ||
          `${r.given_name ?? ''} ${r.family_name ?? ''}`.toLowerCase().includes(q),
      );
      await auth.audit({
        userId: userOf(request).id,
        action: 'event.checkin.view',
        subjectType: 'event',
        subjectId: event.id,
        ip: request.ip,
      });
      return sendHtml(
        reply,
        checkInPage(context(request), {
          event,
          counts: await events.countsOf(event),
          rsvps,
          q: request.query.q ?? '',
        }),
      );
    },
  );

  app.post(
    '/admin/events/:id/rsvps/:rsvpId/check-in',
    {
      preHandler: requireRole('organiser'),
      schema: {
        params: Type.Object({ id: Type.String({ maxLength: 64 }), rsvpId: Type.String({ maxLength: 64 }) }),
        querystring: checkInQuery,
        body: Type.Object({ _csrf: Type.Optional(Type.String()), checked: Type.String({ maxLength: 2 }) }),
      },
    },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      await events.setCheckIn(event.id, request.params.rsvpId, request.body.checked === '1');
      const q = request.query.q ? `?q=${encodeURIComponent(request.query.q)}` : '';
      return reply.redirect(`/admin/events/${event.id}/check-in${q}#rsvp-${request.params.rsvpId}`, 303);
    },
  );

  app.get(
    '/admin/events/:id/check-in/print',
    { preHandler: requireRole('organiser'), schema: { params: idParams } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      const rsvps = await events.listRsvps(event.id, ['going']);
      await auth.audit({
        userId: userOf(request).id,
        action: 'event.checkin.print',
        subjectType: 'event',
        subjectId: event.id,
        ip: request.ip,
      });
      return sendHtml(reply, printListPage(context(request), { event, rsvps }));
    },
  );

  app.get(
    '/admin/events/:id/rsvps.csv',
    { preHandler: requireRole('organiser'), schema: { params: idParams } },
    async (request, reply) => {
      const event = await eventFor(request, request.params.id);
      await auth.audit({
        userId: userOf(request).id,
        action: 'event.rsvps.export',
        subjectType: 'event',
        subjectId: event.id,
        ip: request.ip,
      });
      const columns = [
        'rsvp_id',
        'person_id',
        'email',
        'given_name',
        'family_name',
        'status',
        'checked_in_at',
        'created_at',
      ];
      async function* lines(): AsyncGenerator<string> {
        yield `${columns.join(',')}\r\n`;
        let chunk = '';
        let n = 0;
        for await (const r of events.streamRsvps(event.id)) {
          chunk +=
            [r.id, r.person_id, r.email, r.given_name, r.family_name, r.status, r.checked_in_at, r.created_at]
              .map(csvCell)
              .join(',') + '\r\n';
          if (++n % 500 === 0) {
            yield chunk;
            chunk = '';
          }
        }
        if (chunk) yield chunk;
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="rsvps-${event.slug}.csv"`)
        .send(Readable.from(lines(), { objectMode: false }));
    },
  );
}
