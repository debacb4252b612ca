import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import type { AppContext } from '../../context.ts';
import { isAppError } from '../../errors.ts';
import { pickLanguage, type Language } from '../i18n.ts';
import { renderMarkdown } from '../markdown.ts';
import {
  confirmErrorPage,
  confirmPage,
  embedPage,
  petitionPage,
  thanksPage,
  type FormValues,
} from '../pages/public.ts';
import type { PetitionService } from '../service.ts';
import { referralCodePattern } from '../tokens.ts';
import type { Petition, SignInput } from '../types.ts';

const script = readFileSync(new URL('../assets/petition.js', import.meta.url));
const styles = readFileSync(new URL('../assets/petitions.css', import.meta.url));

const SlugParams = Type.Object({ slug: Type.String({ maxLength: 100 }) });
const PageQuery = Type.Object({
  lang: Type.Optional(Type.String({ maxLength: 10 })),
  ref: Type.Optional(Type.String({ maxLength: 40 })),
  source: Type.Optional(Type.String({ maxLength: 100 })),
});
const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const SignBody = Type.Object(
  {
    email: Type.String({ maxLength: 320 }),
    given_name: Text(200),
    family_name: Text(200),
    postal_code: Text(40),
    locality: Text(200),
    phone: Text(60),
    comment: Text(4000),
    consent: Type.Optional(Type.Union([Type.String({ maxLength: 10 }), Type.Boolean()])),
    website: Text(500),
    altcha: Text(2000),
    ref: Text(40),
    source: Text(100),
    lang: Text(10),
  },
  // Custom questions arrive as q_<id> fields.
  { additionalProperties: Type.String({ maxLength: 2000 }) },
);
const SignResponse = Type.Object({
  status: Type.Union([Type.Literal('signed'), Type.Literal('already_signed')]),
  confirmationRequired: Type.Boolean(),
  referralCode: Type.Union([Type.String(), Type.Null()]),
  shareUrl: Type.String(),
});
const ErrorResponse = Type.Object({ error: Type.String(), code: Type.String() });
const CountResponse = Type.Object({
  total: Type.Integer(),
  confirmed: Type.Integer(),
  count: Type.Integer(),
  goal: Type.Integer(),
  displayGoal: Type.Integer(),
  byDistrict: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), count: Type.Integer() })),
});
const ThanksQuery = Type.Object({
  status: Type.Optional(
    Type.Union([Type.Literal('signed'), Type.Literal('pending'), Type.Literal('already')]),
  ),
  code: Type.Optional(Type.String({ maxLength: 40 })),
  lang: Type.Optional(Type.String({ maxLength: 10 })),
});
const ConfirmQuery = Type.Object({
  token: Type.String({ maxLength: 300 }),
  lang: Type.Optional(Type.String({ maxLength: 10 })),
});

function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  if (accept.includes('text/html')) return false;
  return accept.includes('json') || (request.headers['content-type'] ?? '').includes('json');
}

function meta(request: FastifyRequest) {
  return { ip: request.ip ?? null, userAgent: request.headers['user-agent'] ?? null };
}

export interface PublicRoutesOptions {
  ctx: AppContext;
  petitions: PetitionService;
}

