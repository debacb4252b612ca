export {
  createMailingsService,
  type MailingsService,
  type MailingInput,
  type MailingReport,
} from './service.ts';
export { petitionsForMail } from './petitions-adapter.ts';
export type { PetitionsForMail } from './sources.ts';
export { mailingsPublicPlugin } from './routes-public.ts';
export { startInboundListener, type InboundListener } from '../bounces/inbound.ts';
export { mailingsAdminPlugin } from './routes-admin.ts';
