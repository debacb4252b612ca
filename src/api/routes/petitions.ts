import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../errors.ts';
import type { Petition } from '../../petitions/index.ts';
import {
  collection,
  collectionSchema,
  ErrorBody,
  FilterQuery,
  IdParams,
  PageQuery,
  paging,
  parseDateFilter,
} from '../hal.ts';
import {
  Message,
  messageToOsdi,
  Petition_,
  petitionToOsdi,
  Signature,
  SignatureHelperBody,
  signatureToOsdi,
} from '../osdi.ts';
import { filterOf, hal, trueish, type ApiRouteOptions } from './context.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody };
const Accepted = Type.Object({ status: Type.String(), message: Type.String() });
const BackgroundQuery = Type.Object({
  background_request: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 10 })])),
});
const SignatureParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  signatureId: Type.String({ minLength: 1, maxLength: 100 }),
});

export async function petitionsApiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { api, petitions, mailings, urls, ctx } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const max = ctx.config.apiMaxPerPage;
  const publicUrl = ctx.config.publicUrl;

  async function osdiPetition(petition: Petition) {
    const count = await petitions.publicCountOf(petition);
    return petitionToOsdi(urls, publicUrl, petition, count.total);
  }

  r.get(
    '/petitions',
    {
      schema: {
        summary: 'List petitions',
        tags: ['petitions'],
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:petitions', Petition_), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const rows = (await petitions.listPetitions()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const items = [];
      for (const row of rows.slice(p.offset, p.offset + p.limit)) {
        items.push(await osdiPetition(await petitions.getPetition(row.id)));
      }
      return hal(reply).send(collection(urls, '/petitions', 'osdi:petitions', items, rows.length, p));
    },
  );

  r.get(
    '/petitions/:id',
    {
      schema: {
        summary: 'One petition',
        tags: ['petitions'],
        params: IdParams,
        response: { 200: Petition_, ...errors },
      },
    },
    async (request, reply) =>
      hal(reply).send(await osdiPetition(await petitions.getPetition(request.params.id))),
  );

  r.get(
    '/petitions/:id/signatures',
    {
      schema: {
        summary: "A petition's signatures",
        description:
          "Paged in signing order. Filter: modified_date gt|lt|eq 'YYYY-MM-DD' (confirmation counts as a change).",
        tags: ['signatures'],
        params: IdParams,
        querystring: FilterQuery,
        response: { 200: collectionSchema('osdi:signatures', Signature), ...errors },
      },
    },
    async (request, reply) => {
      const petition = await petitions.getPetition(request.params.id);
      const filter = filterOf(request.query);
      const range = parseDateFilter(filter);
      const p = paging(request.query, max);
      const { signatures, total } = await petitions.listSignaturesChanged(
        petition.row.id,
        range,
        p.limit,
        p.offset,
      );
      return hal(reply).send(
        collection(
          urls,
          `/petitions/${petition.row.id}/signatures`,
          'osdi:signatures',
          signatures.map((s) => signatureToOsdi(urls, s)),
          total,
          p,
          { filter },
        ),
      );
    },
  );

  r.get(
    '/signatures',
    {
      schema: {
        summary: 'Signatures of every petition',
        tags: ['signatures'],
        querystring: FilterQuery,
        response: { 200: collectionSchema('osdi:signatures', Signature), ...errors },
      },
    },
    async (request, reply) => {
      const filter = filterOf(request.query);
      const range = parseDateFilter(filter);
      const p = paging(request.query, max);
      const { signatures, total } = await petitions.listSignaturesChanged(null, range, p.limit, p.offset);
      return hal(reply).send(
        collection(
          urls,
          '/signatures',
          'osdi:signatures',
          signatures.map((s) => signatureToOsdi(urls, s)),
          total,
          p,
          {
            filter,
          },
        ),
      );
    },
  );

  r.get(
    '/petitions/:id/signatures/:signatureId',
    {
      schema: {
        summary: 'One signature',
        tags: ['signatures'],
        params: SignatureParams,
        response: { 200: Signature, ...errors },
      },
    },
    async (request, reply) => {
      const signature = await petitions.getSignature(request.params.signatureId);
      if (signature.petition_id !== request.params.id)
        throw new AppError('not_found', 'There is no such signature.');
      return hal(reply).send(signatureToOsdi(urls, signature));
    },
  );

  const helperSchema = (summary: string) => ({
    summary,
    description:
      'Signs for the person, created or merged by email (else phone) exactly like the web form; one signature per ' +
      'person and petition, so sending it twice changes nothing. referrer_data (or action_network:referrer_data): ' +
      'source is the tracking code, referrer the referral code of the person who shared. ' +
      'With background_request=true the answer is 202 at once.',
    tags: ['signatures'],
    params: IdParams,
    querystring: BackgroundQuery,
    body: SignatureHelperBody,
    response: { 200: Signature, 202: Accepted, ...errors },
  });

  const recordSignature = async (
    request: {
      params: { id: string };
      body: typeof SignatureHelperBody.static;
      query: typeof BackgroundQuery.static;
    },
    reply: FastifyReply,
  ) => {
    if (trueish(request.query.background_request)) {
      await api.queueSignature(request.params.id, request.body);
      return hal(reply, 202).send({
        status: 'queued',
        message: 'The signature will be recorded in the background.',
      });
    }
    const signatureId = await api.recordSignature(request.params.id, request.body);
    return hal(reply).send(signatureToOsdi(urls, await petitions.getSignature(signatureId)));
  };

  r.post('/petitions/:id/signatures', { schema: helperSchema('Record signature helper') }, recordSignature);
  r.post(
    '/petitions/:id/record_signature_helper',
    { schema: helperSchema('Record signature helper (OSDI path)') },
    recordSignature,
  );

  /* ---------- messages (mailings) ---------- */

  r.get(
    '/messages',
    {
      schema: {
        summary: 'List messages (mailings)',
        tags: ['messages'],
        querystring: PageQuery,
        response: { 200: collectionSchema('osdi:messages', Message), ...errors },
      },
    },
    async (request, reply) => {
      const p = paging(request.query, max);
      const { rows, total } = await mailings.listMailingsPage({ offset: p.offset, limit: p.limit });
      return hal(reply).send(
        collection(
          urls,
          '/messages',
          'osdi:messages',
          rows.map((m) => messageToOsdi(urls, m)),
          total,
          p,
        ),
      );
    },
  );

  r.get(
    '/messages/:id',
    {
      schema: {
        summary: 'One message',
        tags: ['messages'],
        params: IdParams,
        response: { 200: Message, ...errors },
      },
    },
    async (request, reply) =>
      hal(reply).send(messageToOsdi(urls, await mailings.getMailing(request.params.id))),
  );
}
