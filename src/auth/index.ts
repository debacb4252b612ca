export { requireRole, userOf } from './guard.ts';
export { authPlugin, installAuthHooks, SESSION_COOKIE } from './plugin.ts';
export { roles, isRole, hasRole, type Role } from './roles.ts';
export { createAuthService, type AuthService, type CurrentUser, type PublicUser } from './service.ts';
export { authCommands, printFirstOwnerLink } from './commands.ts';
