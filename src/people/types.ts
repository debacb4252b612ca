/** What any surface (form, import, API) knows about a person; every field but email is optional. */
export interface PersonInput {
  email: string;
  givenName?: string | null;
  familyName?: string | null;
  /** BCP-47 primary tag, e.g. "en", "es". */
  language?: string | null;
  phone?: string | null;
  address?: PostalAddressInput | null;
  tags?: readonly string[];
  lists?: readonly string[];
  customFields?: Readonly<Record<string, string | number | boolean | null>>;
  /** Where the person came from: "import:<file>", "petition:<slug>", "api", … */
  source?: string | null;
  /**
   * Explicit consent to email. true: subscribe (unless the address bounced or complained) and
   * record a consent row; false/undefined: a new address starts unsubscribed, an existing one keeps
   * its status. Imports pass true when the organiser asserts the list opted in.
   */
  subscribe?: boolean;
  consent?: { what: string; source: string | null; ip: string | null } | null;
}

export interface PostalAddressInput {
  street?: string | null;
  locality?: string | null;
  region?: string | null;
  postalCode?: string | null;
  country?: string | null;
}

export interface MergeResult {
  personId: string;
  emailId: string;
  /** true when a new person was made; false when the email matched and the person was merged into. */
  created: boolean;
}

/** Subscription status of one email address. */
export type EmailStatus = 'subscribed' | 'unsubscribed' | 'bouncing' | 'complained';
