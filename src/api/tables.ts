import type { Selectable } from 'kysely';

/** API tables (migration 0006-api), merged into the app's Database type. api_keys is in 0001-spine. */
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

declare module '../db/database.ts' {
  interface Database {
    webhooks: WebhooksTable;
    webhook_deliveries: WebhookDeliveriesTable;
    webhook_cursors: WebhookCursorsTable;
  }
}

export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
