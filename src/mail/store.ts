import type { ExpressionBuilder, Insertable, Selectable } from 'kysely';
import type { Database, OutboxTable, TransactionalEmailsTable } from '../db/database.ts';
import type { Executor } from '../db/index.ts';

export type TransactionalEmailRow = Selectable<TransactionalEmailsTable>;
export type OutboxRow = Selectable<OutboxTable>;

export async function insertTransactionalEmails(
  db: Executor,
  rows: ReadonlyArray<Insertable<TransactionalEmailsTable>>,
): Promise<void> {
  // Bodies are long: a few hundred rows per statement stay well inside parameter limits.
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('transactional_emails')
      .values(rows.slice(i, i + 200))
      .execute();
  }
}

export async function findTransactionalEmail(
  db: Executor,
  id: string,
): Promise<TransactionalEmailRow | undefined> {
  return db.selectFrom('transactional_emails').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function markTransactionalEmail(
  db: Executor,
  id: string,
  changes: {
    status: string;
    message_id?: string | null;
    sent_at?: string | null;
    last_error?: string | null;
  },
): Promise<void> {
  await db.updateTable('transactional_emails').set(changes).where('id', '=', id).execute();
}

export async function listTransactionalEmailsForPerson(
  db: Executor,
  personId: string,
): Promise<TransactionalEmailRow[]> {
  return db
    .selectFrom('transactional_emails')
    .selectAll()
    .where('person_id', '=', personId)
    .orderBy('id', 'desc')
    .execute();
}

export async function insertOutboxMessage(db: Executor, row: Insertable<OutboxTable>): Promise<void> {
  await db.insertInto('outbox').values(row).execute();
}

export async function listOutbox(
  db: Executor,
  filter: { to?: string; limit: number; offset: number },
): Promise<OutboxRow[]> {
  let query = db
    .selectFrom('outbox')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(filter.limit)
    .offset(filter.offset);
  if (filter.to) query = query.where('to_address', '=', filter.to.toLowerCase());
  return query.execute();
}

export async function countOutbox(db: Executor, filter: { to?: string } = {}): Promise<number> {
  let query = db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('count'));
  if (filter.to) query = query.where('to_address', '=', filter.to.toLowerCase());
  return Number((await query.executeTakeFirstOrThrow()).count);
}

export async function findOutboxMessage(db: Executor, id: string): Promise<OutboxRow | undefined> {
  return db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Erasure: the person's transactional messages keep their rows (so counts stay right) without
 * address, subject or content; one still waiting to go out is not sent.
 */
export async function anonymiseTransactionalEmails(
  db: Executor,
  match: { personId: string; addresses: readonly string[] },
  placeholder: string,
): Promise<number> {
  const theirs = (eb: ExpressionBuilder<Database, 'transactional_emails'>) =>
    match.addresses.length
      ? eb.or([eb('person_id', '=', match.personId), eb('to_address', 'in', [...match.addresses])])
      : eb('person_id', '=', match.personId);
  await db
    .updateTable('transactional_emails')
    .set({ status: 'failed', last_error: 'erased before sending' })
    .where(theirs)
    .where('status', '=', 'queued')
    .execute();
  const result = await db
    .updateTable('transactional_emails')
    .set({ to_address: placeholder, subject: '(erased)', text_body: '', html_body: null, attachments: '[]' })
    .where(theirs)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Erasure: messages to these addresses in the local outbox keep their rows without address or content. */
export async function anonymiseOutboxMessages(
  db: Executor,
  addresses: readonly string[],
  placeholder: string,
): Promise<number> {
  if (addresses.length === 0) return 0;
  const result = await db
    .updateTable('outbox')
    .set({ to_address: placeholder, subject: '(erased)', raw: '' })
    .where('to_address', 'in', [...addresses])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