export async function petitionPublicRoutes(app: FastifyInstance, { ctx, petitions }: PublicRoutesOptions) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const publicUrl = ctx.config.publicUrl;

  function languageFor(petition: Petition, requested: string | undefined, request: FastifyRequest): Language {
    const available = petitions.languagesOf(petition);
    const wanted = requested ?? request.headers['accept-language']?.slice(0, 2);
    const lang = pickLanguage(wanted, pickLanguage(petition.row.language));
    return available.includes(lang) ? lang : pickLanguage(petition.row.language);
  }

  // Built by hand: every signing answer carries one. Slugs, languages and codes need no escaping.
  function shareUrl(petition: Petition, code: string | null, lang: Language): string {
    const base = `${publicUrl}/petitions/${petition.row.slug}`;
    const langPart = lang !== petition.row.language ? `lang=${lang}` : '';
    const refPart = code ? `ref=${code}` : '';
    const q = langPart && refPart ? `${langPart}&${refPart}` : langPart || refPart;
    return q ? `${base}?${q}` : base;
  }

  async function renderPetition(
    petition: Petition,
    lang: Language,
    options: { ref: string | null; source: string | null; error?: string; values?: FormValues },
  ): Promise<string> {
    const texts = petitions.textsFor(petition, lang);
    const [count, comments] = await Promise.all([
      petitions.publicCountOf(petition),
      petitions.listPublicComments(petition),
    ]);
    return petitionPage({
      petition,
      texts,
      bodyHtml: petitions.bodyHtml(petition, texts),
      lang,
      languages: petitions.languagesOf(petition),
      count,
      comments,
      publicUrl,
      ref: options.ref,
      source: options.source,
      altcha: petitions.altchaRequired(petition),
      error: options.error ?? null,
      ...(options.values ? { values: options.values } : {}),
    }).value;
  }

  const cleanRef = (ref: string | undefined) => (ref && referralCodePattern.test(ref) ? ref : null);
  const cleanSource = (source: string | undefined) =>
    source && /^[\w.:/-]{1,100}$/.test(source) ? source : null;

  r.get('/petitions/-/petition.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(script),
  );
  r.get('/petitions/-/petitions.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(styles),
  );
  r.get('/petitions/-/altcha-challenge', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return petitions.createAltchaChallenge();
  });

  r.get(
    '/petitions/:slug',
    { schema: { params: SlugParams, querystring: PageQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      if (petition.row.status === 'draft' && !request.currentUser) {
        return reply.callNotFound();
      }
      const lang = languageFor(petition, request.query.lang, request);
      const page = await renderPetition(petition, lang, {
        ref: cleanRef(request.query.ref),
        source: cleanSource(request.query.source),
      });
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
    },
  );

  r.post(
    '/petitions/:slug/sign',
    {
      schema: {
        params: SlugParams,
        body: SignBody,
        response: { 200: SignResponse, 201: SignResponse, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const answers: Record<string, string> = {};
      for (const key in body) {
        const value = (body as Record<string, unknown>)[key];
        if (key.startsWith('q_') && typeof value === 'string') answers[key.slice(2)] = value;
      }
      const input: SignInput = {
        email: body.email,
        givenName: body.given_name,
        familyName: body.family_name,
        postalCode: body.postal_code,
        locality: body.locality,
        phone: body.phone,
        comment: body.comment,
        consent:
          body.consent === true || body.consent === 'yes' || body.consent === 'on' || body.consent === 'true',
        answers,
        website: body.website,
        altcha: body.altcha,
        ref: body.ref,
        source: body.source,
        language: body.lang,
      };
      const json = wantsJson(request);
      try {
        const result = await petitions.signPetition(request.params.slug, input, meta(request));
        const petition =
          petitions.cachedPetition(result.slug) ?? (await petitions.getPetitionBySlug(result.slug));
        const lang = pickLanguage(body.lang, pickLanguage(petition.row.language));
        if (json) {
          return reply.status(result.status === 'signed' ? 201 : 200).send({
            status: result.status,
            confirmationRequired: result.confirmationRequired,
            referralCode: result.referralCode,
            shareUrl: shareUrl(petition, result.referralCode, lang),
          });
        }
        const status =
          result.status === 'already_signed' ? 'already' : result.confirmationRequired ? 'pending' : 'signed';
        const params = new URLSearchParams({ status });
        if (result.referralCode) params.set('code', result.referralCode);
        if (lang !== petition.row.language) params.set('lang', lang);
        return reply.redirect(`/petitions/${result.slug}/thanks?${params.toString()}`, 303);
      } catch (error) {
        // A person at the form gets the form back with their entries and the reason.
        if (!isAppError(error)) throw error;
        if (error.code === 'rate_limited' && typeof error.details?.retryAfter === 'number') {
          reply.header('retry-after', String(error.details.retryAfter));
        }
        if (json) return reply.status(error.status).send({ error: error.message, code: error.code } as never);
        if (error.code !== 'invalid' && error.code !== 'rate_limited') throw error;
        const petition = await petitions.getPetitionBySlug(request.params.slug);
        const lang = languageFor(petition, body.lang, request);
        const page = await renderPetition(petition, lang, {
          ref: cleanRef(body.ref),
          source: cleanSource(body.source),
          error: error.message,
          values: {
            givenName: body.given_name,
            familyName: body.family_name,
            email: body.email,
            postalCode: body.postal_code,
            locality: body.locality,
            phone: body.phone,
            comment: body.comment,
            consent: input.consent,
            answers,
          },
        });
        return reply
          .status(error.status)
          .type('text/html; charset=utf-8')
          .send(page as never);
      }
    },
  );

  r.get(
    '/petitions/:slug/thanks',
    { schema: { params: SlugParams, querystring: ThanksQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      const lang = languageFor(petition, request.query.lang, request);
      return sendThanks(
        petition,
        lang,
        request.query.status ?? 'signed',
        cleanRef(request.query.code),
        reply,
      );
    },
  );

  // Opening the emailed link shows a button; pressing it (a POST) confirms. Mail scanners that
  // fetch every link in a message therefore confirm nothing on the person's behalf.
  r.get(
    '/petitions/:slug/confirm',
    { schema: { params: SlugParams, querystring: ConfirmQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      const lang = languageFor(petition, request.query.lang, request);
      let link;
      try {
        link = await petitions.checkConfirmationLink(request.params.slug, request.query.token);
      } catch (error) {
        return confirmFailed(error, petition, lang, reply);
      }
      if (link.confirmed) return sendThanks(petition, lang, 'already_confirmed', link.referralCode, reply);
      const texts = petitions.textsFor(petition, lang);
      const page = confirmPage({ petition, texts, token: request.query.token, lang });
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
    },
  );

  r.post(
    '/petitions/:slug/confirm',
    { schema: { params: SlugParams, body: ConfirmQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      const lang = languageFor(petition, request.body.lang, request);
      let result;
      try {
        result = await petitions.confirmSignature(request.params.slug, request.body.token);
      } catch (error) {
        return confirmFailed(error, petition, lang, reply);
      }
      return sendThanks(petition, lang, result.status, result.referralCode, reply);
    },
  );

  function confirmFailed(error: unknown, petition: Petition, lang: Language, reply: FastifyReply) {
    if (!isAppError(error)) throw error;
    return reply
      .status(error.status)
      .type('text/html; charset=utf-8')
      .send(confirmErrorPage(error.message, petition.row.slug, lang).value);
  }

  /** The thank-you page: after signing, after confirming, or on opening a used confirmation link. */
  async function sendThanks(
    petition: Petition,
    lang: Language,
    status: Parameters<typeof thanksPage>[0]['status'],
    referralCode: string | null,
    reply: FastifyReply,
  ) {
    const texts = petitions.textsFor(petition, lang);
    const page = thanksPage({
      petition,
      texts,
      thankYouHtml: texts.thankYouMessage ? renderMarkdown(texts.thankYouMessage) : '',
      lang,
      status,
      shareUrl: shareUrl(petition, referralCode, lang),
      count: await petitions.publicCountOf(petition),
    });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
  }

  r.get(
    '/petitions/:slug/count.json',
    { schema: { params: SlugParams, response: { 200: CountResponse } } },
    async (request, reply) => {
      const count = await petitions.getPublicCount(request.params.slug);
      reply.header('cache-control', 'public, max-age=5');
      reply.header('access-control-allow-origin', '*');
      return count;
    },
  );

  r.get(
    '/petitions/:slug/embed',
    // Other sites may frame this page: src/web/security-headers.ts lists it as embeddable.
    { schema: { params: SlugParams, querystring: PageQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      if (petition.row.status === 'draft') return reply.callNotFound();
      const lang = languageFor(petition, request.query.lang, request);
      const page = embedPage({
        petition,
        texts: petitions.textsFor(petition, lang),
        lang,
        count: await petitions.publicCountOf(petition),
        publicUrl,
        altcha: petitions.altchaRequired(petition),
        ref: cleanRef(request.query.ref),
        source: cleanSource(request.query.source),
      });
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page.value);
    },
  );

  r.get(
    '/petitions/:slug/embed.js',
    { schema: { params: SlugParams, querystring: PageQuery } },
    async (request, reply) => {
      const petition = await petitions.getPetitionBySlug(request.params.slug);
      const lang = languageFor(petition, request.query.lang, request);
      const src = `${publicUrl}/petitions/${petition.row.slug}/embed${lang === petition.row.language ? '' : `?lang=${lang}`}`;
      const title = petitions.textsFor(petition, lang).title;
      const body = `(function(){var s=document.currentScript;var f=document.createElement('iframe');f.src=${JSON.stringify(src)};f.title=${JSON.stringify(title)};f.loading='lazy';f.style.cssText='width:100%;max-width:480px;height:760px;border:0';s.parentNode.insertBefore(f,s);})();\n`;
      return reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(body);
    },
  );
}
