import type { PersonInput } from '../people/types.ts';

/** A small seeded generator (mulberry32) so a demo database looks the same every time. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const givenNames = [
  'Maria',
  'James',
  'Ana',
  'John',
  'Sofia',
  'Michael',
  'Lucia',
  'David',
  'Camila',
  'Robert',
  'Valentina',
  'William',
  'Isabella',
  'Daniel',
  'Emma',
  'José',
  'Olivia',
  'Luis',
  'Ava',
  'Carlos',
  'Mia',
  'Jorge',
  'Grace',
  'Miguel',
  'Chloe',
  'Andre',
  'Aaliyah',
  'Kenji',
  'Priya',
  'Wei',
  'Fatima',
  'Omar',
  'Hannah',
  'Noah',
  'Zoe',
  'Elijah',
  'Leah',
  'Mateo',
  'Nia',
  'Samuel',
  'Rosa',
  'Tomás',
  'Keisha',
  'Ethan',
  'Aisha',
  'Diego',
  'Lily',
  'Marcus',
];
const familyNames = [
  'Garcia',
  'Smith',
  'Rodriguez',
  'Johnson',
  'Martinez',
  'Williams',
  'Hernandez',
  'Brown',
  'Lopez',
  'Jones',
  'Gonzalez',
  'Miller',
  'Perez',
  'Davis',
  'Sanchez',
  'Wilson',
  'Ramirez',
  'Anderson',
  'Torres',
  'Thomas',
  'Nguyen',
  'Kim',
  'Patel',
  'Chen',
  'Jackson',
  'White',
  'Flores',
  'Harris',
  'Rivera',
  'Clark',
  'Washington',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Green',
  'Baker',
  'Adams',
];
/** Localities with a real-looking postal code range and state. */
const places = [
  { locality: 'Sacramento', region: 'CA', postal: 95814, spread: 30 },
  { locality: 'Los Angeles', region: 'CA', postal: 90001, spread: 90 },
  { locality: 'Oakland', region: 'CA', postal: 94601, spread: 20 },
  { locality: 'Fresno', region: 'CA', postal: 93701, spread: 30 },
  { locality: 'San Diego', region: 'CA', postal: 92101, spread: 50 },
  { locality: 'Austin', region: 'TX', postal: 78701, spread: 40 },
  { locality: 'Houston', region: 'TX', postal: 77002, spread: 90 },
  { locality: 'Phoenix', region: 'AZ', postal: 85003, spread: 40 },
  { locality: 'Denver', region: 'CO', postal: 80202, spread: 30 },
  { locality: 'Chicago', region: 'IL', postal: 60601, spread: 60 },
  { locality: 'New York', region: 'NY', postal: 10001, spread: 90 },
  { locality: 'Atlanta', region: 'GA', postal: 30303, spread: 30 },
];
const tagPool = [
  'volunteer',
  'donor',
  'climate',
  'housing',
  'healthcare',
  'rally-2026',
  'phonebank',
  'student',
  'union member',
];
const listPool = ['Newsletter', 'Volunteers', 'Action alerts'];
const sources = ['website', 'import:2025-rally.csv', 'petition', 'event', 'api'];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function ascii(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
}

/** The `index`-th demo supporter; emails are on example.org, which never receives mail. */
export function demoPerson(random: () => number, index: number): PersonInput {
  const givenName = pick(random, givenNames);
  const familyName = pick(random, familyNames);
  const place = pick(random, places);
  const spanish = random() < 0.22;
  const tags = tagPool.filter(() => random() < 0.12);
  const lists = listPool.filter((_, i) => random() < (i === 0 ? 0.7 : 0.2));
  return {
    email: `${ascii(givenName)}.${ascii(familyName)}.${index}@example.org`,
    givenName,
    familyName,
    language: spanish ? 'es' : 'en',
    phone: random() < 0.4 ? `+1${Math.floor(2000000000 + random() * 7999999999)}` : null,
    address: {
      locality: place.locality,
      region: place.region,
      postalCode: String(place.postal + Math.floor(random() * place.spread)).padStart(5, '0'),
      country: 'US',
    },
    tags,
    lists,
    customFields:
      random() < 0.3
        ? { employer: pick(random, ['School district', 'Hospital', 'City', 'Retail', 'Self-employed']) }
        : {},
    source: pick(random, sources),
    subscribe: random() < 0.92,
  };
}
