export { createPrivacyService, type PrivacyActor, type PrivacyService } from './service.ts';
export { privacyPlugin } from './routes.ts';
