/** Numbers kept for the dashboard (migration 0015-dashboard), merged into the app's Database type. */
export interface DashboardNumbersTable {
  /** Which set of numbers ('organisation'). */
  name: string;
  /** JSON of the numbers. */
  numbers: string;
  computed_at: string;
  /** While a process computes new numbers: until when the others leave it to that process. */
  refreshing_until: string | null;
}

declare module '../db/database.ts' {
  interface Database {
    dashboard_numbers: DashboardNumbersTable;
  }
}
