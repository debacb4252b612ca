import type { Insertable } from 'kysely';
import type { ApiKeysTable } from '../db/database.ts';
import type { Executor } from '../db/index.ts';
import type {
  ApiRequestRow,
  ApiRequestsTable,
  WebhookDeliveriesTable,
  WebhookDeliveryRow,
  WebhookRow,
  WebhooksTable,
} from './tables.ts';

/* All SQL of the API capability: api keys, background requests, webhooks, deliveries, change-feed cursors. */

// ---- api keys ----------------------------------------------------------------------------------

export async function insertApiKey(db: Executor, row: Insertable<ApiKeysTable>): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

export function findApiKeyByHash(db: Executor, hash: string) {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
}

export function listApiKeys(db: Executor) {
  return db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').execute();
}

export async function revokeApiKey(db: Executor, id: string, at: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function touchApiKey(db: Executor, id: string, at: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

// ---- background requests -----------------------------------------------------------------------

export async function insertApiRequest(db: Executor, row: Insertable<ApiRequestsTable>): Promise<void> {
  await db.insertInto('api_requests').values(row).execute();
}

export function findApiRequest(db: Executor, id: string): Promise<ApiRequestRow | undefined> {
  return db.selectFrom('api_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Marks a pending request processed (its body cleared); false when it was not pending any more. */
export async function finishApiRequest(
  db: Executor,
  id: string,
  outcome: { status: 'done' | 'rejected'; resultId: string | null; error: string | null; at: string },
): Promise<boolean> {
  const result = await db
    .updateTable('api_requests')
    .set({
      status: outcome.status,
      result_id: outcome.resultId,
      error: outcome.error,
      body: null,
      processed_at: outcome.at,
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Background requests mentioning one of the (lower-case) texts: a pending body, or the reason a
 * processed one was rejected. Matched without regard to case; a scan of a table kept a week.
 */
export function listApiRequestsMentioning(
  db: Executor,
  needles: readonly string[],
): Promise<Array<Pick<ApiRequestRow, 'id' | 'kind' | 'status' | 'body' | 'error' | 'created_at'>>> {
  if (needles.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('api_requests')
    .select(['id', 'kind', 'status', 'body', 'error', 'created_at'])
    .where((eb) =>
      eb.or(
        needles.flatMap((needle) => [
          eb(eb.fn<string>('lower', ['body']), 'like', `%${needle}%`),
          eb(eb.fn<string>('lower', ['error']), 'like', `%${needle}%`),
        ]),
      ),
    )
    .orderBy('id')
    .execute();
}

export async function updateApiRequestError(db: Executor, id: string, error: string): Promise<void> {
  await db.updateTable('api_requests').set({ error }).where('id', '=', id).execute();
}

export async function deleteProcessedApiRequestsBefore(db: Executor, before: string): Promise<number> {
  const result = await db
    .deleteFrom('api_requests')
    .where('status', 'in', ['done', 'rejected'])
    .where('processed_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ---- webhooks ----------------------------------------------------------------------------------

export async function insertWebhook(db: Executor, row: Insertable<WebhooksTable>): Promise<void> {
  await db.insertInto('webhooks').values(row).execute();
}

export function listWebhooks(db: Executor): Promise<WebhookRow[]> {
  return db.selectFrom('webhooks').selectAll().orderBy('id').execute();
}

export function listActiveWebhooks(db: Executor): Promise<WebhookRow[]> {
  return db.selectFrom('webhooks').selectAll().where('disabled_at', 'is', null).orderBy('id').execute();
}

export function findWebhook(db: Executor, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function disableWebhook(db: Executor, id: string, at: string): Promise<boolean> {
  const result = await db
    .updateTable('webhooks')
    .set({ disabled_at: at })
    .where('id', '=', id)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Inserts the deliveries not logged yet (same webhook and event key); returns the ids written. */
export async function insertDeliveriesIfNew(
  db: Executor,
  rows: readonly Insertable<WebhookDeliveriesTable>[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const written = await db
    .insertInto('webhook_deliveries')
    .values([...rows])
    .onConflict((oc) => oc.columns(['webhook_id', 'event_key']).doNothing())
    .returning('id')
    .execute();
  return written.map((row) => row.id);
}

/** Of these event keys, the ones already logged for one of these webhooks, as `<webhook id> <key>`. */
export async function listLoggedEventKeys(
  db: Executor,
  webhookIds: readonly string[],
  keys: readonly string[],
): Promise<Set<string>> {
  if (webhookIds.length === 0 || keys.length === 0) return new Set();
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['webhook_id', 'event_key'])
    .where('webhook_id', 'in', [...webhookIds])
    .where('event_key', 'in', [...keys])
    .execute();
  return new Set(rows.map((row) => `${row.webhook_id} ${row.event_key}`));
}

/** Deletes finished (delivered or failed) deliveries last touched before `before`. */
export async function deleteFinishedDeliveriesBefore(db: Executor, before: string): Promise<number> {
  const result = await db
    .deleteFrom('webhook_deliveries')
    .where('status', 'in', ['delivered', 'failed'])
    .where('updated_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Deliveries whose payload or event key mentions one of the (lower-case) texts (a person's
 * identifier, link or address), matched without regard to case. A scan of the deliveries log
 * (finished ones are kept 30 days): erasures are rare.
 */
export function listDeliveriesMentioning(
  db: Executor,
  needles: readonly string[],
): Promise<WebhookDeliveryRow[]> {
  if (needles.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where((eb) =>
      eb.or(
        needles.flatMap((needle) => [
          eb(eb.fn<string>('lower', ['payload']), 'like', `%${needle}%`),
          eb(eb.fn<string>('lower', ['event_key']), 'like', `%${needle}%`),
        ]),
      ),
    )
    .orderBy('id')
    .execute();
}

export async function updateDeliveryPayload(
  db: Executor,
  id: string,
  values: { payload: string; event_key: string },
): Promise<void> {
  await db.updateTable('webhook_deliveries').set(values).where('id', '=', id).execute();
}

export function findDelivery(db: Executor, id: string): Promise<WebhookDeliveryRow | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateDelivery(
  db: Executor,
  id: string,
  patch: Partial<
    Pick<
      WebhookDeliveryRow,
      'status' | 'attempts' | 'response_status' | 'last_error' | 'updated_at' | 'delivered_at'
    >
  >,
): Promise<void> {
  await db.updateTable('webhook_deliveries').set(patch).where('id', '=', id).execute();
}

export function listDeliveries(
  db: Executor,
  webhookId: string,
  limit: number,
): Promise<WebhookDeliveryRow[]> {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

// ---- change-feed cursors -----------------------------------------------------------------------

export async function findCursor(db: Executor, source: string): Promise<string | null> {
  const row = await db
    .selectFrom('webhook_cursors')
    .select('position')
    .where('source', '=', source)
    .executeTakeFirst();
  return row?.position ?? null;
}

export async function saveCursor(db: Executor, source: string, position: string, at: string): Promise<void> {
  await db
    .insertInto('webhook_cursors')
    .values({ source, position, updated_at: at })
    .onConflict((oc) => oc.column('source').doUpdateSet({ position, updated_at: at }))
    .execute();
}
