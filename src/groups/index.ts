import type { EventGroupAccess } from '../events/index.ts';
import type { GroupsService } from './service.ts';

export { createGroupsService, type GroupsService, type GroupInput } from './service.ts';
export type { GroupRow } from './tables.ts';
export { groupsPlugin } from './routes.ts';
export { installLeaderGuard } from './guard.ts';

/** What the events pages need from groups: leaders manage their groups' events only. */
export function eventGroupAccess(groups: GroupsService): EventGroupAccess {
  return {
    eventScope: (user) => groups.groupScope(user),
    async groupChoices(user) {
      const scope = await groups.groupScope(user);
      return (await groups.listTree())
        .filter((g) => !scope || scope.includes(g.id))
        .map((g) => ({ id: g.id, name: `${'— '.repeat(g.depth)}${g.name}` }));
    },
    async groupName(id) {
      if (!id) return null;
      return (await groups.getGroup(id).catch(() => null))?.name ?? null;
    },
  };
}
