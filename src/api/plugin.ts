import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import type { EventsService } from '../events/index.ts';
import { AppError } from '../errors.ts';
import type { MailingsService } from '../mail/mailings/index.ts';
import type { PeopleService, PersonIdSet } from '../people/index.ts';
import type { PetitionService } from '../petitions/index.ts';
import type { PrivacyService } from '../privacy/index.ts';
import { apiAdminRoutes } from './admin.ts';
import { docsPage } from './docs.ts';
import { API_PREFIX, curies, Links, Urls } from './hal.ts';
import type { ApiKeyIdentity } from './keys.ts';
import { hal, type ApiRouteOptions } from './routes/context.ts';
import { eventsApiRoutes } from './routes/events.ts';
import { peopleApiRoutes } from './routes/people.ts';
import { petitionsApiRoutes } from './routes/petitions.ts';
import { tagsAndListsApiRoutes } from './routes/tags-lists.ts';
import type { ApiService } from './service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyIdentity | null;
    /** For a key limited to a group: the people it may see. */
    apiScope: PersonIdSet | null;
  }
  interface FastifyContextConfig {
    /** Served without an API key (the OpenAPI document and its docs page). */
    publicApi?: boolean;
  }
}

export interface ApiPluginOptions {
  ctx: AppContext;
  api: ApiService;
  people: PeopleService;
  petitions: PetitionService;
  mailings: MailingsService;
  events: EventsService;
  /** A person's data export and erasure (GET /people/{id}/export, DELETE /people/{id}). */
  privacy: PrivacyService;
}

function keyFrom(request: FastifyRequest): string | undefined {
  const token = request.headers['osdi-api-token'];
  if (typeof token === 'string' && token.trim()) return token;
  const authorization = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
/** What a key limited to a group may use: the entry point and reading its group's people. */
const groupKeyRoutes = new Set([
  `${API_PREFIX}/`,
  `${API_PREFIX}`,
  `${API_PREFIX}/people`,
  `${API_PREFIX}/people/:id`,
]);

/** The OSDI API under /api/v1 (its own scope: key auth, HAL+JSON, OpenAPI) and the admin pages. */
export async function apiPlugin(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  app.addHook('onClose', async () => {
    await options.api.webhooks.stopScanner();
  });
  await app.register(apiAdminRoutes, { ctx: options.ctx, api: options.api });
  await app.register(apiV1, { ...options, prefix: API_PREFIX });
}

async function apiV1(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  const { ctx, api } = options;
  const urls = new Urls(ctx.config.publicUrl);
  const routeOptions: ApiRouteOptions = {
    ctx,
    api,
    people: options.people,
    petitions: options.petitions,
    mailings: options.mailings,
    privacy: options.privacy,
    urls,
  };

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: `${ctx.config.orgName} OSDI API`,
        version: '1.0.0',
        description:
          'OSDI-compatible REST API (HAL+JSON). Send your key in the OSDI-API-Token header ' +
          '(or Authorization: Bearer). Keys are made by owners and admins at /admin/api-keys.',
      },
      servers: [{ url: ctx.config.publicUrl }],
      components: {
        securitySchemes: { osdiApiToken: { type: 'apiKey', in: 'header', name: 'OSDI-API-Token' } },
      },
      security: [{ osdiApiToken: [] }],
    },
  });

  // The OpenAPI document says what the routes really answer (HAL+JSON, unless a route says
  // otherwise) and which bodies they take (JSON under either media type, parsed below).
  app.addHook('onRoute', (route) => {
    if (!route.schema || route.schema.hide) return;
    route.schema = {
      ...route.schema,
      produces: route.schema.produces ?? ['application/hal+json'],
      ...(route.schema.body
        ? { consumes: route.schema.consumes ?? ['application/json', 'application/hal+json'] }
        : {}),
    };
  });
  // Clients that send Content-Type: application/json on every request, a body-less DELETE too, are not refused.
  // OSDI clients may send the HAL media type they receive (application/hal+json): the same JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    ['application/json', 'application/hal+json'],
    { parseAs: 'string' },
    (request, body, done) => {
      if (request.method === 'DELETE' && body === '') {
        done(null, undefined);
        return;
      }
      parseJson(request, String(body), done);
    },
  );
  app.decorateRequest('apiKey', null);
  app.decorateRequest('apiScope', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.publicApi) return;
    const key = await api.authenticate(keyFrom(request));
    if (!readMethods.has(request.method) && !key.scopes.includes('write')) {
      throw new AppError('forbidden', 'This key can only read. Ask an admin for a key with write access.');
    }
    if (key.groupId) {
      request.apiScope = await api.scopeOf(key);
      if (!readMethods.has(request.method) || !groupKeyRoutes.has(request.routeOptions.url ?? '')) {
        throw new AppError('forbidden', "A key limited to a group can only read that group's people.");
      }
    }
    request.apiKey = key;
  });

  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/',
    {
      schema: {
        summary: 'API entry point (OSDI AEP)',
        tags: ['entry point'],
        response: {
          200: Type.Object({
            motd: Type.String(),
            vendor_name: Type.String(),
            product_name: Type.String(),
            osdi_version: Type.String(),
            max_pagesize: Type.Integer(),
            namespace: Type.String(),
            _links: Links,
          }),
        },
      },
    },
    async (_request, reply) =>
      hal(reply).send({
        motd: `Welcome to the ${ctx.config.orgName} OSDI API.`,
        vendor_name: 'Undersign',
        product_name: 'Undersign',
        osdi_version: '1.1',
        max_pagesize: ctx.config.apiMaxPerPage,
        namespace: 'undersign',
        _links: {
          curies: curies(),
          self: { ...urls.to(''), title: 'This entry point' },
          'osdi:people': { ...urls.to('/people'), title: 'People' },
          'osdi:tags': { ...urls.to('/tags'), title: 'Tags' },
          'osdi:lists': { ...urls.to('/lists'), title: 'Lists' },
          'osdi:petitions': { ...urls.to('/petitions'), title: 'Petitions' },
          'osdi:signatures': { ...urls.to('/signatures'), title: 'Signatures of every petition' },
          'osdi:messages': { ...urls.to('/messages'), title: 'Messages (mailings)' },
          'osdi:events': { ...urls.to('/events'), title: 'Events' },
          'osdi:person_signup_helper': {
            ...urls.to('/people/person_signup_helper'),
            title: 'Person signup helper',
          },
          docs: { ...urls.to('/docs'), title: 'API documentation' },
        },
      }),
  );

  await app.register(peopleApiRoutes, routeOptions);
  await app.register(tagsAndListsApiRoutes, routeOptions);
  await app.register(petitionsApiRoutes, routeOptions);
  await app.register(eventsApiRoutes, { ...routeOptions, events: options.events });

  app.get('/openapi.json', { schema: { hide: true }, config: { publicApi: true } }, async () =>
    app.swagger(),
  );
  app.get('/docs', { schema: { hide: true }, config: { publicApi: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(app.swagger() as never, ctx.config.orgName).value),
  );
}
