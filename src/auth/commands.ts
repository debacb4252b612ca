import { openRuntime } from '../bootstrap.ts';
import type { CliCommand } from '../cli-commands.ts';
import { loadConfig } from '../config.ts';
import { isRole, roles } from './roles.ts';
import { createAuthService, type AuthService } from './service.ts';

/** While nobody can sign in, each start prints a one-time link to create the owner account. */
export async function printFirstOwnerLink(auth: AuthService, print: (line: string) => void): Promise<void> {
  if ((await auth.countAllUsers()) > 0) return;
  const invite = await auth.createInvite({ role: 'owner', createdBy: null, validForMs: 24 * 3600_000 });
  print(`\n  No users yet. Create the owner account within 24 hours at:\n\n    ${invite.url}\n`);
}

export const authCommands: CliCommand[] = [
  {
    name: 'user add',
    usage: 'user add --email E --role R',
    summary: `add an admin user (roles: ${roles.join(', ')}); prints a one-time link, or sets --password`,
    async run(args, parse) {
      const { values } = parse({
        args,
        options: {
          email: { type: 'string' },
          role: { type: 'string', default: 'owner' },
          password: { type: 'string' },
          name: { type: 'string' },
        },
      });
      if (!values.email)
        throw new Error('--email is required, e.g. user add --email you@example.org --role owner');
      if (!isRole(values.role)) throw new Error(`--role must be one of ${roles.join(', ')}`);
      const runtime = await openRuntime(loadConfig(), { log: undefined });
      try {
        const auth = createAuthService(runtime.ctx);
        const password = values.password ?? process.env.UNDERSIGN_PASSWORD;
        if (password) {
          const user = await auth.createUser({
            email: values.email,
            password,
            role: values.role,
            displayName: values.name ?? null,
          });
          console.log(
            `Created ${user.role} ${user.email}. Sign in at ${runtime.ctx.config.publicUrl}/admin/login`,
          );
        } else {
          const invite = await auth.createInvite({ role: values.role, email: values.email, createdBy: null });
          console.log(
            `One-time link for ${values.email} (${values.role}), valid until ${invite.expiresAt}:\n${invite.url}`,
          );
        }
        return 0;
      } finally {
        await runtime.close();
      }
    },
  },
];
