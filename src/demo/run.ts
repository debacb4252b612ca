import type { Services } from '../services.ts';
import { demoPerson, seededRandom } from './generate.ts';
import { demoGroupsAndEvents } from './groups-events.ts';

export interface DemoOptions {
  people: number;
  seed?: number;
  /** Progress lines for the command line. */
  print?: (line: string) => void;
}

export interface DemoSummary {
  people: number;
  petitions: string[];
  signatures: number;
}

const comments = [
  'Rent went up 30% this year. We need this.',
  'My kids deserve clean air.',
  'Porque mi comunidad lo necesita.',
  'Signing for my grandmother.',
  'Nurses like me see the harm every day.',
  '',
  '',
  '',
];

/**
 * Fills the database with a living sample organisation through the services (the same rules as
 * real use): supporters with tags, lists and addresses, open petitions with targets, signatures
 * with comments and referrals.
 */
export async function runDemo(services: Services, options: DemoOptions): Promise<DemoSummary> {
  const random = seededRandom(options.seed ?? 2026);
  const print = options.print ?? (() => {});
  const { db } = services.ctx;
  const batch = 500;
  const inputs = Array.from({ length: options.people }, (_, i) => demoPerson(random, i + 1));
  for (let start = 0; start < inputs.length; start += batch) {
    await db
      .transaction()
      .execute((trx) => services.people.mergePeople(trx, inputs.slice(start, start + batch)));
    print(`  supporters: ${Math.min(start + batch, inputs.length)} / ${inputs.length}`);
  }

  const petitionSpecs = [
    {
      slug: 'pass-sb-54-clean-air',
      title: 'Pass SB 54: clean air near every school',
      summary: 'Tell the Assembly to pass SB 54 and keep diesel trucks away from schools.',
      body: '## Why this matters\n\nChildren breathe **twice as much air** per pound as adults. SB 54 creates a 1,000-foot buffer around schools.\n\n- Cleaner air\n- Fewer asthma attacks\n- Healthier communities',
      billReference: 'CA SB 54',
      goal: 5000,
      share: 0.45,
      targets: [
        {
          name: 'Asm. Jordan Reyes',
          title: 'Chair, Assembly Health Committee',
          district: 'AD-07',
          email: 'reyes@assembly.example.org',
        },
        {
          name: 'Sen. Patricia Lowe',
          title: 'State Senator',
          district: 'SD-06',
          email: 'lowe@senate.example.org',
        },
      ],
      translations: [
        {
          language: 'es',
          title: 'Aprueben SB 54: aire limpio cerca de cada escuela',
          summary: 'Pidan a la Asamblea que apruebe SB 54.',
        },
      ],
    },
    {
      slug: 'fair-rent-now',
      title: 'Fair rent now: cap increases at 5%',
      summary: 'Rents are rising faster than wages. Ask the city council to cap yearly increases at 5%.',
      body: 'Families are being pushed out of the neighbourhoods they built. A 5% cap keeps people housed.',
      billReference: 'Ordinance 2026-118',
      goal: 2000,
      share: 0.18,
      targets: [
        { name: 'Council President Dana Okafor', title: 'City Council', district: 'Citywide', email: null },
      ],
      translations: [],
    },
  ];

  let signatures = 0;
  const slugs: string[] = [];
  for (const spec of petitionSpecs) {
    let petition;
    try {
      petition = await services.petitions.getPetitionBySlug(spec.slug);
    } catch {
      petition = await services.petitions.createPetition({
        slug: spec.slug,
        title: spec.title,
        summary: spec.summary,
        body: spec.body,
        billReference: spec.billReference,
        goal: spec.goal,
        requiresConfirmation: false,
        commentModeration: 'immediate',
        altchaEnabled: false,
        targets: spec.targets,
        translations: spec.translations,
      });
      await services.petitions.publishPetition(petition.row.id);
    }
    slugs.push(spec.slug);
    const referralCodes: string[] = [];
    for (const input of inputs) {
      if (random() >= spec.share) continue;
      const result = await services.petitions.signPetition(
        spec.slug,
        {
          email: input.email,
          givenName: input.givenName ?? undefined,
          familyName: input.familyName ?? undefined,
          postalCode: input.address?.postalCode ?? undefined,
          locality: input.address?.locality ?? undefined,
          comment: pick(random, comments) || undefined,
          consent: random() < 0.8,
          ref: referralCodes.length && random() < 0.2 ? pick(random, referralCodes) : undefined,
          source: random() < 0.5 ? 'demo-mailing' : undefined,
          language: input.language ?? 'en',
        },
        { ip: null, userAgent: 'undersign demo' },
      );
      if (result.referralCode) referralCodes.push(result.referralCode);
      if (result.status === 'signed') signatures++;
    }
    // Signatures are taken in first; the job that makes people and signatures runs here at once.
    await services.petitions.processPendingIntake();
    print(`  petition ${spec.slug}: ${referralCodes.length} signatures`);
  }
  const local = await demoGroupsAndEvents(
    services,
    inputs.map((input) => input.email),
    random,
  );
  print(`  groups: ${local.groups}, event RSVPs: ${local.rsvps}`);
  return { people: options.people, petitions: slugs, signatures };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
