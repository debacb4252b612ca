import type { Kysely } from 'kysely';

/*
 * One mailing sent by several senders at once (several `undersign worker` processes).
 *
 * mailing_senders: a mailing has a few sender slots (MAIL_SENDERS), each a chain of jobs holding the
 * slot's lease while it runs, so no slot is worked twice and the mailing's rate is shared among the
 * slots at work. It replaces mailings.lease_until (one sender per mailing), which stays unused.
 *
 * mailing_recipients.claimed_by / claimed_until: a sender claims a batch of queued recipients for
 * itself before sending to them and renews the claim while it works; a claim that runs out (its
 * process died) makes the recipients claimable again, so nobody is skipped and two senders never
 * hold the same recipient.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mailing_senders')
    .addColumn('mailing_id', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('lease_until', 'text')
    .addPrimaryKeyConstraint('mailing_senders_pk', ['mailing_id', 'slot'])
    .execute();
  await db.schema.alterTable('mailing_recipients').addColumn('claimed_by', 'text').execute();
  await db.schema.alterTable('mailing_recipients').addColumn('claimed_until', 'text').execute();
}
