import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { requireRole, userOf } from '../../auth/index.ts';
import type { AppContext } from '../../context.ts';
import { AppError, isAppError } from '../../errors.ts';
import { addAdminNavItem } from '../../web/layout.ts';
import type { MailService } from '../service.ts';
import { parseAudience, type AudienceDefinition } from '../audience/definition.ts';
import {
  formValuesOf,
  mailingDetailPage,
  mailingFormPage,
  mailingListPage,
  outboxMessagePage,
  outboxPage,
  previewPage,
  type MailingFormValues,
} from './pages-admin.ts';
import type { MailingInput, MailingsService } from './service.ts';

const script = readFileSync(new URL('./audience.js', import.meta.url));

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Field = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const Many = Type.Optional(
  Type.Union([
    Type.String({ maxLength: 200 }),
    Type.Array(Type.String({ maxLength: 200 }), { maxItems: 200 }),
  ]),
);
const AudienceFields = {
  aud_lists: Many,
  aud_tags: Field(4000),
  aud_exclude_tags: Field(4000),
  aud_postal: Field(4000),
  aud_districts: Field(4000),
  aud_languages: Field(500),
  aud_signed: Many,
  aud_not_signed: Many,
  aud_opened: Many,
  aud_clicked: Many,
  aud_groups: Many,
};
const AudienceQuery = Type.Object(AudienceFields);
const MailingForm = Type.Object({
  _csrf: Field(200),
  name: Field(200),
  from_name: Type.String({ maxLength: 200 }),
  from_address: Type.String({ maxLength: 320 }),
  reply_to: Field(320),
  subject: Type.String({ maxLength: 500 }),
  subject_b: Field(500),
  ab_test_percent: Field(5),
  preheader: Field(500),
  format: Field(10),
  layout: Field(10),
  body: Type.String({ maxLength: 500_000 }),
  petition_id: Field(64),
  tracking: Field(5),
  rate: Field(8),
  ...AudienceFields,
});
type MailingFormBody = Static<typeof MailingForm>;
const CsrfBody = Type.Object({ _csrf: Field(200) });
const ScheduleBody = Type.Object({ _csrf: Field(200), when: Field(10), at: Field(40) });
const TestBody = Type.Object({ _csrf: Field(200), to: Type.String({ maxLength: 320 }), as: Field(320) });
const WinnerBody = Type.Object({
  _csrf: Field(200),
  variant: Type.Union([Type.Literal('A'), Type.Literal('B')]),
});
const DetailQuery = Type.Object({ notice: Field(40) });
const PreviewQuery = Type.Object({
  as: Field(320),
  variant: Type.Optional(Type.Union([Type.Literal('A'), Type.Literal('B')])),
});
const FrameQuery = Type.Object({
  p: Field(64),
  v: Type.Union([Type.Literal('A'), Type.Literal('B')]),
  e: Type.String({ maxLength: 20 }),
  t: Type.String({ maxLength: 64 }),
});
const CountResponse = Type.Object({ count: Type.Integer() });

const list = (value: string | string[] | undefined): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).map((v) => v.trim()).filter(Boolean);
const commaList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

function audienceOf(body: Partial<Static<typeof AudienceQuery>>): AudienceDefinition {
  return parseAudience({
    lists: list(body.aud_lists),
    tags: commaList(body.aud_tags),
    excludeTags: commaList(body.aud_exclude_tags),
    postalCodes: commaList(body.aud_postal),
    districts: commaList(body.aud_districts),
    languages: commaList(body.aud_languages),
    signed: list(body.aud_signed),
    notSigned: list(body.aud_not_signed),
    opened: list(body.aud_opened),
    clicked: list(body.aud_clicked),
    groups: list(body.aud_groups),
  });
}

function formValues(body: MailingFormBody): MailingFormValues {
  return {
    name: body.name ?? '',
    from_name: body.from_name,
    from_address: body.from_address,
    reply_to: body.reply_to ?? '',
    subject: body.subject,
    subject_b: body.subject_b ?? '',
    ab_test_percent: body.ab_test_percent ?? '100',
    preheader: body.preheader ?? '',
    format: body.format === 'html' ? 'html' : 'markdown',
    layout: body.layout === 'plain' ? 'plain' : 'default',
    body: body.body,
    petition_id: body.petition_id ?? '',
    tracking: body.tracking === 'yes',
    rate: body.rate ?? '0',
    audience: audienceOf(body),
  };
}

