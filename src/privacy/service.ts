import type { ApiService } from '../api/index.ts';
import type { AuthService } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { AppError } from '../errors.ts';
import type { EventsService } from '../events/index.ts';
import type { GroupsService } from '../groups/index.ts';
import type { MailService } from '../mail/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import { eraseAddressesIn, type PeopleService, type PeopleViewer } from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';

export interface PrivacyDeps {
  auth: AuthService;
  people: PeopleService;
  petitions: PetitionService;
  events: EventsService;
  groups: GroupsService;
  mail: MailService;
  /** Optional so a build without bulk mail still erases everything else. */
  mailings?: MailingsService;
  /** Background API requests and webhook deliveries; optional like mailings. */
  api?: ApiService;
}

/** What replaces an address quoted in free text (audit details, import results, API reasons). */
const ERASED_TEXT = '[erased]';

/** Who exports or erases: a signed-in user (admin pages), or an API key (OSDI API). */
export type PrivacyActor = PeopleViewer | { apiKey: { id: string; name: string; groupId: string | null } };

/** The viewer whose access applies, and what the audit rows add to say who acted. */
function actorOf(actor: PrivacyActor): { viewer: PeopleViewer; audit: Record<string, unknown> } {
  if (!('apiKey' in actor)) return { viewer: actor, audit: {} };
  const key = actor.apiKey;
  // A key limited to a group reads only its group's people; an export or an erasure reaches the
  // person's signatures, RSVPs and mail in every group, so such a key is refused here too.
  if (key.groupId) {
    throw new AppError('forbidden', "A key limited to a group cannot export or erase a person's data.");
  }
  // An organisation-wide key reaches everyone, as an admin does; audit rows name the key, not a user.
  return {
    viewer: { id: `api_key:${key.id}`, role: 'admin' },
    audit: { apiKeyId: key.id, apiKeyName: key.name },
  };
}

/**
 * A person's right to see and erase their data: one JSON document gathered from every capability,
 * and an erasure that anonymises (rows stay, so signature, RSVP and member counts stay right).
 * Both are audited with who did them.
 */
export function createPrivacyService(ctx: AppContext, deps: PrivacyDeps) {
  async function exportPersonData(personId: string, actor: PrivacyActor) {
    const { viewer, audit } = actorOf(actor);
    // getPerson with the viewer applies their access scope (not found outside it) and audits the view.
    const person = await deps.people.getPerson(personId, viewer);
    const addresses = person.emails.map((e) => e.address.toLowerCase());
    const [signatures, pendingSignatures, rsvps, groups, emails, pendingApiRequests, webhookDeliveries] = [
      await deps.petitions.signaturesOfPerson(personId),
      await deps.petitions.pendingSigningsOfAddresses(addresses),
      await deps.events.rsvpsOfPerson(personId),
      await deps.groups.groupsOfPerson(personId),
      await deps.mail.listTransactionalForPerson(personId),
      (await deps.api?.pendingRequestsOfAddresses(addresses)) ?? [],
      (await deps.api?.webhooks.deliveriesConcerning(personId, addresses)) ?? [],
    ];
    await deps.auth.audit({
      userId: viewer.id,
      action: 'person.data_export',
      subjectType: 'person',
      subjectId: personId,
      ...(Object.keys(audit).length > 0 ? { details: audit } : {}),
    });
    return {
      exportedAt: new Date().toISOString(),
      person,
      signatures,
      /** Signings received but not yet turned into signatures (what was typed, as received). */
      pendingSignatures,
      rsvps,
      groups,
      emailsSent: emails.map((e) => ({
        kind: e.kind,
        to: e.to_address,
        subject: e.subject,
        status: e.status,
        createdAt: e.created_at,
        sentAt: e.sent_at,
      })),
      /** API requests sent with background_request=true that still wait to be processed. */
      pendingApiRequests,
      /** Webhook messages about the person: to whom (origin), when, and what they carry. */
      webhookDeliveries,
    };
  }

  /**
   * Every row that names the person keeps existing (counts stay right) without their name or
   * address: people, signatures, RSVPs, mailing recipients and events, transactional messages, the
   * local outbox, webhook deliveries. Addresses quoted in free text (audit details, import results,
   * API rejection reasons) become '[erased]'. What was received but not processed yet is dropped:
   * pending signings are deleted, pending background API requests rejected ('erased'). Suppressions
   * keep the address so that it is never mailed again. One transaction: all of it, or nothing.
   */
  async function erasePerson(personId: string, actor: PrivacyActor): Promise<void> {
    const { viewer, audit } = actorOf(actor);
    const person = await deps.people.getPerson(personId, viewer);
    const addresses = person.emails.map((e) => e.address.toLowerCase());
    const placeholder = `erased-${personId}@erased.invalid`;
    const erased = await ctx.db.transaction().execute(async (trx) => {
      // Pending signings first: on PostgreSQL one being processed right now holds its row, so this
      // waits for it, and the signature it made is then anonymised with the others.
      const pendingSignings = await deps.petitions.eraseSigningsOfAddresses(trx, addresses);
      await deps.petitions.anonymiseSignaturesOfPerson(trx, personId);
      await deps.events.anonymisePerson(trx, personId, placeholder);
      await deps.mail.anonymiseMailOfPerson(trx, personId, addresses, placeholder);
      await deps.mailings?.anonymiseRecipient(trx, personId, addresses, placeholder);
      const webhookDeliveries =
        (await deps.api?.webhooks.eraseFromDeliveries(trx, { id: personId, addresses, placeholder })) ?? 0;
      const apiRequests = (await deps.api?.eraseRequestsOfAddresses(trx, addresses)) ?? 0;
      const imports = await deps.people.imports.eraseAddresses(trx, addresses, ERASED_TEXT);
      const auditEntries = await deps.auth.redactAuditDetails(trx, addresses, (details) =>
        eraseAddressesIn(details, addresses, ERASED_TEXT),
      );
      await deps.people.erasePerson(trx, personId);
      return { pendingSignings, webhookDeliveries, apiRequests, imports, auditEntries };
    });
    await deps.auth.audit({
      userId: viewer.id,
      action: 'person.erase',
      subjectType: 'person',
      subjectId: personId,
      details: { ...erased, ...audit },
    });
  }

  return { exportPersonData, erasePerson };
}

export type PrivacyService = ReturnType<typeof createPrivacyService>;
