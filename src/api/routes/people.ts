import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import type { PersonIdSet } from '../../people/index.ts';
import {
  collection,
  collectionSchema,
  ErrorBody,
  FilterQuery,
  IdParams,
  paging,
  parseDateFilter,
} from '../hal.ts';
import { Person, PersonInputBody, personToOsdi, SignupHelperBody } from '../osdi.ts';
import { filterOf, hal, trueish, type ApiRouteOptions } from './context.ts';

const Accepted = Type.Object({ status: Type.String(), message: Type.String() });
const BackgroundQuery = Type.Object({
  background_request: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 10 })])),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody };

export async function peopleApiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { api, people, urls, ctx } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const max = ctx.config.apiMaxPerPage;

  async function osdiPerson(id: string, scope: PersonIdSet | null = null) {
    if (scope && !(await people.isPersonWithin(id, scope))) {
      throw new AppError('not_found', 'There is no person with that id.');
    }
    const [record] = await people.describePeople([id]);
    if (!record) throw new AppError('not_found', 'There is no person with that id.');
    return personToOsdi(urls, record);
  }

  r.get(
    '/people',
    {
      schema: {
        summary: 'List people',
        description: "Paged in creation order. Filter: modified_date gt|lt|eq 'YYYY-MM-DD'.",
        tags: ['people'],
        querystring: FilterQuery,
        response: { 200: collectionSchema('osdi:people', Person), ...errors },
      },
    },
    async (request, reply) => {
      const filter = filterOf(request.query);
      const range = { ...parseDateFilter(filter), within: request.apiScope ?? undefined };
      const p = paging(request.query, max);
      const { people: rows, total } = await people.listPeopleChanged(range, p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          '/people',
          'osdi:people',
          rows.map((row) => personToOsdi(urls, row)),
          total,
          p,
          { filter },
        ),
      );
    },
  );

  r.get(
    '/people/:id',
    {
      schema: {
        summary: 'One person',
        tags: ['people'],
        params: IdParams,
        response: { 200: Person, ...errors },
      },
    },
    async (request, reply) => hal(reply).send(await osdiPerson(request.params.id, request.apiScope)),
  );

  const signupSchema = (summary: string) => ({
    summary,
    description:
      'Creates the person or merges into the one with the same email (else the same phone): blanks are filled, ' +
      'nothing is erased, add_tags are added and remove_tags removed. Sending it twice changes nothing more. ' +
      'With background_request=true the answer is 202 at once and the work runs in the job queue.',
    tags: ['people'],
    querystring: BackgroundQuery,
    body: SignupHelperBody,
    response: { 200: Person, 202: Accepted, ...errors },
  });

  const signup = async (
    request: { body: typeof SignupHelperBody.static; query: typeof BackgroundQuery.static },
    reply: Parameters<typeof hal>[0],
  ) => {
    if (trueish(request.query.background_request)) {
      await api.queueSignup(request.body);
      return hal(reply, 202).send({
        status: 'queued',
        message: 'The person will be added in the background.',
      });
    }
    const result = await api.signupPerson(request.body);
    return hal(reply).send(await osdiPerson(result.personId));
  };

  r.post('/people', { schema: signupSchema('Person signup helper') }, signup);
  r.post(
    '/people/person_signup_helper',
    { schema: signupSchema('Person signup helper (OSDI path)') },
    signup,
  );

  r.put(
    '/people/:id',
    {
      schema: {
        summary: 'Update a person',
        description:
          'given_name, family_name, languages_spoken and custom_fields are replaced (a custom field set to null is ' +
          'removed); postal_addresses and phone_numbers fill blanks. Email addresses cannot be changed here.',
        tags: ['people'],
        params: IdParams,
        body: PersonInputBody,
        response: { 200: Person, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const [record] = await people.describePeople([request.params.id]);
      if (!record) throw new AppError('not_found', 'There is no person with that id.');
      for (const email of body.email_addresses ?? []) {
        const owner = await people.findPersonIdByEmail(email.address);
        if (owner !== record.id) {
          throw new AppError(
            'invalid',
            'Email addresses cannot be added or changed with PUT; use the signup helper.',
          );
        }
      }
      await ctx.db.transaction().execute(async (trx) => {
        await people.updatePersonFields(trx, record.id, {
          givenName: body.given_name,
          familyName: body.family_name,
          language: body.languages_spoken ? (body.languages_spoken[0] ?? null) : undefined,
          customFields: body.custom_fields,
        });
        const email = record.emails.find((e) => e.primary)?.address ?? record.emails[0]?.address;
        const address = body.postal_addresses?.[0];
        const phone = body.phone_numbers?.[0]?.number;
        if (email && (address || phone)) {
          await people.mergePersonByEmail(trx, {
            email,
            phone: phone ?? null,
            address: address
              ? {
                  street: address.address_lines?.join(', ') || null,
                  locality: address.locality ?? null,
                  region: address.region ?? null,
                  postalCode: address.postal_code ?? null,
                  country: address.country ?? null,
                }
              : null,
          });
        }
      });
      return hal(reply).send(await osdiPerson(record.id));
    },
  );
}