function inputOf(v: MailingFormValues): MailingInput {
  const percent = Number(v.ab_test_percent || '100');
  const rate = Number(v.rate || '0');
  if (!Number.isInteger(percent)) throw new AppError('invalid', 'The A/B test share must be a whole number.');
  if (!Number.isInteger(rate)) throw new AppError('invalid', 'The rate must be a whole number.');
  return {
    name: v.name || v.subject,
    fromName: v.from_name,
    fromAddress: v.from_address,
    replyTo: v.reply_to || null,
    subject: v.subject,
    subjectB: v.subject_b || null,
    abTestPercent: percent,
    preheader: v.preheader || null,
    body: v.body,
    format: v.format === 'html' ? 'html' : 'markdown',
    layout: v.layout === 'plain' ? 'plain' : 'default',
    audience: v.audience,
    petitionId: v.petition_id || null,
    tracking: v.tracking,
    rate,
  };
}

const notices: Record<string, string> = {
  created: 'Draft saved.',
  saved: 'Saved.',
  started: 'Sending started.',
  scheduled: 'Scheduled.',
  cancelled: 'Mailing cancelled.',
  paused: 'Paused: nothing more goes out until you resume.',
  resumed: 'Resumed.',
  tested: 'Test message sent.',
  winner: 'The winning subject is going out to the rest of the audience.',
};

function fromDefaults(mailFrom: string): { fromName: string; fromAddress: string } {
  const match = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(mailFrom);
  return match
    ? { fromName: match[1]!.trim(), fromAddress: match[2]!.trim() }
    : { fromName: '', fromAddress: mailFrom.trim() };
}

/** Writes who looked at people's data (the audit log). */
export type MailAudit = (entry: {
  userId: string;
  action: string;
  subjectType: string;
  subjectId?: string;
  details?: Record<string, unknown>;
  ip?: string;
}) => Promise<void>;

/**
 * Admin pages for mailings (organiser and up edit; viewers read reports) and the local outbox.
 * Every page passes the signed-in user to the service, which limits a group leader to the
 * mailings and members of their groups.
 */
