import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../errors.ts';
import { html } from '../../web/html.ts';
import { publicPage } from '../../web/layout.ts';
import { parseWebhookBody } from '../bounces/formats.ts';
import type { MailingsService } from './service.ts';

// A transparent 1×1 GIF.
const pixel = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-zA-Z-]+$' });
const LinkParams = Type.Object({ mailingId: Id, personId: Id, sig: Type.String({ maxLength: 64 }) });
const PixelParams = Type.Object({ mailingId: Id, personId: Id, file: Type.String({ maxLength: 80 }) });
const ClickQuery = Type.Object({ u: Type.String({ minLength: 1, maxLength: 4000 }) });
const WebhookQuery = Type.Object({ secret: Type.Optional(Type.String({ maxLength: 200 })) });
const WebhookResponse = Type.Object({
  received: Type.Integer(),
  matched: Type.Integer(),
  note: Type.Optional(Type.String()),
});

interface PublicTexts {
  savedTitle: string;
  leftList: string;
  unsubscribedTitle: string;
  noMore: (org: string) => string;
  prefsTitle: string;
  forAddress: string;
  subscribed: string;
  notSubscribed: string;
  unsubscribeAll: string;
  yourLists: string;
  leave: (list: string) => string;
}

/** The preference pages in the person's language (English and Spanish). */
const texts: Record<'en' | 'es', PublicTexts> = {
  en: {
    savedTitle: 'Preferences saved',
    leftList: 'You have left that list. You still receive our other email.',
    unsubscribedTitle: 'You are unsubscribed',
    noMore: (org) => `You will not receive any more email from ${org}.`,
    prefsTitle: 'Email preferences',
    forAddress: 'For',
    subscribed: 'You are subscribed to our email.',
    notSubscribed: 'You are not subscribed to our email.',
    unsubscribeAll: 'Unsubscribe from all email',
    yourLists: 'Your lists',
    leave: (list) => `Leave “${list}”`,
  },
  es: {
    savedTitle: 'Preferencias guardadas',
    leftList: 'Has dejado esa lista. Sigues recibiendo nuestros otros correos.',
    unsubscribedTitle: 'Te has dado de baja',
    noMore: (org) => `No recibirás más correos de ${org}.`,
    prefsTitle: 'Preferencias de correo',
    forAddress: 'Para',
    subscribed: 'Estás suscrito a nuestros correos.',
    notSubscribed: 'No estás suscrito a nuestros correos.',
    unsubscribeAll: 'Darme de baja de todos los correos',
    yourLists: 'Tus listas',
    leave: (list) => `Dejar «${list}»`,
  },
};

/** Constant-time comparison of two secrets of any length. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

const languageOf = (language: string): 'en' | 'es' => (language === 'es' ? 'es' : 'en');

function page(
  reply: FastifyReply,
  lang: 'en' | 'es',
  title: string,
  body: ReturnType<typeof html>,
  status = 200,
) {
  return reply
    .status(status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(publicPage({ title, lang, body }).value);
}

/**
 * Public mail endpoints: open pixel, click redirects, one-click unsubscribe (RFC 8058), the
 * preference page and the bounce/complaint webhook. Every link is signed; nothing needs a login.
 */
