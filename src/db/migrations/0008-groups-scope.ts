import type { Kysely } from 'kysely';

// A mailing written by a group leader stays limited to the members of the groups they led when
// they wrote it (JSON array of group ids; null: organisation-wide). Recipients are chosen inside it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('scope_group_ids', 'text').execute();
}
