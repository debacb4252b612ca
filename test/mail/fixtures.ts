import type { PersonInput } from '../../src/people/index.ts';
import type { Services } from '../../src/services.ts';

/** Adds people through the people service (the merge-by-email rule), returning email → person id. */
export async function addPeople(services: Services, people: PersonInput[]): Promise<Map<string, string>> {
  const results = await services.people.mergePeople(services.ctx.db, people);
  return new Map(people.map((p, i) => [p.email.toLowerCase(), results[i]!.personId]));
}

let petitionCounter = 0;

/** An open petition that counts signatures without email confirmation. */
export async function openPetition(
  services: Services,
  title = 'Save the river',
): Promise<{ id: string; slug: string }> {
  petitionCounter++;
  const slug = `p${Date.now().toString(36)}-${petitionCounter}`;
  const petition = await services.petitions.createPetition({
    slug,
    title,
    requiresConfirmation: false,
    altchaEnabled: false,
  });
  await services.petitions.publishPetition(petition.row.id);
  return { id: petition.row.id, slug };
}

export async function sign(
  services: Services,
  slug: string,
  email: string,
  extra: { source?: string; givenName?: string } = {},
): Promise<void> {
  await services.petitions.signPetition(
    slug,
    {
      email,
      givenName: extra.givenName ?? 'Signer',
      familyName: 'Test',
      postalCode: '10115',
      consent: true,
      ...extra,
    },
    { ip: null, userAgent: 'test' },
  );
  await services.petitions.flushPending();
}
