import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, userOf, type CurrentUser } from '../../auth/index.ts';
import type { AppContext } from '../../context.ts';
import { AppError, isAppError } from '../../errors.ts';
import { deliveryPdf, signaturesCsv } from '../delivery.ts';
import {
  dashboardPage,
  formValuesOf,
  petitionFormPage,
  petitionListPage,
  type PetitionFormValues,
} from '../pages/admin.ts';
import { pickLanguage } from '../i18n.ts';
import { petitionPage } from '../pages/public.ts';
import type { PetitionService } from '../service.ts';
import type { FieldRule, PetitionInput } from '../types.ts';

const IdParams = Type.Object({ id: Type.String({ maxLength: 40 }) });
const Field = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const PetitionForm = Type.Object({
  _csrf: Field(200),
  slug: Type.String({ maxLength: 100 }),
  title: Type.String({ maxLength: 300 }),
  summary: Field(4000),
  body: Field(100_000),
  language: Field(10),
  image_url: Field(2000),
  bill_reference: Field(200),
  bill_url: Field(2000),
  goal: Field(12),
  end_date: Field(20),
  group_id: Field(100),
  requires_confirmation: Field(10),
  altcha_enabled: Field(10),
  comment_moderation: Field(20),
  postal_code_rule: Field(10),
  locality_rule: Field(10),
  phone_rule: Field(10),
  questions: Field(10_000),
  targets: Field(20_000),
  thank_you_message: Field(5000),
  autoresponse_subject: Field(300),
  autoresponse_body: Field(20_000),
  tr_title: Field(300),
  tr_summary: Field(4000),
  tr_body: Field(100_000),
  tr_thank_you_message: Field(5000),
});
type PetitionFormBody = Static<typeof PetitionForm>;
const CommentParams = Type.Object({
  id: Type.String({ maxLength: 40 }),
  signatureId: Type.String({ maxLength: 40 }),
});
const CommentBody = Type.Object({
  _csrf: Field(200),
  action: Type.Union([Type.Literal('approve'), Type.Literal('hide')]),
});
const PreviewQuery = Type.Object({ lang: Field(10) });
const DashboardQuery = Type.Object({
  notice: Field(200),
  imported: Type.Optional(Type.Integer({ minimum: 0 })),
  skipped: Type.Optional(Type.Integer({ minimum: 0 })),
});

const rule = (value: string | undefined, fallback: FieldRule): FieldRule =>
  value === 'required' || value === 'optional' || value === 'hidden' ? value : fallback;

function formValues(body: PetitionFormBody): PetitionFormValues {
  return {
    slug: body.slug,
    title: body.title,
    summary: body.summary ?? '',
    body: body.body ?? '',
    language: body.language === 'es' ? 'es' : 'en',
    image_url: body.image_url ?? '',
    bill_reference: body.bill_reference ?? '',
    bill_url: body.bill_url ?? '',
    goal: body.goal ?? '',
    end_date: body.end_date ?? '',
    group_id: body.group_id ?? '',
    requires_confirmation: body.requires_confirmation === 'yes',
    altcha_enabled: body.altcha_enabled === 'yes',
    comment_moderation: body.comment_moderation === 'immediate' ? 'immediate' : 'moderated',
    postal_code_rule: rule(body.postal_code_rule, 'required'),
    locality_rule: rule(body.locality_rule, 'optional'),
    phone_rule: rule(body.phone_rule, 'optional'),
    questions: body.questions ?? '',
    targets: body.targets ?? '',
    thank_you_message: body.thank_you_message ?? '',
    autoresponse_subject: body.autoresponse_subject ?? '',
    autoresponse_body: body.autoresponse_body ?? '',
    tr_title: body.tr_title ?? '',
    tr_summary: body.tr_summary ?? '',
    tr_body: body.tr_body ?? '',
    tr_thank_you_message: body.tr_thank_you_message ?? '',
  };
}

