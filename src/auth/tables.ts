import type { Selectable } from 'kysely';

/** Two-factor sign-in columns and table (migration 0010-security), merged into the app's Database type. */
declare module '../db/database.ts' {
  interface UsersTable {
    /** Base32 TOTP secret sealed with the server's secret key; set while enrolling and once enabled. */
    totp_secret: string | null;
    /** null: two-factor sign-in is off (or the secret is not confirmed yet). */
    totp_enabled_at: string | null;
    /** The last 30-second step a code was accepted for: the same code is refused a second time. */
    totp_last_step: number | null;
  }
  interface Database {
    recovery_codes: RecoveryCodesTable;
  }
}

export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  /** SHA-256 of the normalised code (codes are random, so a fast hash is enough). */
  code_hash: string;
  used_at: string | null;
  created_at: string;
}

export type RecoveryCodeRow = Selectable<RecoveryCodesTable>;
