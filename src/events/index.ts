export {
  createEventsService,
  REMINDER_QUEUE,
  type EventsService,
  type EventInput,
  type RsvpInput,
} from './service.ts';
export type { EventRow, RsvpRow } from './tables.ts';
export { eventsPlugin, type EventGroupAccess } from './routes.ts';
