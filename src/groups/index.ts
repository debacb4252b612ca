import type { AuthService } from '../auth/index.ts';
import type { EventGroupAccess } from '../events/index.ts';
import type { PetitionAdminAccess } from '../petitions/index.ts';
import type { GroupsService } from './service.ts';

export { createGroupsService, type GroupsService, type GroupInput } from './service.ts';
export type { GroupRow } from './tables.ts';
export { groupsPlugin } from './routes.ts';
export { installLeaderGuard } from './guard.ts';

/** What the events pages need from groups: leaders manage their groups' events only. */
export function eventGroupAccess(groups: GroupsService): EventGroupAccess {
  return {
    eventScope: (user) => groups.groupScope(user),
    groupChoices: (user) => groups.groupChoices(user),
    async groupName(id) {
      if (!id) return null;
      return (await groups.getGroup(id).catch(() => null))?.name ?? null;
    },
  };
}

/** What the petition admin pages need from groups: leaders manage their groups' petitions only. */
export function petitionGroupAccess(groups: GroupsService, auth: AuthService): PetitionAdminAccess {
  return {
    petitionScope: (user) => groups.groupScope(user),
    groupChoices: (user) => groups.groupChoices(user),
    recordView: (user, action, petitionId, details) =>
      auth.audit({
        userId: user.id,
        action,
        subjectType: 'petition',
        subjectId: petitionId,
        ...(details ? { details } : {}),
      }),
  };
}
