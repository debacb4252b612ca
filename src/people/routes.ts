import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { hasRole, requireRole, userOf } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { addAdminNavItem } from '../web/layout.ts';
import { exportPeopleCsv } from './export.ts';
import { importStatusPage, newImportPage, peopleListPage, personPage, type PageContext } from './pages.ts';
import type { PeopleFilters, PeopleService } from './service.ts';

export interface PeoplePluginOptions {
  ctx: AppContext;
  people: PeopleService;
}

const filterQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200 })),
  tag: Type.Optional(Type.String({ maxLength: 200 })),
  postal_code: Type.Optional(Type.String({ maxLength: 40 })),
});
const listQuery = Type.Composite([
  filterQuery,
  Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })) }),
]);
const idParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

function filtersOf(query: { q?: string; tag?: string; postal_code?: string }): PeopleFilters {
  return {
    q: query.q?.trim() || undefined,
    tag: query.tag?.trim() || undefined,
    postalCode: query.postal_code?.trim() || undefined,
  };
}

/** Admin pages for people: list and search, person detail, CSV export, CSV import with progress. */
export async function peoplePlugin(instance: FastifyInstance, options: PeoplePluginOptions): Promise<void> {
  const { ctx, people } = options;
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const maxUploadMb = Math.floor(ctx.config.maxUploadBytes / (1024 * 1024));
  await app.register(multipart, {
    limits: { fileSize: ctx.config.maxUploadBytes, files: 1, fields: 10, fieldSize: 10_000, parts: 12 },
  });
  addAdminNavItem({ href: '/admin/people', label: 'People', section: 'people' });
  addAdminNavItem({
    href: '/admin/imports/new',
    label: 'Import',
    section: 'import',
    roles: ['owner', 'admin', 'organiser'],
  });

  const pageContext = (request: FastifyRequest): PageContext => {
    const user = userOf(request);
    return {
      user,
      csrfToken: user.csrfToken,
      orgName: ctx.config.orgName,
      timeZone: ctx.config.orgTimeZone,
      canExport: hasRole(user.role, 'organiser'),
    };
  };
  const sendHtml = (reply: FastifyReply, body: { value: string }) =>
    reply.type('text/html; charset=utf-8').send(body.value);

  app.get(
    '/admin/people',
    { preHandler: requireRole('viewer'), schema: { querystring: listQuery } },
    async (request, reply) => {
      const filters = filtersOf(request.query);
      const result = await people.searchPeople({
        ...filters,
        page: request.query.page,
        perPage: 50,
        viewer: userOf(request),
      });
      return sendHtml(reply, peopleListPage(pageContext(request), filters, result));
    },
  );

  app.get(
    '/admin/people/export.csv',
    { preHandler: requireRole('organiser'), schema: { querystring: filterQuery } },
    async (request, reply) => {
      const filters = filtersOf(request.query);
      const stamp = new Date().toISOString().slice(0, 10);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="people-${stamp}.csv"`)
        .send(exportPeopleCsv(people, { ...filters, viewer: userOf(request) }));
    },
  );

  app.get(
    '/admin/people/:id',
    { preHandler: requireRole('viewer'), schema: { params: idParams } },
    async (request, reply) => {
      const person = await people.getPerson(request.params.id, userOf(request));
      return sendHtml(reply, personPage(pageContext(request), person));
    },
  );

  app.get('/admin/imports/new', { preHandler: requireRole('organiser') }, async (request, reply) => {
    const recent = await people.imports.listImports(10);
    return sendHtml(reply, newImportPage(pageContext(request), recent, maxUploadMb));
  });

  app.post('/admin/imports', { preHandler: requireRole('organiser') }, async (request, reply) => {
    const user = userOf(request);
    await mkdir(people.imports.uploadsDir, { recursive: true });
    const fields: Record<string, string> = {};
    let saved: { path: string; filename: string } | null = null;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || saved || !part.filename) {
            part.file.resume();
            continue;
          }
          const path = join(people.imports.uploadsDir, `${newId()}.csv`);
          saved = { path, filename: part.filename };
          await pipeline(part.file, createWriteStream(path));
        } else if (typeof part.value === 'string') {
          fields[part.fieldname] = part.value;
        }
      }
    } catch (error) {
      if (saved) await rm(saved.path, { force: true });
      if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new AppError(
          'too_large',
          `The file is larger than ${maxUploadMb} MB, the largest upload accepted. Split it, or import it with "undersign import" on the server.`,
        );
      }
      throw error;
    }
    if (!saved) {
      const recent = await people.imports.listImports(10);
      reply.status(400);
      return sendHtml(
        reply,
        newImportPage(pageContext(request), recent, maxUploadMb, 'Choose a CSV file to import.'),
      );
    }
    const id = await people.imports.queueImport({
      filename: saved.filename,
      filePath: saved.path,
      userId: user.id,
      tags: (fields.tags ?? '').split(','),
      subscribe: fields.subscribe === 'yes',
      customFields: fields.customFields === 'yes',
    });
    return reply.redirect(`/admin/imports/${id}`, 303);
  });

  app.get(
    '/admin/imports/:id',
    { preHandler: requireRole('organiser'), schema: { params: idParams } },
    async (request, reply) => {
      const status = await people.imports.getImport(request.params.id);
      return sendHtml(reply, importStatusPage(pageContext(request), status));
    },
  );
}
