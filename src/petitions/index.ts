import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { addAdminNavItem } from '../web/layout.ts';
import { petitionAdminRoutes, type PetitionAdminAccess } from './routes/admin.ts';
import { petitionPublicRoutes } from './routes/public.ts';
import type { PetitionService } from './service.ts';

export { createPetitionService, type PetitionService } from './service.ts';
export type { PublicCount, SignInput, SignResult, PetitionInput, Petition } from './types.ts';
export type { PetitionRow, SignatureRow } from './tables.ts';
export type { PetitionAdminAccess } from './routes/admin.ts';

export interface PetitionsPluginOptions {
  ctx: AppContext;
  petitions: PetitionService;
  /** Limits group leaders to their groups' petitions and audits views of signers. */
  access?: PetitionAdminAccess | null;
}

/** Public petition pages, signing, confirmation, counts and embeds; the admin pages. */
export async function petitionsPlugin(app: FastifyInstance, options: PetitionsPluginOptions): Promise<void> {
  addAdminNavItem({ href: '/admin/petitions', label: 'Petitions', section: 'petitions' });
  app.addHook('onClose', async () => {
    await options.petitions.close();
  });
  await app.register(petitionPublicRoutes, options);
  await app.register(petitionAdminRoutes, options);
}
