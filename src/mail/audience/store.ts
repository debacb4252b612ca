import { sql } from 'kysely';
import type { Executor } from '../../db/index.ts';
import type { AddressSubquery, PersonIdSubquery, ReachableEmailQuery } from '../../people/audience/index.ts';
import '../mailings/tables.ts';

/** People who opened (or clicked in) any of these mailings. */
export function selectEngagedPeople(
  db: Executor,
  mailingIds: readonly string[],
  kind: 'open' | 'click',
): PersonIdSubquery {
  // A click implies the message was opened, even when images were blocked.
  const kinds = kind === 'open' ? ['open', 'click'] : ['click'];
  return db
    .selectFrom('mail_events')
    .select(sql<string>`mail_events.person_id`.as('person_id'))
    .where('mail_events.mailing_id', 'in', [...mailingIds])
    .where('mail_events.kind', 'in', kinds)
    .where('mail_events.person_id', 'is not', null);
}

export function selectSuppressedAddresses(db: Executor): AddressSubquery {
  return db.selectFrom('suppressions').select('suppressions.address');
}

/** Exact number of distinct people the query reaches. */
export async function countDistinctPeople(db: Executor, query: ReachableEmailQuery): Promise<number> {
  const row = await db
    .selectFrom(query.clearOrderBy().as('reachable'))
    .select((eb) => eb.fn.count<number>('reachable.person_id').distinct().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Writes one recipient row per person with one INSERT … SELECT (nothing is loaded into memory);
 * returns how many rows the mailing now has.
 */
export async function insertRecipientsFrom(
  db: Executor,
  mailingId: string,
  query: ReachableEmailQuery,
  state: 'queued' | 'held',
): Promise<number> {
  await db
    .insertInto('mailing_recipients')
    .columns(['mailing_id', 'person_id', 'email', 'variant', 'state', 'attempts'])
    .expression(
      query
        .clearSelect()
        .select([
          sql<string>`cast(${mailingId} as text)`.as('mailing_id'),
          'emails.person_id as person_id',
          'emails.address as email',
          sql<string>`cast('A' as text)`.as('variant'),
          sql<string>`cast(${state} as text)`.as('state'),
          sql<number>`0`.as('attempts'),
        ]),
    )
    .onConflict((oc) => oc.columns(['mailing_id', 'person_id']).doNothing())
    .execute();
  const row = await db
    .selectFrom('mailing_recipients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('mailing_id', '=', mailingId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Whether a person is in a set of person ids (a leader's members, for "preview as"). */
export async function isPersonAmong(db: Executor, personId: string, ids: PersonIdSubquery): Promise<boolean> {
  const row = await db
    .selectFrom(ids.as('among'))
    .select('among.person_id')
    .where('among.person_id', '=', personId)
    .executeTakeFirst();
  return row !== undefined;
}