export async function mailingsPublicPlugin(
  app: FastifyInstance,
  options: { ctx: AppContext; mailings: MailingsService },
): Promise<void> {
  const { mailings, ctx } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Graceful shutdown: a running mailing stops between messages and is queued for the next process.
  app.addHook('onClose', async () => mailings.stopSending());

  // One-click unsubscribe posts either form encoding; the body itself carries nothing we need.
  if (!app.hasContentTypeParser('multipart/form-data')) {
    app.addContentTypeParser(
      'multipart/form-data',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_req, _body, done) => done(null, {}),
    );
  }
  // SNS posts JSON as text/plain: Fastify's own text/plain parser hands it over as a string.

  // Opens and clicks are recorded on GET (what mail clients do); a HEAD (a link checker) records nothing.
  r.get(
    '/m/o/:mailingId/:personId/:file',
    { schema: { params: PixelParams }, config: { sideEffects: true } },
    async (request, reply) => {
      const { mailingId, personId, file } = request.params;
      const signature = file.replace(/\.gif$/, '');
      await mailings.recordOpen(mailingId, personId, signature);
      // Always the pixel: a broken image would tell nothing useful to anyone.
      return reply.header('cache-control', 'no-store, max-age=0').type('image/gif').send(pixel);
    },
  );

  r.get(
    '/m/c/:mailingId/:personId/:sig',
    { schema: { params: LinkParams, querystring: ClickQuery }, config: { sideEffects: true } },
    async (request, reply) => {
      const { mailingId, personId, sig } = request.params;
      const destination = await mailings.recordClick(mailingId, personId, sig, request.query.u);
      // Only URLs signed into this mailing for this person: never an open redirect.
      if (!destination) throw new AppError('not_found', 'This link is not valid.');
      return reply
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .redirect(destination, 302);
    },
  );

  r.post('/m/u/:mailingId/:personId/:sig', { schema: { params: LinkParams } }, async (request, reply) => {
    const { mailingId, personId, sig } = request.params;
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body.action === 'list' && typeof body.listId === 'string') {
      const lang = languageOf((await mailings.leaveList(mailingId, personId, sig, body.listId)).language);
      const t = texts[lang];
      return page(
        reply,
        lang,
        t.savedTitle,
        html`<h1>${t.savedTitle}</h1>
          <p role="status">${t.leftList}</p>`,
      );
    }
    // RFC 8058 one-click (List-Unsubscribe=One-Click) and the preference page's "all" button.
    const { language } = await mailings.unsubscribe(
      mailingId,
      personId,
      sig,
      body.action === 'all' ? 'preferences' : 'one-click',
    );
    const lang = languageOf(language);
    const t = texts[lang];
    return page(
      reply,
      lang,
      t.unsubscribedTitle,
      html`<h1>${t.unsubscribedTitle}</h1>
        <p role="status">${t.noMore(ctx.config.orgName)}</p>`,
    );
  });

  r.get('/m/u/:mailingId/:personId/:sig', { schema: { params: LinkParams } }, async (request, reply) => {
    const { mailingId, personId, sig } = request.params;
    // Shows choices only: mail scanners follow GET links, so a GET never unsubscribes by itself.
    const prefs = await mailings.preferences(mailingId, personId, sig);
    const lang = languageOf(prefs.language);
    const t = texts[lang];
    const action = `/m/u/${mailingId}/${personId}/${sig}`;
    return page(
      reply,
      lang,
      t.prefsTitle,
      html`<h1>${t.prefsTitle}</h1>
        <p>
          ${t.forAddress} <strong>${prefs.email}</strong>.
          ${prefs.status === 'subscribed' ? t.subscribed : t.notSubscribed}
        </p>
        ${
          prefs.status === 'subscribed'
            ? html`<form method="post" action="${action}">
                <input type="hidden" name="action" value="all" />
                <button type="submit">${t.unsubscribeAll}</button>
              </form>`
            : ''
        }
        ${
          prefs.lists.length
            ? html`<h2>${t.yourLists}</h2>
                <ul>
                  ${prefs.lists.map(
                    (list) =>
                      html`<li>
                        <form method="post" action="${action}">
                          <input type="hidden" name="action" value="list" />
                          <input type="hidden" name="listId" value="${list.id}" />
                          <span>${list.name}</span>
                          <button type="submit">${t.leave(list.name)}</button>
                        </form>
                      </li>`,
                  )}
                </ul>`
            : ''
        }`,
    );
  });

  r.post(
    '/webhooks/mail',
    { schema: { querystring: WebhookQuery, response: { 200: WebhookResponse } } },
    async (request, reply) => {
      const secret = ctx.config.bulkMail.webhookSecret;
      const given = request.query.secret ?? request.headers['x-webhook-secret'];
      if (!secret)
        throw new AppError('not_found', 'The mail webhook is not enabled (set MAIL_WEBHOOK_SECRET).');
      if (typeof given !== 'string' || !sameSecret(given, secret)) {
        throw new AppError('unauthorized', 'The webhook secret is missing or wrong.');
      }
      const parsed = parseWebhookBody(request.body);
      if (parsed.kind === 'sns-subscription') {
        request.log.warn(
          { subscribeUrl: parsed.subscribeUrl },
          'SNS subscription: confirm it by opening the SubscribeURL',
        );
        return reply.send({
          received: 0,
          matched: 0,
          note: 'Subscription noted: open its SubscribeURL to confirm.',
        });
      }
      if (parsed.kind === 'unrecognised')
        throw new AppError('invalid', 'The webhook body is not in a known format.');
      let matched = 0;
      for (const report of parsed.reports)
        if ((await mailings.recordDeliveryReport(report)).matched) matched++;
      return reply.send({ received: parsed.reports.length, matched });
    },
  );
}
