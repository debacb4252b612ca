import { randomBytes } from 'node:crypto';
import type { PetitionInput } from '../../src/petitions/index.ts';
import type { TestRuntime } from '../helpers/runtime.ts';

/** An open petition with a unique slug; ALTCHA off unless asked (tests sign without a browser). */
export async function openPetition(t: Pick<TestRuntime, 'services'>, input: Partial<PetitionInput> = {}) {
  const slug = input.slug ?? `save-the-park-${randomBytes(3).toString('hex')}`;
  const created = await t.services.petitions.createPetition({
    title: 'Save the park',
    summary: 'Keep Elm Park green.',
    body: '## Why\n\nThe park is **ours**.',
    goal: 10,
    altchaEnabled: false,
    requiresConfirmation: false,
    ...input,
    slug,
  });
  return t.services.petitions.publishPetition(created.row.id);
}

let counter = 0;
/** A distinct email per call. */
export function uniqueEmail(prefix = 'signer'): string {
  counter++;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}@example.org`;
}

export const meta = (ip = '198.51.100.7') => ({ ip, userAgent: 'vitest' });
