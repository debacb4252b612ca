import type { Services } from '../services.ts';

/** A state chapter with local groups (joined by postal-code rules) and a few events with RSVPs. */
export async function demoGroupsAndEvents(
  services: Services,
  emails: readonly string[],
  random: () => number,
): Promise<{ groups: number; rsvps: number }> {
  const { groups, events } = services;
  async function group(
    slug: string,
    name: string,
    level: string,
    parentId: string | null,
    prefixes: string[],
  ) {
    try {
      return await groups.getGroupBySlug(slug);
    } catch {
      const made = await groups.createGroup({
        slug,
        name,
        level,
        parentId,
        description: `${name}: organising locally.`,
      });
      for (const prefix of prefixes) await groups.addRule(made.id, 'postal_prefix', prefix);
      return made;
    }
  }
  const national = await group('clean-air-alliance', 'Clean Air Alliance', 'national', null, []);
  const california = await group('clean-air-california', 'Clean Air California', 'state', national.id, []);
  const oakland = await group('clean-air-oakland', 'Clean Air Oakland', 'local', california.id, ['946']);
  const fresno = await group('clean-air-fresno', 'Clean Air Fresno', 'local', california.id, ['937']);
  await group('clean-air-texas', 'Clean Air Texas', 'state', national.id, ['787', '770']);

  const day = (days: number, hour: number) => {
    const date = new Date(Date.now() + days * 24 * 3600_000);
    return `${date.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00`;
  };
  const specs = [
    {
      slug: 'oakland-town-hall-on-sb-54',
      title: 'Oakland town hall on SB 54',
      description: 'Hear from parents and nurses, then plan our visit to the Assembly member.',
      startsLocal: day(10, 18),
      endsLocal: day(10, 20),
      place: 'Oakland Public Library, 125 14th St',
      capacity: 40,
      groupId: oakland.id,
    },
    {
      slug: 'fresno-phone-bank',
      title: 'Fresno phone bank',
      description: 'Call supporters and ask them to sign. Bring a charged phone; we bring the snacks.',
      startsLocal: day(4, 17),
      endsLocal: day(4, 19),
      place: 'Tower District Community Room',
      capacity: 12,
      groupId: fresno.id,
    },
    {
      slug: 'statewide-online-training',
      title: 'Statewide online training: talking to your legislator',
      description: 'A one-hour training for every volunteer in California.',
      startsLocal: day(7, 19),
      endsLocal: day(7, 20),
      onlineUrl: 'https://meet.example.org/clean-air-training',
      capacity: null,
      groupId: california.id,
    },
  ];
  let rsvps = 0;
  for (const spec of specs) {
    const event = await events
      .getEventBySlug(spec.slug)
      .catch(() => events.createEvent({ ...spec, timeZone: 'America/Los_Angeles' }));
    for (const email of emails) {
      if (random() >= 0.02) continue;
      const outcome = await events.rsvp(event.slug, { email }, { ip: null, userAgent: 'undersign demo' });
      if (outcome.created) rsvps++;
    }
  }
  return { groups: 5, rsvps };
}