/** The organiser's form → the service's input (targets and questions are one per line). */
export function petitionInputOf(v: PetitionFormValues): PetitionInput {
  const goal = Number(v.goal);
  if (!Number.isInteger(goal)) throw new AppError('invalid', 'The goal must be a whole number.');
  const other = v.language === 'es' ? 'en' : 'es';
  return {
    slug: v.slug,
    title: v.title,
    summary: v.summary,
    body: v.body,
    language: v.language,
    imageUrl: v.image_url,
    billReference: v.bill_reference,
    billUrl: v.bill_url,
    goal,
    endDate: v.end_date,
    groupId: v.group_id,
    requiresConfirmation: v.requires_confirmation,
    altchaEnabled: v.altcha_enabled,
    commentModeration: v.comment_moderation === 'immediate' ? 'immediate' : 'moderated',
    formSettings: {
      postalCode: v.postal_code_rule,
      locality: v.locality_rule,
      phone: v.phone_rule,
      questions: v.questions
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter(Boolean)
        .map((line, i) => ({
          id: `q${i + 1}`,
          label: line.replace(/\s*\*$/, ''),
          required: line.endsWith('*'),
        })),
    },
    thankYouMessage: v.thank_you_message,
    autoresponseSubject: v.autoresponse_subject,
    autoresponseBody: v.autoresponse_body,
    targets: v.targets
      .split(/\r?\n/)
      .map((line) => line.split('|').map((part) => part.trim()))
      .filter((parts) => parts[0])
      .map(([name, title, district, email]) => ({
        name: name!,
        title: title || null,
        district: district || null,
        email: email || null,
      })),
    translations: v.tr_title.trim()
      ? [
          {
            language: other,
            title: v.tr_title,
            summary: v.tr_summary,
            body: v.tr_body,
            thankYouMessage: v.tr_thank_you_message,
          },
        ]
      : [],
  };
}

/**
 * What the admin pages need from groups and the audit log (the groups capability implements it).
 * A group leader manages only the petitions their groups own; whoever signs such a petition is
 * counted a member of the group, so its signer pages are theirs to see.
 */
export interface PetitionAdminAccess {
  /** Group ids whose petitions the user may manage, or null for every petition. */
  petitionScope(user: CurrentUser): Promise<string[] | null>;
  /** Groups the user may choose as a petition's owner, indented as a tree. */
  groupChoices(user: CurrentUser): Promise<Array<{ id: string; name: string }>>;
  /** Writes that the user saw signers' personal data. */
  recordView(
    user: CurrentUser,
    action: string,
    petitionId: string,
    details?: Record<string, unknown>,
  ): Promise<void>;
}

export interface AdminRoutesOptions {
  ctx: AppContext;
  petitions: PetitionService;
  access?: PetitionAdminAccess | null;
}

