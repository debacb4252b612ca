import { PostgresAdapter, sql, type Kysely } from 'kysely';

/*
 * Person search by part of a name or an email address (the admin people search) and audiences
 * "in district C", without reading every person or address (`npm run bench:data`: 1.6 s and
 * 1.2 s at 1,000,000 people before).
 *
 * SQLite: two FTS5 trigram indexes, people_search (each person's "given family" name) and
 * email_search (each email address), kept current by triggers on people and emails. Their rows
 * are keyed by people_search_keys.n and email_search_keys.n (INTEGER PRIMARY KEYs, which VACUUM
 * never renumbers, unlike the implicit rowids of people and emails). They hold no text and no
 * positions (contentless, detail=none), so they only narrow the candidates to those with every
 * trigram of the query; the search then applies its own LIKE conditions and finds exactly what a
 * scan finds. Writing 1,000,000 people with an address each takes ~20 s instead of ~12 s (one
 * document per person holding name and addresses, with positions, took 125 s).
 *
 * PostgreSQL: GIN trigram indexes (pg_trgm) on the lower-cased name expression the search uses
 * and on emails.address serve its LIKE '%…%' directly. When pg_trgm cannot be created (not
 * installed, no privilege), the indexes are skipped and the search stays correct, only slower.
 *
 * Audiences "in district C" start from the district's postal codes (district_postcodes by
 * district) and their addresses, then probe each candidate's email addresses and signatures: the
 * indexes by postal code, by person of emails and by person of signatures become covering ones
 * (same names and leading column, so every earlier use still fits), and a partial index holds
 * the few addresses that carry their own district list, so that test no longer reads them all.
 */

const fts = `content='', contentless_delete=1, tokenize='trigram', detail=none`;
const nameOf = (p: string) => `coalesce(${p}.given_name, '') || ' ' || coalesce(${p}.family_name, '')`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('addresses_with_district_ids')
    .on('addresses')
    .column('person_id')
    .where(sql.ref('district_ids'), 'is not', null)
    .execute();

  await db.schema
    .createIndex('district_postcodes_district')
    .on('district_postcodes')
    .columns(['district_id', 'scope', 'postal_code'])
    .execute();
  await db.schema.dropIndex('addresses_postal_code').execute();
  await db.schema
    .createIndex('addresses_postal_code')
    .on('addresses')
    .columns(['postal_code', 'person_id'])
    .execute();
  await db.schema.dropIndex('emails_person_id').execute();
  await db.schema
    .createIndex('emails_person_id')
    .on('emails')
    .columns(['person_id', 'status', 'address'])
    .execute();
  await db.schema.dropIndex('signatures_person').execute();
  await db.schema
    .createIndex('signatures_person')
    .on('signatures')
    .columns(['person_id', 'petition_id', 'confirmed_at'])
    .execute();

  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await postgresUp(db);
    return;
  }

  const statements = [
    `create table people_search_keys (n integer primary key, person_id text not null unique)`,
    `create virtual table people_search using fts5(name, ${fts})`,
    `insert into people_search_keys (person_id) select id from people order by id`,
    `insert into people_search (rowid, name)
       select k.n, ${nameOf('p')} from people p join people_search_keys k on k.person_id = p.id`,
    `create trigger people_search_insert after insert on people begin
       insert into people_search_keys (person_id) values (new.id);
       insert into people_search (rowid, name) values (last_insert_rowid(), ${nameOf('new')});
     end`,
    `create trigger people_search_update after update of given_name, family_name on people begin
       delete from people_search where rowid = (select n from people_search_keys where person_id = new.id);
       insert into people_search (rowid, name)
         select n, ${nameOf('new')} from people_search_keys where person_id = new.id;
     end`,
    `create trigger people_search_delete after delete on people begin
       delete from people_search where rowid = (select n from people_search_keys where person_id = old.id);
       delete from people_search_keys where person_id = old.id;
     end`,
    `create table email_search_keys (n integer primary key, email_id text not null unique)`,
    `create virtual table email_search using fts5(address, ${fts})`,
    `insert into email_search_keys (email_id) select id from emails order by id`,
    `insert into email_search (rowid, address)
       select k.n, e.address from emails e join email_search_keys k on k.email_id = e.id`,
    `create trigger email_search_insert after insert on emails begin
       insert into email_search_keys (email_id) values (new.id);
       insert into email_search (rowid, address) values (last_insert_rowid(), new.address);
     end`,
    `create trigger email_search_update after update of address on emails begin
       delete from email_search where rowid = (select n from email_search_keys where email_id = new.id);
       insert into email_search (rowid, address)
         select n, new.address from email_search_keys where email_id = new.id;
     end`,
    `create trigger email_search_delete after delete on emails begin
       delete from email_search where rowid = (select n from email_search_keys where email_id = old.id);
       delete from email_search_keys where email_id = old.id;
     end`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function postgresUp(db: Kysely<any>): Promise<void> {
  // Migrations run in one transaction: a failed CREATE EXTENSION must not abort it. The extension
  // goes to public (not the first schema of the search path, which may be one a test drops).
  await sql`savepoint pg_trgm`.execute(db);
  try {
    await sql`create extension if not exists pg_trgm schema public`.execute(db);
    await sql`release savepoint pg_trgm`.execute(db);
  } catch {
    await sql`rollback to savepoint pg_trgm`.execute(db);
  }
  const found = await sql<{ schema: string }>`
    select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm'`.execute(db);
  const schema = found.rows[0]?.schema;
  if (!schema) return;
  const ops = sql`${sql.id(schema)}.gin_trgm_ops`;
  await sql`create index people_name_trgm on people using gin
    ((lower(coalesce(given_name, '') || ' ' || coalesce(family_name, ''))) ${ops})`.execute(db);
  await sql`create index emails_address_trgm on emails using gin (address ${ops})`.execute(db);
}
