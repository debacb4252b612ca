import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../context.ts';
import type { MailingsService } from '../../mail/mailings/index.ts';
import type { PeopleService } from '../../people/index.ts';
import type { PetitionService } from '../../petitions/index.ts';
import type { PrivacyService } from '../../privacy/index.ts';
import { HAL_TYPE, type Urls } from '../hal.ts';
import type { ApiService } from '../service.ts';

/** What every API route file gets. */
export interface ApiRouteOptions {
  ctx: AppContext;
  api: ApiService;
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
  privacy: PrivacyService;
  urls: Urls;
}

export function hal(reply: FastifyReply, status = 200): FastifyReply {
  return reply.status(status).type(HAL_TYPE);
}

/** `filter` or `$filter` (OData-style clients send either). */
export function filterOf(query: {
  filter?: string | undefined;
  $filter?: string | undefined;
}): string | undefined {
  return query.filter ?? query.$filter;
}

export const trueish = (value: string | boolean | undefined): boolean => value === true || value === 'true';