export async function petitionAdminRoutes(
  app: FastifyInstance,
  { ctx, petitions, access }: AdminRoutesOptions,
) {
  if (!app.hasContentTypeParser('multipart/form-data')) {
    await app.register(multipart, { limits: { fileSize: ctx.config.maxUploadBytes, files: 1, fields: 5 } });
  }
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const view = requireRole('viewer');
  const edit = requireRole('organiser');
  const orgName = ctx.config.orgName;

  function adminCtx(request: FastifyRequest) {
    const user = userOf(request);
    return {
      user,
      csrfToken: user.csrfToken,
      orgName,
      canEdit: ['owner', 'admin', 'organiser'].includes(user.role),
    };
  }
  const sendHtml = (reply: FastifyReply, markup: { value: string }, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').send(markup.value);

  const scopeOf = (request: FastifyRequest) =>
    access ? access.petitionScope(userOf(request)) : Promise.resolve(null);

  /** The petition, when the user may manage it (a leader: only their groups' petitions). */
  async function petitionFor(request: FastifyRequest, id: string) {
    const petition = await petitions.getPetition(id);
    const scope = await scopeOf(request);
    if (scope && !(petition.row.group_id && scope.includes(petition.row.group_id)))
      throw new AppError('not_found', 'There is no such petition.');
    return petition;
  }

  /** A leader's petition must belong to one of their groups (the first one when none is chosen). */
  async function groupAllowed(
    request: FastifyRequest,
    values: PetitionFormValues,
  ): Promise<PetitionFormValues> {
    const scope = await scopeOf(request);
    if (!scope) return values;
    const chosen = values.group_id.trim();
    if (!chosen && scope[0]) return { ...values, group_id: scope[0] };
    if (!scope.includes(chosen))
      throw new AppError('forbidden', 'You can only create petitions for the groups you lead.');
    return values;
  }

  /** The owner choices of the form: every group, or a leader's groups (one of them required). */
  async function groupsFor(request: FastifyRequest) {
    if (!access) return null;
    const user = userOf(request);
    return {
      choices: await access.groupChoices(user),
      allowNone: (await access.petitionScope(user)) === null,
    };
  }

  const recordView = async (
    request: FastifyRequest,
    action: string,
    petitionId: string,
    details?: Record<string, unknown>,
  ) => {
    if (access) await access.recordView(userOf(request), action, petitionId, details);
  };

  r.get('/admin/petitions', { preHandler: view }, async (request, reply) => {
    const scope = await scopeOf(request);
    const rows = (await petitions.listPetitions()).filter(
      (p) => !scope || (p.group_id !== null && scope.includes(p.group_id)),
    );
    const withCounts = await Promise.all(
      rows.map(async (petition) => ({
        petition,
        count: await petitions.publicCountOf(await petitions.getPetition(petition.id)),
      })),
    );
    return sendHtml(reply, petitionListPage(adminCtx(request), withCounts));
  });

  r.get('/admin/petitions/new', { preHandler: edit }, async (request, reply) =>
    sendHtml(
      reply,
      petitionFormPage(adminCtx(request), {
        petition: null,
        values: formValuesOf(null),
        groups: await groupsFor(request),
      }),
    ),
  );

  r.post('/admin/petitions', { preHandler: edit, schema: { body: PetitionForm } }, async (request, reply) => {
    let values = formValues(request.body);
    try {
      values = await groupAllowed(request, values);
      const petition = await petitions.createPetition(petitionInputOf(values));
      return reply.redirect(`/admin/petitions/${petition.row.id}?notice=created`, 303);
    } catch (error) {
      if (!isAppError(error) || !['invalid', 'conflict', 'forbidden'].includes(error.code)) throw error;
      return sendHtml(
        reply,
        petitionFormPage(adminCtx(request), {
          petition: null,
          values,
          error: error.message,
          groups: await groupsFor(request),
        }),
        error.status,
      );
    }
  });

  r.get(
    '/admin/petitions/:id/edit',
    { preHandler: edit, schema: { params: IdParams } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      return sendHtml(
        reply,
        petitionFormPage(adminCtx(request), {
          petition,
          values: formValuesOf(petition),
          groups: await groupsFor(request),
        }),
      );
    },
  );

  r.post(
    '/admin/petitions/:id/edit',
    { preHandler: edit, schema: { params: IdParams, body: PetitionForm } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      let values = formValues(request.body);
      try {
        values = await groupAllowed(request, values);
        await petitions.updatePetition(petition.row.id, petitionInputOf(values));
        return reply.redirect(`/admin/petitions/${petition.row.id}?notice=saved`, 303);
      } catch (error) {
        if (!isAppError(error) || !['invalid', 'conflict', 'forbidden'].includes(error.code)) throw error;
        return sendHtml(
          reply,
          petitionFormPage(adminCtx(request), {
            petition,
            values,
            error: error.message,
            groups: await groupsFor(request),
          }),
          error.status,
        );
      }
    },
  );

  const notices: Record<string, string> = {
    created: 'Petition created as a draft. Publish it when ready.',
    saved: 'Saved.',
    published: 'Published: the petition accepts signatures.',
    closed: 'Closed: the petition no longer accepts signatures.',
    moderated: 'Comment updated.',
  };

  r.get(
    '/admin/petitions/:id',
    { preHandler: view, schema: { params: IdParams, querystring: DashboardQuery } },
    async (request, reply) => {
      const dashboard = await petitions.getDashboard((await petitionFor(request, request.params.id)).row.id);
      // The dashboard names signers (comments, referrers): a view of personal data.
      await recordView(request, 'petition.signers.view', dashboard.petition.row.id, {
        comments: dashboard.comments.length,
        referrers: dashboard.byReferrer.length,
      });
      const today = new Date();
      const days: Array<{ day: string; total: number }> = [];
      const byDay = new Map(dashboard.perDay.map((d) => [d.day, d.total]));
      for (let i = 29; i >= 0; i--) {
        const day = new Date(today.getTime() - i * 86_400_000).toISOString().slice(0, 10);
        days.push({ day, total: byDay.get(day) ?? 0 });
      }
      const { notice, imported, skipped } = request.query;
      const noticeText =
        notice === 'districts'
          ? `District map uploaded: ${imported ?? 0} postal codes${skipped ? `, ${skipped} lines skipped (no postal code or district)` : ''}.`
          : notice
            ? (notices[notice] ?? null)
            : null;
      return sendHtml(
        reply,
        dashboardPage(adminCtx(request), {
          ...dashboard,
          perDay: days,
          count: await petitions.publicCountOf(dashboard.petition),
          publicUrl: ctx.config.publicUrl,
          notice: noticeText,
        }),
      );
    },
  );

  // Drafts are not public: organisers look at them here before publishing.
  r.get(
    '/admin/petitions/:id/preview',
    { preHandler: view, schema: { params: IdParams, querystring: PreviewQuery } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      const lang = pickLanguage(request.query.lang, pickLanguage(petition.row.language));
      const texts = petitions.textsFor(petition, lang);
      const page = petitionPage({
        petition,
        texts,
        bodyHtml: petitions.bodyHtml(petition, texts),
        lang,
        languages: petitions.languagesOf(petition),
        count: await petitions.publicCountOf(petition),
        comments: await petitions.listPublicComments(petition),
        publicUrl: ctx.config.publicUrl,
        ref: null,
        source: null,
        altcha: false,
      });
      return sendHtml(reply, page);
    },
  );

  r.post(
    '/admin/petitions/:id/publish',
    { preHandler: edit, schema: { params: IdParams } },
    async (request, reply) => {
      await petitions.publishPetition((await petitionFor(request, request.params.id)).row.id);
      return reply.redirect(`/admin/petitions/${request.params.id}?notice=published`, 303);
    },
  );

  r.post(
    '/admin/petitions/:id/close',
    { preHandler: edit, schema: { params: IdParams } },
    async (request, reply) => {
      await petitions.closePetition((await petitionFor(request, request.params.id)).row.id);
      return reply.redirect(`/admin/petitions/${request.params.id}?notice=closed`, 303);
    },
  );

  r.post(
    '/admin/petitions/:id/comments/:signatureId',
    { preHandler: edit, schema: { params: CommentParams, body: CommentBody } },
    async (request, reply) => {
      await petitions.moderateComment(
        (await petitionFor(request, request.params.id)).row.id,
        request.params.signatureId,
        request.body.action === 'approve' ? 'approved' : 'hidden',
      );
      return reply.redirect(`/admin/petitions/${request.params.id}?notice=moderated`, 303);
    },
  );

  r.post(
    '/admin/petitions/:id/districts',
    { preHandler: edit, schema: { params: IdParams } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      if (!request.isMultipart()) throw new AppError('invalid', 'Please choose a CSV file to upload.');
      const file = await request.file();
      if (!file) throw new AppError('invalid', 'Please choose a CSV file to upload.');
      const text = (await file.toBuffer()).toString('utf8');
      const result = await petitions.importDistricts(petition.row.id, text);
      request.log.info({ petitionId: petition.row.id, imported: result.imported }, 'district map uploaded');
      return reply.redirect(
        `/admin/petitions/${petition.row.id}?notice=districts&imported=${result.imported}&skipped=${result.errors.length}`,
        303,
      );
    },
  );

  r.get(
    '/admin/petitions/:id/signatures.csv',
    { preHandler: view, schema: { params: IdParams } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      await recordView(request, 'petition.signatures.export', petition.row.id);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${petition.row.slug}-signatures.csv"`)
        .send(signaturesCsv(petitions, petition));
    },
  );

  r.get(
    '/admin/petitions/:id/delivery.pdf',
    { preHandler: view, schema: { params: IdParams } },
    async (request, reply) => {
      const petition = await petitionFor(request, request.params.id);
      await recordView(request, 'petition.delivery.export', petition.row.id);
      let aborted = false;
      request.raw.once('close', () => {
        if (!reply.raw.writableFinished) aborted = true;
      });
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="${petition.row.slug}-delivery.pdf"`)
        .send(deliveryPdf(petitions, petition, () => aborted, ctx.config.pdfFont));
    },
  );
}
