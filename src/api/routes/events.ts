import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../errors.ts';
import type { EventsService } from '../../events/index.ts';
import { collection, collectionSchema, ErrorBody, IdParams, PageQuery, paging } from '../hal.ts';
import { Attendance, AttendanceHelperBody, attendanceToOsdi, Event_, eventToOsdi } from '../osdi.ts';
import { hal, trueish, type ApiRouteOptions } from './context.ts';

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
};
const Accepted = Type.Object({ status: Type.String(), message: Type.String() });
const BackgroundQuery = Type.Object({
  background_request: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 10 })])),
});
const AttendanceParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  attendanceId: Type.String({ minLength: 1, maxLength: 100 }),
});

export async function eventsApiRoutes(
  app: FastifyInstance,
  options: ApiRouteOptions & { events: EventsService },
): Promise<void> {
  const { api, events, urls, ctx } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const max = ctx.config.apiMaxPerPage;

  async function osdiEvent(event: Awaited<ReturnType<EventsService['getEvent']>>) {
    const counts = await events.countsOf(event);
    return eventToOsdi(urls, events.eventUrl(event), event, counts.going);
  }

  r.get(
    '/events',
    {
      schema: {
        summary: 'List events',
        description: 'In order of start time.',
        tags: ['events'],
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:events', Event_), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { rows, total } = await events.listEventsPage({ offset: p.offset, limit: p.limit });
      const items = [];
      for (const row of rows) items.push(await osdiEvent(row));
      return hal(reply).send(collection(urls, '/events', 'osdi:events', items, total, p));
    },
  );

  r.get(
    '/events/:id',
    {
      schema: {
        summary: 'One event',
        tags: ['events'],
        params: IdParams,
        response: { 200: Event_, ...errors },
      },
    },
    async (request, reply) => hal(reply).send(await osdiEvent(await events.getEvent(request.params.id))),
  );

  r.get(
    '/events/:id/attendances',
    {
      schema: {
        summary: "An event's attendances (RSVPs)",
        tags: ['events'],
        params: IdParams,
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:attendances', Attendance), ...errors },
      },
    },
    async (request, reply) => {
      const event = await events.getEvent(request.params.id);
      const p = paging(request.query, max);
      const { rows, total } = await events.listRsvpsPage(event.id, { offset: p.offset, limit: p.limit });
      return hal(reply).send(
        collection(
          urls,
          `/events/${event.id}/attendances`,
          'osdi:attendances',
          rows.map((row) => attendanceToOsdi(urls, row)),
          total,
          p,
        ),
      );
    },
  );

  r.get(
    '/events/:id/attendances/:attendanceId',
    {
      schema: {
        summary: 'One attendance',
        tags: ['events'],
        params: AttendanceParams,
        response: { 200: Attendance, ...errors },
      },
    },
    async (request, reply) => {
      const row = await events.findRsvpOfEvent(request.params.id, request.params.attendanceId);
      if (!row) throw new AppError('not_found', 'There is no such attendance.');
      return hal(reply).send(attendanceToOsdi(urls, row));
    },
  );

  const helperSchema = (summary: string) => ({
    summary,
    description:
      'RSVPs for the person, created or merged by email (else phone) exactly like the event page; one RSVP per ' +
      'person and event (a full event puts them on the waiting list), so sending it twice changes nothing more. ' +
      'With background_request=true the answer is 202 at once.',
    tags: ['events'],
    params: IdParams,
    querystring: BackgroundQuery,
    body: AttendanceHelperBody,
    response: { 200: Attendance, 202: Accepted, ...errors },
  });

  const recordAttendance = async (
    request: {
      params: { id: string };
      body: typeof AttendanceHelperBody.static;
      query: typeof BackgroundQuery.static;
    },
    reply: FastifyReply,
  ) => {
    if (trueish(request.query.background_request)) {
      await api.queueAttendance(request.params.id, request.body);
      return hal(reply, 202).send({
        status: 'queued',
        message: 'The RSVP will be recorded in the background.',
      });
    }
    const rsvpId = await api.recordAttendance(request.params.id, request.body);
    const row = await events.findRsvpOfEvent(request.params.id, rsvpId);
    if (!row) throw new AppError('not_found', 'There is no such attendance.');
    return hal(reply).send(attendanceToOsdi(urls, row));
  };

  r.post('/events/:id/attendances', { schema: helperSchema('Record attendance helper') }, recordAttendance);
  r.post(
    '/events/:id/record_attendance_helper',
    { schema: helperSchema('Record attendance helper (OSDI path)') },
    recordAttendance,
  );
}
