import type { Generated, Insertable, Selectable } from 'kysely';

/** Petition tables (migration 0004-petitions), merged into the app's Database type. */
export interface PetitionsTable {
  id: string;
  slug: string;
  language: string;
  title: string;
  summary: string;
  body: string;
  image_url: string | null;
  bill_reference: string | null;
  bill_url: string | null;
  goal: number;
  end_date: string | null;
  status: string;
  group_id: string | null;
  /** JSON FormSettings. */
  form_settings: string;
  requires_confirmation: number;
  comment_moderation: string;
  altcha_enabled: number;
  thank_you_message: string;
  autoresponse_subject: string;
  autoresponse_body: string;
  created_at: string;
  updated_at: string;
  published_at: string | null;
  closed_at: string | null;
}

export interface PetitionTargetsTable {
  id: string;
  petition_id: string;
  position: number;
  name: string;
  title: string | null;
  district: string | null;
  email: string | null;
}

export interface PetitionTranslationsTable {
  petition_id: string;
  language: string;
  title: string;
  summary: string;
  body: string;
  thank_you_message: string;
}

export interface SignaturesTable {
  id: string;
  petition_id: string;
  person_id: string;
  signer_name: string;
  locality: string | null;
  postal_code: string | null;
  district: string | null;
  comment: string | null;
  comment_status: string;
  answers: string;
  source: string | null;
  referrer_code: string | null;
  referral_code: string;
  language: string | null;
  ip: string | null;
  user_agent: string | null;
  confirmed_at: string | null;
  confirmation_sent_at: string | null;
  created_at: string;
}

export interface DistrictPostcodesTable {
  scope: string;
  postal_code: string;
  district_id: string;
  district_name: string;
}

export interface PetitionCountersTable {
  petition_id: string;
  district: string;
  total: number;
  confirmed: number;
  updated_at: string;
}

export interface SigningRejectionsTable {
  id: string;
  petition_id: string | null;
  reason: string;
  ip: string | null;
  email_hash: string | null;
  user_agent: string | null;
  created_at: string;
}

/**
 * A signature as accepted: committed before the signer is answered, turned into the person and the
 * signature by a job. `status`: pending (not yet processed), signed (became `signature_id`), repeat
 * (the person had already signed: `signature_id` is that signature). The payload (what was typed)
 * is cleared once processed.
 */
export interface SignatureIntakeTable {
  id: string;
  petition_id: string;
  email_key: string;
  status: 'pending' | 'signed' | 'repeat';
  payload: string | null;
  signature_id: string | null;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: string;
  processed_at: string | null;
}

declare module '../db/database.ts' {
  interface Database {
    petitions: PetitionsTable;
    petition_targets: PetitionTargetsTable;
    petition_translations: PetitionTranslationsTable;
    signatures: SignaturesTable;
    district_postcodes: DistrictPostcodesTable;
    petition_counters: PetitionCountersTable;
    signing_rejections: SigningRejectionsTable;
    signature_intake: SignatureIntakeTable;
  }
}

export type PetitionRow = Selectable<PetitionsTable>;
export type NewPetitionRow = Insertable<PetitionsTable>;
export type PetitionTargetRow = Selectable<PetitionTargetsTable>;
export type PetitionTranslationRow = Selectable<PetitionTranslationsTable>;
export type SignatureRow = Selectable<SignaturesTable>;
export type NewSignatureRow = Insertable<SignaturesTable>;
export type IntakeRow = Selectable<SignatureIntakeTable>;
export type NewIntakeRow = Insertable<SignatureIntakeTable>;
export type SigningRejectionRow = Selectable<SigningRejectionsTable>;
