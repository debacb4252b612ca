/** Admin roles, most powerful first. A role can do everything the roles after it can. */
export const roles = ['owner', 'admin', 'organiser', 'viewer'] as const;
export type Role = (typeof roles)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

/** Higher is more powerful. */
export function roleRank(role: string): number {
  const index = (roles as readonly string[]).indexOf(role);
  return index === -1 ? -1 : roles.length - index;
}

/** True when `role` is at least as powerful as `minimum`. */
export function hasRole(role: string, minimum: Role): boolean {
  return roleRank(role) >= roleRank(minimum);
}

export const roleDescriptions: Record<Role, string> = {
  owner: 'everything, including managing users',
  admin: 'everything except managing users',
  organiser: 'manage supporters, imports, exports, petitions and mailings',
  viewer: 'read only',
};
