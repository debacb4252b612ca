import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { collection, collectionSchema, ErrorBody, IdParams, idFromHref, PageQuery, paging } from '../hal.ts';
import { List, listItemToOsdi, listToOsdi, Tag, Tagging, taggingToOsdi, tagToOsdi } from '../osdi.ts';
import { hal, type ApiRouteOptions } from './context.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody };
const NameBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: true },
);
const MemberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  personId: Type.String({ minLength: 1, maxLength: 100 }),
});
const TaggingBody = Type.Object(
  {
    _links: Type.Optional(
      Type.Object(
        { 'osdi:person': Type.Object({ href: Type.String({ maxLength: 500 }) }) },
        { additionalProperties: true },
      ),
    ),
    person_id: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: true },
);

export async function tagsAndListsApiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { people, urls, ctx } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const max = ctx.config.apiMaxPerPage;

  async function requirePerson(id: string) {
    const [record] = await people.describePeople([id]);
    if (!record) throw new AppError('not_found', 'There is no person with that id.');
    return record;
  }

  /* ---------- tags ---------- */

  r.get(
    '/tags',
    {
      schema: {
        summary: 'List tags',
        tags: ['tags'],
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:tags', Tag), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { items, total } = await people.listNamed('tags', p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          '/tags',
          'osdi:tags',
          items.map((t) => tagToOsdi(urls, t)),
          total,
          p,
        ),
      );
    },
  );

  r.post(
    '/tags',
    {
      schema: {
        summary: 'Create a tag (or find the one with that name)',
        tags: ['tags'],
        body: NameBody,
        response: { 200: Tag, ...errors },
      },
    },
    async (request, reply) =>
      hal(reply).send(tagToOsdi(urls, await people.createNamed('tags', request.body.name))),
  );

  r.get(
    '/tags/:id',
    { schema: { summary: 'One tag', tags: ['tags'], params: IdParams, response: { 200: Tag, ...errors } } },
    async (request, reply) =>
      hal(reply).send(tagToOsdi(urls, await people.getNamed('tags', request.params.id))),
  );

  r.get(
    '/tags/:id/taggings',
    {
      schema: {
        summary: 'People with a tag',
        tags: ['tags'],
        params: IdParams,
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:taggings', Tagging), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { members, total } = await people.listMembers('tags', request.params.id, p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          `/tags/${request.params.id}/taggings`,
          'osdi:taggings',
          members.map((m) => taggingToOsdi(urls, request.params.id, m)),
          total,
          p,
        ),
      );
    },
  );

  r.post(
    '/tags/:id/taggings',
    {
      schema: {
        summary: 'Tag a person',
        description:
          'Body: {"_links": {"osdi:person": {"href": ".../people/<id>"}}} (or {"person_id": "<id>"}).',
        tags: ['tags'],
        params: IdParams,
        body: TaggingBody,
        response: { 200: Tagging, ...errors },
      },
    },
    async (request, reply) => {
      const tag = await people.getNamed('tags', request.params.id);
      const href = request.body._links?.['osdi:person']?.href ?? request.body.person_id;
      if (!href) throw new AppError('invalid', '_links["osdi:person"].href is required.');
      const person = await requirePerson(idFromHref(href));
      await ctx.db.transaction().execute((trx) => people.tagPerson(trx, person.id, tag.name));
      return hal(reply).send(
        taggingToOsdi(urls, tag.id, { personId: person.id, createdAt: new Date().toISOString() }),
      );
    },
  );

  r.get(
    '/tags/:id/taggings/:personId',
    {
      schema: {
        summary: 'One tagging',
        tags: ['tags'],
        params: MemberParams,
        response: { 200: Tagging, ...errors },
      },
    },
    async (request, reply) => {
      const tag = await people.getNamed('tags', request.params.id);
      const person = await requirePerson(request.params.personId);
      if (!person.tags.includes(tag.name))
        throw new AppError('not_found', 'This person does not have this tag.');
      return hal(reply).send(taggingToOsdi(urls, tag.id, { personId: person.id, createdAt: tag.createdAt }));
    },
  );

  r.delete(
    '/tags/:id/taggings/:personId',
    {
      schema: {
        summary: 'Remove a tag from a person',
        tags: ['tags'],
        params: MemberParams,
        response: { 200: Type.Object({ notice: Type.String() }), ...errors },
      },
    },
    async (request, reply) => {
      await people.getNamed('tags', request.params.id);
      const removed = await ctx.db
        .transaction()
        .execute((trx) => people.untagPerson(trx, request.params.id, request.params.personId));
      if (!removed) throw new AppError('not_found', 'This person does not have this tag.');
      return hal(reply).send({ notice: 'The tagging was removed.' });
    },
  );

  /* ---------- lists ---------- */

  r.get(
    '/lists',
    {
      schema: {
        summary: 'List lists',
        tags: ['lists'],
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:lists', List), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { items, total } = await people.listNamed('lists', p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          '/lists',
          'osdi:lists',
          items.map((l) => listToOsdi(urls, l)),
          total,
          p,
        ),
      );
    },
  );

  r.post(
    '/lists',
    {
      schema: {
        summary: 'Create a list (or find the one with that name)',
        tags: ['lists'],
        body: NameBody,
        response: { 200: List, ...errors },
      },
    },
    async (request, reply) =>
      hal(reply).send(listToOsdi(urls, await people.createNamed('lists', request.body.name))),
  );

  r.get(
    '/lists/:id',
    {
      schema: { summary: 'One list', tags: ['lists'], params: IdParams, response: { 200: List, ...errors } },
    },
    async (request, reply) =>
      hal(reply).send(listToOsdi(urls, await people.getNamed('lists', request.params.id))),
  );

  r.get(
    '/lists/:id/items',
    {
      schema: {
        summary: 'People on a list',
        tags: ['lists'],
        params: IdParams,
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:items', Tagging), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { members, total } = await people.listMembers('lists', request.params.id, p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          `/lists/${request.params.id}/items`,
          'osdi:items',
          members.map((m) => listItemToOsdi(urls, request.params.id, m)),
          total,
          p,
        ),
      );
    },
  );

  r.get(
    '/lists/:id/items/:personId',
    {
      schema: {
        summary: 'One list item',
        tags: ['lists'],
        params: MemberParams,
        response: { 200: Tagging, ...errors },
      },
    },
    async (request, reply) => {
      const list = await people.getNamed('lists', request.params.id);
      const person = await requirePerson(request.params.personId);
      if (!person.lists.includes(list.name))
        throw new AppError('not_found', 'This person is not on this list.');
      return hal(reply).send(
        listItemToOsdi(urls, list.id, { personId: person.id, createdAt: list.createdAt }),
      );
    },
  );
}
