import type { Kysely } from 'kysely';

// Petitions, their targets and translations, signatures, district maps, batched counters and the
// log of rejected signing attempts. Schema builder only, so it runs on SQLite and PostgreSQL.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('petitions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('language', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('body', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('image_url', 'text')
    .addColumn('bill_reference', 'text')
    .addColumn('bill_url', 'text')
    .addColumn('goal', 'integer', (c) => c.notNull().defaultTo(100))
    .addColumn('end_date', 'text')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('draft'))
    .addColumn('group_id', 'text')
    .addColumn('form_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('requires_confirmation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('comment_moderation', 'text', (c) => c.notNull().defaultTo('moderated'))
    .addColumn('altcha_enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('thank_you_message', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('autoresponse_subject', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('autoresponse_body', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('published_at', 'text')
    .addColumn('closed_at', 'text')
    .execute();
  await db.schema.createIndex('petitions_status').on('petitions').columns(['status', 'id']).execute();

  await db.schema
    .createTable('petition_targets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('petition_id', 'text', (c) => c.notNull().references('petitions.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('district', 'text')
    .addColumn('email', 'text')
    .execute();
  await db.schema
    .createIndex('petition_targets_petition')
    .on('petition_targets')
    .columns(['petition_id', 'position'])
    .execute();

  await db.schema
    .createTable('petition_translations')
    .addColumn('petition_id', 'text', (c) => c.notNull().references('petitions.id').onDelete('cascade'))
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('body', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('thank_you_message', 'text', (c) => c.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('petition_translations_pk', ['petition_id', 'language'])
    .execute();

  await db.schema
    .createTable('signatures')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('petition_id', 'text', (c) => c.notNull().references('petitions.id').onDelete('cascade'))
    .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
    .addColumn('signer_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('locality', 'text')
    .addColumn('postal_code', 'text')
    .addColumn('district', 'text')
    .addColumn('comment', 'text')
    .addColumn('comment_status', 'text', (c) => c.notNull().defaultTo('none'))
    .addColumn('answers', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('source', 'text')
    .addColumn('referrer_code', 'text')
    .addColumn('referral_code', 'text', (c) => c.notNull().unique())
    .addColumn('language', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('confirmed_at', 'text')
    .addColumn('confirmation_sent_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('signatures_petition_person', ['petition_id', 'person_id'])
    .execute();
  // Keyset paging and exports walk (petition_id, id); counts use the covering indexes below.
  await db.schema
    .createIndex('signatures_petition_id')
    .on('signatures')
    .columns(['petition_id', 'id'])
    .execute();
  await db.schema
    .createIndex('signatures_petition_confirmed')
    .on('signatures')
    .columns(['petition_id', 'confirmed_at'])
    .execute();
  await db.schema
    .createIndex('signatures_petition_district')
    .on('signatures')
    .columns(['petition_id', 'district', 'id'])
    .execute();
  await db.schema
    .createIndex('signatures_petition_referrer')
    .on('signatures')
    .columns(['petition_id', 'referrer_code'])
    .execute();
  await db.schema
    .createIndex('signatures_petition_comments')
    .on('signatures')
    .columns(['petition_id', 'comment_status', 'id'])
    .execute();
  await db.schema.createIndex('signatures_person').on('signatures').column('person_id').execute();

  // scope is '*' for the global map or a petition id; a petition's own rows win.
  await db.schema
    .createTable('district_postcodes')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('postal_code', 'text', (c) => c.notNull())
    .addColumn('district_id', 'text', (c) => c.notNull())
    .addColumn('district_name', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('district_postcodes_pk', ['scope', 'postal_code'])
    .execute();

  // Public counters, advanced in batches by the service (never one update per signature).
  await db.schema
    .createTable('petition_counters')
    .addColumn('petition_id', 'text', (c) => c.notNull().references('petitions.id').onDelete('cascade'))
    .addColumn('district', 'text', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('confirmed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('petition_counters_pk', ['petition_id', 'district'])
    .execute();

  await db.schema
    .createTable('signing_rejections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('petition_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('email_hash', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('signing_rejections_petition')
    .on('signing_rejections')
    .columns(['petition_id', 'created_at'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'signing_rejections',
    'petition_counters',
    'district_postcodes',
    'signatures',
    'petition_translations',
    'petition_targets',
    'petitions',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
