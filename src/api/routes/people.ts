import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

const items = (description: string) => Type.Array(Type.Unknown(), { description });
/** The admin's JSON export (/admin/people/{id}/data.json), key for key: the privacy service makes both. */
const PersonDataExport = Type.Object(
  {
    exportedAt: Type.String({ format: 'date-time', description: 'When this document was made (UTC).' }),
    person: Type.Unknown({
      description:
        'Their record: id, names, language, source, created and updated times, email addresses (with status), ' +
        'postal addresses, phone numbers, tags, lists, consents, custom fields and activity (newest 500).',
    }),
    signatures: items(
      'Petitions signed: petition, time, name and postal code given, comment, source, confirmation.',
    ),
    pendingSignatures: items('Signings received but not processed yet, as they were typed.'),
    rsvps: items('Event RSVPs.'),
    groups: items('Groups they belong to.'),
    emailsSent: items(
      'Transactional emails sent to them: kind, to, subject, status, created and sent times.',
    ),
    pendingApiRequests: items('Background API requests naming one of their addresses, not processed yet.'),
    webhookDeliveries: items(
      "Webhook messages about them: event, status, times, the receiver's origin (never its path) and the payload.",
    ),
  },
  { description: 'Everything held on one person.' },
);
const Notice = Type.Object({ notice: Type.String() });

/** The key a request was authenticated with (every route here has one; the plugin refuses others). */
function keyOf(request: FastifyRequest) {
  if (!request.apiKey) throw new AppError('unauthorized', 'Send your API key in the OSDI-API-Token header.');
  return request.apiKey;
}

export async function peopleApiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { api, people, privacy, urls, ctx } = options;
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

  // A read key is enough: an export only reads, and a read key already reads every person's record,
  // signatures and RSVPs through the collections; each export is audited with the key. Keys limited
  // to a group are refused (the plugin, and the privacy service again): the export reaches beyond it.
  r.get(
    '/people/:id/export',
    {
      schema: {
        summary: "Export a person's data",
        description:
          "The JSON document an admin downloads from the person's privacy page: everything held on the person " +
          '(plain JSON, not HAL). Audited with the key. Not for keys limited to a group (403).',
        tags: ['people'],
        params: IdParams,
        produces: ['application/json'],
        response: { 200: PersonDataExport, ...errors },
      },
    },
    async (request, reply) => {
      const data = await privacy.exportPersonData(request.params.id, { apiKey: keyOf(request) });
      return reply.type('application/json; charset=utf-8').send(data);
    },
  );

  r.delete(
    '/people/:id',
    {
      schema: {
        summary: 'Erase a person',
        description:
          'Anonymises the person as an admin erasure does: names, addresses, phones, tags, lists, consents and ' +
          'history are removed and email addresses replaced by placeholders, also in mail, RSVP and webhook ' +
          'records; the person, signatures and RSVPs stay (without their details) so every count stays right. ' +
          'Signings and background requests not processed yet are dropped. Needs a write key (not one limited ' +
          'to a group); audited with the key. The anonymised person stays (GET still answers, without data), so ' +
          'erasing again answers 200 again (and is audited again); an id that never existed answers 404.',
        tags: ['people'],
        params: IdParams,
        response: { 200: Notice, ...errors },
      },
    },
    async (request, reply) => {
      await privacy.erasePerson(request.params.id, { apiKey: keyOf(request) });
      return hal(reply).send({ notice: "The person's personal data was erased." });
    },
  );
}
