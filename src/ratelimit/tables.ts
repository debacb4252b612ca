/** Rate-limit counts (migration 0013-rate-limits), merged into the app's Database type. */
export interface RateCountsTable {
  scope: string;
  /** HMAC of the IP address or email address: the table names nobody. */
  key: string;
  /** floor(time / window length): the same fixed window in every process. */
  window: number;
  hits: number;
}

declare module '../db/database.ts' {
  interface Database {
    rate_counts: RateCountsTable;
  }
}
