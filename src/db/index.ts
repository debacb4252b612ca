export * from './connect.ts';
export * from './database.ts';
export * from './dialect.ts';
export { migrateToLatest } from './migrate.ts';