export async function mailingsAdminPlugin(
  app: FastifyInstance,
  options: { ctx: AppContext; mailings: MailingsService; mail: MailService; audit?: MailAudit },
): Promise<void> {
  const { ctx, mailings, mail } = options;
  const audit: MailAudit = options.audit ?? (async () => {});
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const view = requireRole('viewer');
  const edit = requireRole('organiser');
  const defaults = fromDefaults(ctx.config.mailFrom);
  addAdminNavItem({ href: '/admin/mailings', label: 'Mailings', section: 'mailings' });
  addAdminNavItem({
    href: '/admin/outbox',
    label: 'Outbox',
    section: 'outbox',
    roles: ['owner', 'admin', 'organiser'],
  });

  function adminView(request: FastifyRequest) {
    const user = userOf(request);
    return {
      user,
      csrfToken: user.csrfToken,
      orgName: ctx.config.orgName,
      canEdit: ['owner', 'admin', 'organiser'].includes(user.role),
    };
  }
  const sendHtml = (reply: FastifyReply, markup: { value: string }, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').send(markup.value);
  const safeCount = async (request: FastifyRequest, audience: AudienceDefinition | string) => {
    try {
      return await mailings.countAudience(audience, userOf(request));
    } catch (error) {
      if (isAppError(error)) return null;
      throw error;
    }
  };

  r.get('/admin/mailings/audience.js', { preHandler: edit }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(script),
  );

  r.get('/admin/mailings', { preHandler: view }, async (request, reply) =>
    sendHtml(reply, mailingListPage(adminView(request), await mailings.listMailings(userOf(request)))),
  );

  r.get(
    '/admin/mailings/audience-count',
    { preHandler: edit, schema: { querystring: AudienceQuery, response: { 200: CountResponse } } },
    async (request) => ({
      count: await mailings.countAudience(audienceOf(request.query), userOf(request)),
    }),
  );

  r.get('/admin/mailings/new', { preHandler: edit }, async (request, reply) => {
    const values = formValuesOf(null, defaults);
    return sendHtml(
      reply,
      mailingFormPage(adminView(request), {
        mailing: null,
        values,
        choices: await mailings.audienceChoices(userOf(request)),
        count: await safeCount(request, values.audience),
      }),
    );
  });

  r.post('/admin/mailings', { preHandler: edit, schema: { body: MailingForm } }, async (request, reply) => {
    const values = formValues(request.body);
    try {
      const user = userOf(request);
      const id = await mailings.createMailing(inputOf(values), user.id, user);
      return reply.redirect(`/admin/mailings/${id}?notice=created`, 303);
    } catch (error) {
      if (!isAppError(error) || (error.code !== 'invalid' && error.code !== 'forbidden')) throw error;
      return sendHtml(
        reply,
        mailingFormPage(adminView(request), {
          mailing: null,
          values,
          choices: await mailings.audienceChoices(userOf(request)),
          count: await safeCount(request, values.audience),
          error: error.message,
        }),
        error.status,
      );
    }
  });

  r.get(
    '/admin/mailings/:id',
    { preHandler: view, schema: { params: IdParams, querystring: DetailQuery } },
    async (request, reply) => {
      const mailing = await mailings.getMailing(request.params.id, userOf(request));
      const report = await mailings.mailingReport(mailing.id);
      await audit({
        userId: userOf(request).id,
        action: 'mailing.report.view',
        subjectType: 'mailing',
        subjectId: mailing.id,
        details: { recipients: report.recipients },
        ip: request.ip,
      });
      const editable = report.mailing.status === 'draft' || report.mailing.status === 'scheduled';
      return sendHtml(
        reply,
        mailingDetailPage(adminView(request), {
          report,
          count: editable ? await safeCount(request, report.mailing.audience) : null,
          choices: await mailings.audienceChoices(userOf(request)),
          notice: request.query.notice ? notices[request.query.notice] : undefined,
          previewToken: '',
        }),
      );
    },
  );

  r.get(
    '/admin/mailings/:id/edit',
    { preHandler: edit, schema: { params: IdParams } },
    async (request, reply) => {
      const mailing = await mailings.getMailing(request.params.id, userOf(request));
      const values = formValuesOf(mailing, defaults);
      return sendHtml(
        reply,
        mailingFormPage(adminView(request), {
          mailing,
          values,
          choices: await mailings.audienceChoices(userOf(request)),
          count: await safeCount(request, values.audience),
        }),
      );
    },
  );

  r.post(
    '/admin/mailings/:id/edit',
    { preHandler: edit, schema: { params: IdParams, body: MailingForm } },
    async (request, reply) => {
      const mailing = await mailings.getMailing(request.params.id, userOf(request));
      const values = formValues(request.body);
      try {
        await mailings.updateDraft(mailing.id, inputOf(values), userOf(request));
        return reply.redirect(`/admin/mailings/${mailing.id}?notice=saved`, 303);
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'forbidden'].includes(error.code)) throw error;
        return sendHtml(
          reply,
          mailingFormPage(adminView(request), {
            mailing,
            values,
            choices: await mailings.audienceChoices(userOf(request)),
            count: await safeCount(request, values.audience),
            error: error.message,
          }),
          error.status,
        );
      }
    },
  );

  r.post(
    '/admin/mailings/:id/schedule',
    { preHandler: edit, schema: { params: IdParams, body: ScheduleBody } },
    async (request, reply) => {
      const { id } = await mailings.getMailing(request.params.id, userOf(request));
      if (request.body.when === 'now' || !request.body.at) {
        await mailings.scheduleMailing(id, null);
        return reply.redirect(`/admin/mailings/${id}?notice=started`, 303);
      }
      // datetime-local carries no zone: the form says UTC.
      const at = new Date(`${request.body.at}${request.body.at.length <= 16 ? ':00' : ''}Z`);
      if (Number.isNaN(at.getTime())) throw new AppError('invalid', 'The date and time are not valid.');
      await mailings.scheduleMailing(id, at);
      return reply.redirect(
        `/admin/mailings/${id}?notice=${at.getTime() > Date.now() ? 'scheduled' : 'started'}`,
        303,
      );
    },
  );

  const simple = (path: string, action: (id: string) => Promise<unknown>, notice: string) =>
    r.post(
      `/admin/mailings/:id/${path}`,
      { preHandler: edit, schema: { params: IdParams, body: CsrfBody } },
      async (request, reply) => {
        await action((await mailings.getMailing(request.params.id, userOf(request))).id);
        return reply.redirect(`/admin/mailings/${request.params.id}?notice=${notice}`, 303);
      },
    );
  simple('cancel', mailings.cancelMailing, 'cancelled');
  simple('pause', mailings.pauseMailing, 'paused');
  simple('resume', mailings.resumeMailing, 'resumed');

  r.post(
    '/admin/mailings/:id/winner',
    { preHandler: edit, schema: { params: IdParams, body: WinnerBody } },
    async (request, reply) => {
      const mailing = await mailings.getMailing(request.params.id, userOf(request));
      await mailings.sendWinnerToRest(mailing.id, request.body.variant);
      return reply.redirect(`/admin/mailings/${request.params.id}?notice=winner`, 303);
    },
  );

  r.post(
    '/admin/mailings/:id/test',
    { preHandler: edit, schema: { params: IdParams, body: TestBody } },
    async (request, reply) => {
      const user = userOf(request);
      const mailing = await mailings.getMailing(request.params.id, user);
      const personId = request.body.as?.trim() ? await mailings.personIdByEmail(request.body.as, user) : null;
      if (personId) {
        // The test message carries that person's name and address: a view of their data.
        await audit({
          userId: user.id,
          action: 'mailing.test_as',
          subjectType: 'person',
          subjectId: personId,
          details: { mailingId: mailing.id },
          ip: request.ip,
        });
      }
      await mailings.sendTestMessage(mailing.id, request.body.to, personId);
      return reply.redirect(`/admin/mailings/${request.params.id}?notice=tested`, 303);
    },
  );

  r.get(
    '/admin/mailings/:id/preview',
    { preHandler: edit, schema: { params: IdParams, querystring: PreviewQuery } },
    async (request, reply) => {
      const user = userOf(request);
      const mailing = await mailings.getMailing(request.params.id, user);
      const as = request.query.as?.trim() || null;
      const personId = as ? await mailings.personIdByEmail(as, user) : null;
      if (personId) {
        await audit({
          userId: user.id,
          action: 'mailing.preview_as',
          subjectType: 'person',
          subjectId: personId,
          details: { mailingId: mailing.id },
          ip: request.ip,
        });
      }
      const variant = request.query.variant ?? 'A';
      const rendered = await mailings.previewMailing(mailing.id, personId, variant);
      const expires = Date.now() + 10 * 60_000;
      const token = mailings.previewToken(mailing.id, personId, variant, expires);
      const frameUrl = `/mail-preview/${mailing.id}?${new URLSearchParams({ p: personId ?? '', v: variant, e: String(expires), t: token }).toString()}`;
      return sendHtml(
        reply,
        previewPage(adminView(request), {
          mailing,
          subject: rendered.subject,
          text: rendered.text,
          frameUrl,
          as,
        }),
      );
    },
  );

  // The framed HTML preview lives outside /admin so it can keep the email's inline styles; a
  // short-lived signed token stands in for the session, and it may only be framed by this site.
  r.get(
    '/mail-preview/:id',
    { schema: { params: IdParams, querystring: FrameQuery } },
    async (request, reply) => {
      const { p, v, e, t } = request.query;
      const expires = Number(e);
      if (
        !Number.isFinite(expires) ||
        expires < Date.now() ||
        !mailings.tokens.verify('preview', t, request.params.id, p ?? '', v, e)
      ) {
        throw new AppError('not_found', 'This preview link has expired.');
      }
      const rendered = await mailings.previewMailing(request.params.id, p || null, v);
      return reply
        .header(
          'content-security-policy',
          "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox",
        )
        .header('x-frame-options', 'SAMEORIGIN')
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(rendered.html);
    },
  );

  r.get('/admin/outbox', { preHandler: edit }, async (request, reply) => {
    const [rows, total] = [await mail.listOutbox({ limit: 100 }), await mail.countOutbox()];
    await audit({
      userId: userOf(request).id,
      action: 'outbox.view',
      subjectType: 'outbox',
      details: { messages: rows.length },
      ip: request.ip,
    });
    return sendHtml(
      reply,
      outboxPage(adminView(request), { rows, total, smtp: Boolean(ctx.config.smtpUrl) }),
    );
  });

  r.get('/admin/outbox/:id', { preHandler: edit, schema: { params: IdParams } }, async (request, reply) => {
    const message = await mail.findOutboxMessage(request.params.id);
    if (!message) throw new AppError('not_found', 'There is no such message in the outbox.');
    await audit({
      userId: userOf(request).id,
      action: 'outbox.message.view',
      subjectType: 'outbox',
      subjectId: message.id,
      ip: request.ip,
    });
    return sendHtml(reply, outboxMessagePage(adminView(request), message));
  });
}
