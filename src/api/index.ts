export { createApiService, type ApiService } from './service.ts';
export { apiPlugin } from './plugin.ts';
export { signPayload, webhookEvents, SIGNATURE_HEADER, type WebhookEvent } from './webhooks/service.ts';
