import type { Executor } from '../db/index.ts';
import type { MergeResult, PersonInput } from '../people/types.ts';
import type { PetitionRow, PetitionTargetRow, PetitionTranslationRow } from './tables.ts';

export type PetitionStatus = 'draft' | 'open' | 'closed';
export type CommentModeration = 'moderated' | 'immediate';
export type FieldRule = 'required' | 'optional' | 'hidden';

export interface CustomQuestion {
  /** Stable key the answer is stored under. */
  id: string;
  label: string;
  required: boolean;
}

/** Which fields the signing form asks. */
export interface FormSettings {
  postalCode: FieldRule;
  locality: FieldRule;
  phone: FieldRule;
  questions: CustomQuestion[];
}

export const defaultFormSettings: FormSettings = {
  postalCode: 'required',
  locality: 'optional',
  phone: 'optional',
  questions: [],
};

export interface TargetInput {
  name: string;
  title?: string | null;
  district?: string | null;
  email?: string | null;
}

export interface TranslationInput {
  language: string;
  title: string;
  summary?: string;
  body?: string;
  thankYouMessage?: string;
}

/** Everything an organiser sets on a petition. */
export interface PetitionInput {
  slug: string;
  title: string;
  summary?: string;
  body?: string;
  language?: string;
  imageUrl?: string | null;
  billReference?: string | null;
  billUrl?: string | null;
  goal?: number;
  endDate?: string | null;
  groupId?: string | null;
  formSettings?: Partial<FormSettings>;
  requiresConfirmation?: boolean;
  commentModeration?: CommentModeration;
  altchaEnabled?: boolean;
  thankYouMessage?: string;
  autoresponseSubject?: string;
  autoresponseBody?: string;
  targets?: TargetInput[];
  translations?: TranslationInput[];
}

export interface Petition {
  row: PetitionRow;
  formSettings: FormSettings;
  targets: PetitionTargetRow[];
  translations: PetitionTranslationRow[];
}

/** The texts of a petition in one language (falls back to the petition's own language). */
export interface PetitionTexts {
  language: string;
  title: string;
  summary: string;
  body: string;
  thankYouMessage: string;
}

/** What the signing form sends. */
export interface SignInput {
  email: string;
  givenName?: string | undefined;
  familyName?: string | undefined;
  postalCode?: string | undefined;
  locality?: string | undefined;
  phone?: string | undefined;
  comment?: string | undefined;
  consent?: boolean | undefined;
  answers?: Record<string, string> | undefined;
  /** Honeypot: people never see it, bots fill it. */
  website?: string | undefined;
  /** ALTCHA payload (base64 JSON). */
  altcha?: string | undefined;
  /** Referral code of the person who shared the link. */
  ref?: string | undefined;
  /** Tracking code of the mailing or campaign that brought the signer. */
  source?: string | undefined;
  language?: string | undefined;
}

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

export interface SignResult {
  status: 'signed' | 'already_signed';
  /** True when the signature counts only after the email link is opened. */
  confirmationRequired: boolean;
  /** The signer's own share code (new signatures only). */
  referralCode: string | null;
  signatureId: string;
  slug: string;
}

export interface PublicCount {
  /** All signatures, confirmed or not. */
  total: number;
  confirmed: number;
  /** The number shown publicly: confirmed when confirmation is required, else total. */
  count: number;
  /** The organiser's goal. */
  goal: number;
  /** The goal shown: raised to the next round number once reached. */
  displayGoal: number;
  byDistrict: Array<{ id: string; name: string; count: number }>;
}

/** The people capability, as petitions use it (`services.people`). */
export interface PeoplePort {
  /** Creates or merges each input by email (the batch form of mergePersonByEmail, same rule). */
  mergePeople(executor: Executor, inputs: readonly PersonInput[]): Promise<MergeResult[]>;
  getPerson(id: string): Promise<{ emails: ReadonlyArray<{ address: string; primary: boolean }> }>;
}

/** The mail capability, as petitions use it (`services.mail`). */
/** A message petitions send (a confirmation link or the autoresponse). */
export interface PetitionEmail {
  to: string;
  subject: string;
  text: string;
  html?: string | null;
  kind: string;
  personId?: string | null;
}

export interface MailPort {
  queueTransactional(executor: Executor, email: PetitionEmail): Promise<unknown>;
  /** Many at once in the caller's transaction (a batch of signatures). */
  queueTransactionalMany(executor: Executor, emails: readonly PetitionEmail[]): Promise<unknown>;
}
