import type { Kysely } from 'kysely';

// Reserved: filled by the change that needs it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
export async function up(db: Kysely<any>): Promise<void> {}
