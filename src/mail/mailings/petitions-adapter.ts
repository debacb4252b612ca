import type { PersonIdSubquery } from '../../people/audience/index.ts';
import type { PetitionService } from '../../petitions/index.ts';
import type { PetitionsForMail } from './sources.ts';

/** Bulk email's view of the petitions service. */
export function petitionsForMail(petitions: PetitionService, publicUrl: string): PetitionsForMail {
  const selectSigners = (petitionIds: readonly string[]): PersonIdSubquery => {
    const queries: PersonIdSubquery[] = petitionIds.map((id) => petitions.signerIdsQuery(id));
    return queries.reduce((all, next) => all.union(next));
  };
  return {
    selectSigners(_db, petitionIds) {
      return selectSigners(petitionIds);
    },
    signersOfAny(petitionIds) {
      return {
        all: selectSigners(petitionIds),
        ofPerson: (personId) => petitions.signerIdsOfPersonQuery(petitionIds, personId),
      };
    },
    selectSignersWithSourcePrefix(_db, prefix) {
      return petitions.signerIdsWithSourcePrefixQuery(prefix);
    },
    selectDistrictPostalCodes(districtIds) {
      return petitions.postalCodesInDistrictsQuery(districtIds);
    },
    countSignaturesWithSourcePrefixByHour(prefix) {
      return petitions.countSignaturesWithSourcePrefixByHour(prefix);
    },
    async petitionUrl(petitionId) {
      try {
        const petition = await petitions.getPetition(petitionId);
        return `${publicUrl}/petitions/${petition.row.slug}`;
      } catch {
        return null;
      }
    },
    async listPetitionChoices() {
      const rows = await petitions.listPetitions();
      return rows.map((row) => ({ id: row.id, title: row.title }));
    },
  };
}
