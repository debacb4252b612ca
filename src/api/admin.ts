import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { requireRole, userOf, type CurrentUser } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { isAppError } from '../errors.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { addAdminNavItem, adminPage, csrfField } from '../web/layout.ts';
import type { ApiKeySummary, ApiService } from './service.ts';
import { webhookEvents } from './webhooks/service.ts';

/* Admin pages: API keys (created, shown once, revoked) and webhooks with their delivery log. */

const adminOnly = { preHandler: requireRole('admin') };

function page(reply: FastifyReply, body: SafeHtml): FastifyReply {
  return reply.type('text/html; charset=utf-8').send(body.value);
}

function keysPage(input: {
  user: CurrentUser;
  orgName: string;
  keys: ApiKeySummary[];
  created?: { name: string; secret: string };
  error?: string;
  notice?: string;
}): SafeHtml {
  const { user } = input;
  return adminPage({
    title: 'API keys',
    section: 'api-keys',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>API keys</h1>
      <p>
        Other tools read and write supporters, petitions and signatures through the
        <a href="/api/v1/docs">OSDI API</a> with a key sent in the <code>OSDI-API-Token</code> header.
      </p>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${input.notice ? html`<p role="status" class="notice">${input.notice}</p>` : ''}
      ${
        input.created
          ? html`<section aria-labelledby="key-made" class="notice">
              <h2 id="key-made">Key "${input.created.name}" created</h2>
              <p>Copy it now: it is stored only as a hash and will not be shown again.</p>
              <p><label for="new-key">Secret key</label></p>
              <input id="new-key" type="text" readonly size="60" value="${input.created.secret}" />
            </section>`
          : ''
      }
      <h2>Keys</h2>
      ${
        input.keys.length === 0
          ? html`<p>No keys yet.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Starts with</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Group</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                ${input.keys.map(
                  (k) =>
                    html`<tr>
                      <td>${k.name}</td>
                      <td><code>${k.prefix}…</code></td>
                      <td>${k.scopes.includes('write') ? 'read and write' : 'read'}</td>
                      <td>${k.groupId ?? 'all'}</td>
                      <td>${k.createdAt.slice(0, 16).replace('T', ' ')}</td>
                      <td>${k.lastUsedAt ? k.lastUsedAt.slice(0, 16).replace('T', ' ') : 'never'}</td>
                      <td>
                        ${
                          k.revokedAt
                            ? html`revoked ${k.revokedAt.slice(0, 10)}`
                            : html`<form method="post" action="/admin/api-keys/${k.id}/revoke">
                                ${csrfField(user.csrfToken)}
                                <button type="submit" aria-label="Revoke key ${k.name}">Revoke</button>
                              </form>`
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <h2>New key</h2>
      <form method="post" action="/admin/api-keys">
        ${csrfField(user.csrfToken)}
        <p>
          <label for="key-name">Name (who uses it)</label><br />
          <input id="key-name" name="name" required maxlength="100" />
        </p>
        <fieldset>
          <legend>Scope</legend>
          <label><input type="radio" name="scope" value="read" checked /> Read only</label>
          <label><input type="radio" name="scope" value="write" /> Read and write</label>
        </fieldset>
        <p>
          <label for="key-group">Limit to group (id, optional)</label><br />
          <input id="key-group" name="group_id" maxlength="100" aria-describedby="key-group-help" />
          <br /><small id="key-group-help"
            >A key limited to a group can only read the people of that group and the groups below it.</small
          >
        </p>
        <button type="submit">Create key</button>
      </form>`,
  });
}

type WebhookList = Awaited<ReturnType<ApiService['webhooks']['listWebhooks']>>;

function webhooksPage(input: {
  user: CurrentUser;
  orgName: string;
  hooks: WebhookList;
  error?: string;
}): SafeHtml {
  const { user } = input;
  return adminPage({
    title: 'Webhooks',
    section: 'webhooks',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Webhooks</h1>
      <p>Undersign posts a signed JSON message to these addresses when the chosen events happen.</p>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${
        input.hooks.length === 0
          ? html`<p>No webhooks yet.</p>`
          : html`<ul>
              ${input.hooks.map(
                (h) =>
                  html`<li>
                    <a href="/admin/webhooks/${h.id}">${h.url}</a> — ${h.eventList.join(', ')}
                    ${h.disabled_at ? ' (disabled)' : ''}
                  </li>`,
              )}
            </ul>`
      }
      <h2>New webhook</h2>
      <form method="post" action="/admin/webhooks">
        ${csrfField(user.csrfToken)}
        <p>
          <label for="hook-url">Address (URL)</label><br />
          <input id="hook-url" name="url" type="url" required size="60" />
        </p>
        <fieldset>
          <legend>Events</legend>
          ${webhookEvents.map(
            (e) => html`<label><input type="checkbox" name="events" value="${e}" /> ${e}</label><br />`,
          )}
        </fieldset>
        <button type="submit">Add webhook</button>
      </form>`,
  });
}

function webhookPage(input: {
  user: CurrentUser;
  orgName: string;
  hook: Awaited<ReturnType<ApiService['webhooks']['getWebhook']>>;
  deliveries: Awaited<ReturnType<ApiService['webhooks']['listDeliveries']>>;
}): SafeHtml {
  const { user, hook } = input;
  return adminPage({
    title: 'Webhook',
    section: 'webhooks',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Webhook</h1>
      <dl>
        <dt>Address</dt>
        <dd>${hook.url}</dd>
        <dt>Events</dt>
        <dd>${hook.eventList.join(', ')}</dd>
        <dt>Signing secret</dt>
        <dd><code>${hook.secret}</code></dd>
        <dt>Status</dt>
        <dd>${hook.disabled_at ? `disabled ${hook.disabled_at.slice(0, 10)}` : 'active'}</dd>
      </dl>
      ${
        hook.disabled_at
          ? ''
          : html`<form method="post" action="/admin/webhooks/${hook.id}/disable">
              ${csrfField(user.csrfToken)}
              <button type="submit">Disable</button>
            </form>`
      }
      <h2>Deliveries (latest 100)</h2>
      ${
        input.deliveries.length === 0
          ? html`<p>Nothing delivered yet.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Answer</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                ${input.deliveries.map(
                  (d) =>
                    html`<tr>
                      <td>${d.created_at.slice(0, 19).replace('T', ' ')}</td>
                      <td>${d.event}</td>
                      <td>${d.status}</td>
                      <td>${d.attempts}</td>
                      <td>${d.response_status ?? ''}</td>
                      <td>${d.last_error ?? ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <p><a href="/admin/webhooks">All webhooks</a></p>`,
  });
}

export interface ApiAdminOptions {
  ctx: AppContext;
  api: ApiService;
}

export async function apiAdminRoutes(app: FastifyInstance, options: ApiAdminOptions): Promise<void> {
  const { api, ctx } = options;
  const orgName = ctx.config.orgName;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  addAdminNavItem({
    href: '/admin/api-keys',
    label: 'API keys',
    section: 'api-keys',
    roles: ['owner', 'admin'],
  });
  addAdminNavItem({
    href: '/admin/webhooks',
    label: 'Webhooks',
    section: 'webhooks',
    roles: ['owner', 'admin'],
  });

  r.get('/admin/api-keys', adminOnly, async (request, reply) =>
    page(reply, keysPage({ user: userOf(request), orgName, keys: await api.listApiKeys() })),
  );

  r.post(
    '/admin/api-keys',
    {
      ...adminOnly,
      schema: {
        body: Type.Object({
          name: Type.String({ maxLength: 200 }),
          scope: Type.String({ maxLength: 10 }),
          group_id: Type.Optional(Type.String({ maxLength: 200 })),
          _csrf: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      try {
        const scope =
          request.body.scope === 'write' ? 'write' : request.body.scope === 'read' ? 'read' : 'none';
        const created = await api.createApiKey({
          name: request.body.name,
          scope: scope as 'read' | 'write',
          groupId: request.body.group_id ?? null,
          createdBy: user.id,
        });
        return page(
          reply,
          keysPage({
            user,
            orgName,
            keys: await api.listApiKeys(),
            created: { name: request.body.name.trim(), secret: created.secret },
          }),
        );
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return page(reply, keysPage({ user, orgName, keys: await api.listApiKeys(), error: error.message }));
      }
    },
  );

  r.post(
    '/admin/api-keys/:id/revoke',
    { ...adminOnly, schema: { params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } },
    async (request, reply) => {
      const user = userOf(request);
      await api.revokeApiKey(request.params.id, user.id);
      return page(reply, keysPage({ user, orgName, keys: await api.listApiKeys(), notice: 'Key revoked.' }));
    },
  );

  r.get('/admin/webhooks', adminOnly, async (request, reply) =>
    page(reply, webhooksPage({ user: userOf(request), orgName, hooks: await api.webhooks.listWebhooks() })),
  );

  r.post(
    '/admin/webhooks',
    {
      ...adminOnly,
      schema: {
        body: Type.Object({
          url: Type.String({ maxLength: 2000 }),
          events: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 20 })])),
          _csrf: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const events = request.body.events;
      try {
        const hook = await api.webhooks.createWebhook({
          url: request.body.url,
          events: Array.isArray(events) ? events : events ? [events] : [],
          createdBy: user.id,
        });
        return reply.redirect(`/admin/webhooks/${hook.id}`, 303);
      } catch (error) {
        if (!isAppError(error)) throw error;
        reply.status(error.status);
        return page(
          reply,
          webhooksPage({ user, orgName, hooks: await api.webhooks.listWebhooks(), error: error.message }),
        );
      }
    },
  );

  r.get(
    '/admin/webhooks/:id',
    { ...adminOnly, schema: { params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } },
    async (request, reply) => {
      const hook = await api.webhooks.getWebhook(request.params.id);
      const deliveries = await api.webhooks.listDeliveries(hook.id);
      return page(reply, webhookPage({ user: userOf(request), orgName, hook, deliveries }));
    },
  );

  r.post(
    '/admin/webhooks/:id/disable',
    { ...adminOnly, schema: { params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } },
    async (request, reply) => {
      await api.webhooks.disableWebhook(request.params.id, userOf(request).id);
      return reply.redirect(`/admin/webhooks/${request.params.id}`, 303);
    },
  );
}
