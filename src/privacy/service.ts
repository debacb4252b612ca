import type { AuthService } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import type { EventsService } from '../events/index.ts';
import type { GroupsService } from '../groups/index.ts';
import type { MailService } from '../mail/index.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import type { PeopleService, PeopleViewer } from '../people/index.ts';
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
}

/**
 * A person's right to see and erase their data: one JSON document gathered from every capability,
 * and an erasure that anonymises (rows stay, so signature, RSVP and member counts stay right).
 * Both are audited with who did them.
 */
export function createPrivacyService(ctx: AppContext, deps: PrivacyDeps) {
  async function exportPersonData(personId: string, viewer: PeopleViewer) {
    // getPerson with the viewer applies their access scope (not found outside it) and audits the view.
    const person = await deps.people.getPerson(personId, viewer);
    const [signatures, rsvps, groups, emails] = [
      await deps.petitions.signaturesOfPerson(personId),
      await deps.events.rsvpsOfPerson(personId),
      await deps.groups.groupsOfPerson(personId),
      await deps.mail.listTransactionalForPerson(personId),
    ];
    await deps.auth.audit({
      userId: viewer.id,
      action: 'person.data_export',
      subjectType: 'person',
      subjectId: personId,
    });
    return {
      exportedAt: new Date().toISOString(),
      person,
      signatures,
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
    };
  }

  /**
   * Every row that names the person keeps existing (counts stay right) without their name or
   * address: people, signatures, RSVPs, mailing recipients and events, transactional messages and
   * the local outbox. Suppressions keep the address so that it is never mailed again.
   */
  async function erasePerson(personId: string, viewer: PeopleViewer): Promise<void> {
    const person = await deps.people.getPerson(personId, viewer);
    const addresses = person.emails.map((e) => e.address.toLowerCase());
    const placeholder = `erased-${personId}@erased.invalid`;
    await ctx.db.transaction().execute(async (trx) => {
      await deps.petitions.anonymiseSignaturesOfPerson(trx, personId);
      await deps.events.anonymisePerson(trx, personId, placeholder);
      await deps.mail.anonymiseMailOfPerson(trx, personId, addresses, placeholder);
      await deps.mailings?.anonymiseRecipient(trx, personId, addresses, placeholder);
      await deps.people.erasePerson(trx, personId);
    });
    await deps.auth.audit({
      userId: viewer.id,
      action: 'person.erase',
      subjectType: 'person',
      subjectId: personId,
    });
  }

  return { exportPersonData, erasePerson };
}

export type PrivacyService = ReturnType<typeof createPrivacyService>;
