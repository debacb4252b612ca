import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { requireRole, userOf } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { html } from '../web/html.ts';
import { adminPage, csrfField } from '../web/layout.ts';
import type { PrivacyService } from './service.ts';

export interface PrivacyPluginOptions {
  ctx: AppContext;
  privacy: PrivacyService;
}

const idParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Admin: download a person's data as JSON, erase a person (admins and owners). */
export async function privacyPlugin(instance: FastifyInstance, options: PrivacyPluginOptions): Promise<void> {
  const { ctx, privacy } = options;
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/admin/people/:id/data.json',
    { preHandler: requireRole('admin'), schema: { params: idParams } },
    async (request, reply) => {
      const data = await privacy.exportPersonData(request.params.id, userOf(request));
      return reply
        .type('application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="person-${request.params.id}.json"`)
        .send(JSON.stringify(data, null, 2));
    },
  );

  app.get(
    '/admin/people/:id/privacy',
    { preHandler: requireRole('admin'), schema: { params: idParams } },
    async (request, reply) => {
      const user = userOf(request);
      const id = request.params.id;
      return reply.type('text/html; charset=utf-8').send(
        adminPage({
          title: 'Data and erasure',
          section: 'people',
          user,
          csrfToken: user.csrfToken,
          orgName: ctx.config.orgName,
          body: html`<p><a href="/admin/people/${id}">← Back to the person</a></p>
            <h1>Personal data</h1>
            <h2>Export</h2>
            <p>
              <a href="/admin/people/${id}/data.json" download
                >Download everything we hold on this person (JSON)</a
              >
            </p>
            <h2>Erase</h2>
            <p>
              Erasing removes their names, addresses, phone numbers, tags, lists, consents and history, and
              replaces their email addresses with placeholders, also in the records of mailings and emails
              sent to them (and in the local outbox) and in the webhook messages about them. Their signatures,
              RSVPs and mail stay counted, without their details. Signatures and API requests received but not
              processed yet are dropped, and their address is erased from the audit log, import results and
              rejection logs (the entries stay). An address on the suppression list (bounced or complained)
              stays there so that it is never mailed again. This cannot be undone.
            </p>
            <form method="post" action="/admin/people/${id}/erase">
              ${csrfField(user.csrfToken)}
              <p>
                <input id="erase-confirm" name="confirm" type="checkbox" value="yes" required />
                <label for="erase-confirm">I understand that this cannot be undone</label>
              </p>
              <p><button type="submit">Erase this person</button></p>
            </form>`,
        }).value,
      );
    },
  );

  app.post(
    '/admin/people/:id/erase',
    {
      preHandler: requireRole('admin'),
      schema: {
        params: idParams,
        body: Type.Object({ _csrf: Type.Optional(Type.String()), confirm: Type.Literal('yes') }),
      },
    },
    async (request, reply) => {
      await privacy.erasePerson(request.params.id, userOf(request));
      return reply.redirect(`/admin/people/${request.params.id}`, 303);
    },
  );
}
