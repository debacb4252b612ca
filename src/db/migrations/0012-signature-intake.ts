import type { Kysely } from 'kysely';

// Signature intake: a signing answer commits one small row here (unique per petition and email);
// a job turns it into the person, the signature and the emails in batches.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('signature_intake')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('petition_id', 'text', (c) => c.notNull().references('petitions.id').onDelete('cascade'))
    .addColumn('email_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('payload', 'text')
    .addColumn('signature_id', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('processed_at', 'text')
    .execute();
  await db.schema
    .createIndex('signature_intake_petition_email')
    .on('signature_intake')
    .columns(['petition_id', 'email_key'])
    .unique()
    .execute();
  await db.schema
    .createIndex('signature_intake_status')
    .on('signature_intake')
    .columns(['status', 'created_at'])
    .execute();
  await db.schema
    .createIndex('signature_intake_signature')
    .on('signature_intake')
    .column('signature_id')
    .execute();
}
