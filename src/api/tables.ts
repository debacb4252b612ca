import type { Selectable } from 'kysely';

/** API tables (migrations 0006-api, 0009-api-feed), merged into the app's Database type. api_keys is in 0001-spine. */
export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON array of event names. */
  events: string;
  secret: string;
  created_by: string | null;
  created_at: string;
  disabled_at: string | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event: string;
  event_key: string;
  /** The JSON body sent. */
  payload: string;
  /** pending | delivered | failed (gave up) */
  status: string;
  attempts: number;
  response_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

export interface WebhookCursorsTable {
  source: string;
  position: string;
  updated_at: string;
}

/** A request sent with background_request=true, kept until its job has processed it. */
export interface ApiRequestsTable {
  id: string;
  /** person_signup | record_signature | record_attendance */
  kind: string;
  /** The petition or event the request is for; null for a signup. */
  target_id: string | null;
  /** The JSON request body; null once processed. */
  body: string | null;
  /** pending | done | rejected */
  status: string;
  /** The person, signature or RSVP it made. */
  result_id: string | null;
  error: string | null;
  created_at: string;
  processed_at: string | null;
}

declare module '../db/database.ts' {
  interface Database {
    api_requests: ApiRequestsTable;
    webhooks: WebhooksTable;
    webhook_deliveries: WebhookDeliveriesTable;
    webhook_cursors: WebhookCursorsTable;
  }
}

export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type ApiRequestRow = Selectable<ApiRequestsTable>;
