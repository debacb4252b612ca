import type { Executor } from '../../db/index.ts';
import type { PersonIdSubquery, PersonSet, PostalCodeSubquery } from '../../people/audience/index.ts';

/**
 * What bulk email needs from petitions, given by the petitions service (services.ts wires it):
 * SQL subqueries of person ids that mail embeds, never reading the signatures table itself.
 */
export interface PetitionsForMail {
  /** People who signed any of these petitions. */
  selectSigners(db: Executor, petitionIds: readonly string[]): PersonIdSubquery;
  /** The same people, also as one person's signatures (what an audience asks per candidate). */
  signersOfAny(petitionIds: readonly string[]): PersonSet;
  /** People whose signature (on any petition) carries a source code starting with this prefix. */
  selectSignersWithSourcePrefix(db: Executor, prefix: string): PersonIdSubquery;
  /** Postal codes the organisation-wide district map puts in these districts. */
  selectDistrictPostalCodes(districtIds: readonly string[]): PostalCodeSubquery;
  /** Signatures whose source code starts with this prefix, per hour (UTC "YYYY-MM-DDTHH"). */
  countSignaturesWithSourcePrefixByHour(prefix: string): Promise<Array<{ hour: string; n: number }>>;
  /** The petition's public address (no query string), or null when it does not exist. */
  petitionUrl(petitionId: string): Promise<string | null>;
  /** Petitions an organiser can pick (id and title). */
  listPetitionChoices(): Promise<Array<{ id: string; title: string }>>;
}
