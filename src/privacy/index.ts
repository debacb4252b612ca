export { createPrivacyService, type PrivacyService } from './service.ts';
export { privacyPlugin } from './routes.ts';
