import type { CurrentUser } from '../auth/index.ts';
import type { EventRow } from '../events/index.ts';
import type { PersonSummary } from '../people/index.ts';
import { html, type SafeHtml } from '../web/html.ts';
import type { PublicLanguage } from '../web/language.ts';
import { languageSwitch, personFormFields, type PersonFieldValues } from '../web/person-fields.ts';
import { groupMessages } from './i18n.ts';
import { adminPage, csrfField, publicPage } from '../web/layout.ts';
import type { GroupNode } from './service.ts';
import type { GroupRow, GroupRuleRow } from './tables.ts';

function when(event: EventRow, lang: PublicLanguage): string {
  return new Intl.DateTimeFormat(lang, {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: event.time_zone,
  }).format(new Date(event.starts_at));
}

export function groupPublicPage(input: {
  group: GroupRow;
  parent: GroupRow | null;
  children: GroupRow[];
  petitions: { slug: string; title: string }[];
  events: EventRow[];
  error?: string | null;
  notice?: string | null;
  values?: PersonFieldValues;
  lang?: PublicLanguage;
}): SafeHtml {
  const { group } = input;
  const lang = input.lang ?? 'en';
  const m = groupMessages(lang);
  const v = input.values ?? {};
  const q = lang === 'en' ? '' : `?lang=${lang}`;
  return publicPage({
    title: group.name,
    lang,
    body: html`${languageSwitch(`/groups/${group.slug}`, lang)}
      <h1>${group.name}</h1>
      ${input.parent ? html`<p>${m.partOf} <a href="/groups/${input.parent.slug}${q}">${input.parent.name}</a></p>` : ''}
      ${group.description
        .split(/\r?\n\s*\r?\n/)
        .filter((p) => p.trim())
        .map((p) => html`<p>${p.trim()}</p>`)}
      <section aria-labelledby="petitions-h">
        <h2 id="petitions-h">${m.petitions}</h2>
        ${
          input.petitions.length
            ? html`<ul>
                ${input.petitions.map((p) => html`<li><a href="/petitions/${p.slug}${q}">${p.title}</a></li>`)}
              </ul>`
            : html`<p>${m.noPetitions}</p>`
        }
      </section>
      <section aria-labelledby="events-h">
        <h2 id="events-h">${m.upcomingEvents}</h2>
        ${
          input.events.length
            ? html`<ul>
                ${input.events.map(
                  (e) => html`<li><a href="/events/${e.slug}${q}">${e.title}</a> · ${when(e, lang)}</li>`,
                )}
              </ul>`
            : html`<p>${m.noEvents}</p>`
        }
      </section>
      ${
        input.children.length
          ? html`<section aria-labelledby="local-h">
              <h2 id="local-h">${m.localGroups}</h2>
              <ul>
                ${input.children.map((c) => html`<li><a href="/groups/${c.slug}${q}">${c.name}</a></li>`)}
              </ul>
            </section>`
          : ''
      }
      <section aria-labelledby="join-h">
        <h2 id="join-h">${m.join(group.name)}</h2>
        ${input.notice ? html`<p role="status" class="notice">${input.notice}</p>` : ''}
        ${input.error ? html`<p role="alert" class="error" id="join-error">${input.error}</p>` : ''}
        <form method="post" action="/groups/${group.slug}/join">
          ${personFormFields({
            prefix: 'join',
            values: v,
            subscribeLabel: m.subscribe,
            lang,
          })}
          <p><button type="submit">${m.joinButton}</button></p>
        </form>
      </section>`,
  });
}

export interface GroupsAdminContext {
  user: CurrentUser;
  orgName: string;
  canManage: boolean;
}

function admin(c: GroupsAdminContext, title: string, body: SafeHtml): SafeHtml {
  return adminPage({
    title,
    section: 'groups',
    user: c.user,
    csrfToken: c.user.csrfToken,
    orgName: c.orgName,
    body,
  });
}

const levelOptions = (selected: string) =>
  (['national', 'state', 'local'] as const).map(
    (level) => html`<option value="${level}" ${level === selected ? 'selected' : ''}>${level}</option>`,
  );

function groupFields(
  c: GroupsAdminContext,
  tree: GroupNode[],
  values: { name?: string; slug?: string; level?: string; parentId?: string | null; description?: string },
  selfId?: string,
): SafeHtml {
  return html`${csrfField(c.user.csrfToken)}
    <p>
      <label for="g-name">Name</label>
      <input id="g-name" name="name" type="text" required maxlength="200" value="${values.name ?? ''}" />
    </p>
    <p>
      <label for="g-slug">Address (optional)</label>
      <input id="g-slug" name="slug" type="text" maxlength="80" value="${values.slug ?? ''}" />
    </p>
    <p>
      <label for="g-level">Level</label>
      <select id="g-level" name="level">
        ${levelOptions(values.level ?? 'local')}
      </select>
    </p>
    <p>
      <label for="g-parent">Inside</label>
      <select id="g-parent" name="parent_id">
        <option value="">(top level)</option>
        ${tree
          .filter((g) => g.id !== selfId)
          .map(
            (g) =>
              html`<option value="${g.id}" ${g.id === values.parentId ? 'selected' : ''}>
                ${'— '.repeat(g.depth)}${g.name}
              </option>`,
          )}
      </select>
    </p>
    <p>
      <label for="g-description">Description</label>
      <textarea id="g-description" name="description" rows="4">${values.description ?? ''}</textarea>
    </p>`;
}

/** Members are counted every few minutes in the background, not on each view. */
function countedNote(countedAt: string): string {
  return `Members counted at ${countedAt.slice(0, 16).replace('T', ' ')} UTC; counted again every few minutes.`;
}

export function groupsListPage(
  c: GroupsAdminContext,
  input: {
    tree: (GroupNode & { members: number })[];
    /** When the members were counted (kept numbers), if they were not counted for this view. */
    countedAt?: string;
    error?: string | null;
    values?: Record<string, string>;
  },
): SafeHtml {
  return admin(
    c,
    'Groups',
    html`<h1>Groups</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${input.countedAt && input.tree.length ? html`<p class="muted">${countedNote(input.countedAt)}</p>` : ''}
      ${
        input.tree.length
          ? html`<table>
              <caption class="visually-hidden">
                Groups
              </caption>
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col">Level</th>
                  <th scope="col">Members</th>
                  <th scope="col">Public page</th>
                </tr>
              </thead>
              <tbody>
                ${input.tree.map(
                  (g) =>
                    html`<tr>
                      <td>${'— '.repeat(g.depth)}<a href="/admin/groups/${g.id}">${g.name}</a></td>
                      <td>${g.level}</td>
                      <td>${g.members.toLocaleString('en')}</td>
                      <td><a href="/groups/${g.slug}">/groups/${g.slug}</a></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>No groups yet.</p>`
      }
      ${
        c.canManage
          ? html`<h2>New group</h2>
              <form method="post" action="/admin/groups">
                ${groupFields(c, input.tree, {
                  name: input.values?.name ?? '',
                  slug: input.values?.slug ?? '',
                  level: input.values?.level ?? 'local',
                  parentId: input.values?.parent_id ?? null,
                  description: input.values?.description ?? '',
                })}
                <p><button type="submit">Create group</button></p>
              </form>`
          : ''
      }`,
  );
}

export function groupAdminPage(
  c: GroupsAdminContext,
  input: {
    group: GroupRow;
    tree: GroupNode[];
    members: number;
    /** When the members were counted (kept numbers), if they were not counted for this view. */
    countedAt?: string;
    rules: GroupRuleRow[];
    leaders: { user_id: string; user: { email: string } | null }[];
    error?: string | null;
    notice?: string | null;
  },
): SafeHtml {
  const { group } = input;
  const membersNote = `with sub-groups and rules${input.countedAt ? `; ${countedNote(input.countedAt)}` : ''}`;
  return admin(
    c,
    group.name,
    html`<h1>${group.name}</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${input.notice ? html`<p role="status" class="notice">${input.notice}</p>` : ''}
      <p>
        ${input.members.toLocaleString('en')} members (${membersNote}) ·
        <a href="/admin/groups/${group.id}/members">See members</a> · Public page:
        <a href="/groups/${group.slug}">/groups/${group.slug}</a>
      </p>
      <h2>Automatic membership</h2>
      <p>People whose postal code starts with, or whose address lies in, one of these belong to the group.</p>
      ${
        input.rules.length
          ? html`<ul>
              ${input.rules.map(
                (r) =>
                  html`<li>
                    ${r.kind === 'postal_prefix' ? 'Postal code starts with' : 'District'}
                    <strong>${r.value}</strong>
                    ${
                      c.canManage
                        ? html`<form
                            method="post"
                            action="/admin/groups/${group.id}/rules/${r.id}/delete"
                            class="inline"
                          >
                            ${csrfField(c.user.csrfToken)}
                            <button type="submit" class="secondary" aria-label="Remove rule ${r.value}">
                              Remove
                            </button>
                          </form>`
                        : ''
                    }
                  </li>`,
              )}
            </ul>`
          : html`<p>No rules: only people who join belong.</p>`
      }
      ${
        c.canManage
          ? html`<form method="post" action="/admin/groups/${group.id}/rules">
              ${csrfField(c.user.csrfToken)}
              <p>
                <label for="rule-kind">Rule</label>
                <select id="rule-kind" name="kind">
                  <option value="postal_prefix">Postal code starts with</option>
                  <option value="district">District id</option>
                </select>
              </p>
              <p>
                <label for="rule-value">Value</label>
                <input id="rule-value" name="value" type="text" required maxlength="40" />
              </p>
              <p><button type="submit">Add rule</button></p>
            </form>`
          : ''
      }
      <h2>Leaders</h2>
      <p>Leaders see and export only this group's members (and its sub-groups').</p>
      ${
        input.leaders.length
          ? html`<ul>
              ${input.leaders.map(
                (l) =>
                  html`<li>
                    ${l.user?.email ?? l.user_id}
                    ${
                      c.canManage
                        ? html`<form
                            method="post"
                            action="/admin/groups/${group.id}/leaders/${l.user_id}/delete"
                            class="inline"
                          >
                            ${csrfField(c.user.csrfToken)}
                            <button
                              type="submit"
                              class="secondary"
                              aria-label="Remove leader ${l.user?.email ?? ''}"
                            >
                              Remove
                            </button>
                          </form>`
                        : ''
                    }
                  </li>`,
              )}
            </ul>`
          : html`<p>No leaders yet.</p>`
      }
      ${
        c.canManage
          ? html`<form method="post" action="/admin/groups/${group.id}/leaders">
                ${csrfField(c.user.csrfToken)}
                <p>
                  <label for="leader-email">User's email</label>
                  <input id="leader-email" name="email" type="email" required />
                </p>
                <p><button type="submit">Make leader</button></p>
              </form>
              <h2>Edit group</h2>
              <form method="post" action="/admin/groups/${group.id}">
                ${groupFields(
                  c,
                  input.tree,
                  {
                    name: group.name,
                    slug: group.slug,
                    level: group.level,
                    parentId: group.parent_id,
                    description: group.description,
                  },
                  group.id,
                )}
                <p><button type="submit">Save group</button></p>
              </form>`
          : ''
      }`,
  );
}

export function groupMembersPage(
  c: GroupsAdminContext,
  input: { group: GroupRow; people: PersonSummary[]; total: number },
): SafeHtml {
  return admin(
    c,
    `Members · ${input.group.name}`,
    html`<h1>Members of ${input.group.name}</h1>
      <p>
        ${input.total.toLocaleString('en')}
        members${input.total > input.people.length ? `, the newest ${input.people.length} shown` : ''}.
      </p>
      <table>
        <caption class="visually-hidden">
          Members
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Postal code</th>
          </tr>
        </thead>
        <tbody>
          ${input.people.map(
            (p) =>
              html`<tr>
                <td>
                  <a href="/admin/people/${p.id}"
                    >${[p.givenName, p.familyName].filter(Boolean).join(' ') || '—'}</a
                  >
                </td>
                <td>${p.email ?? ''}</td>
                <td>${p.postalCode ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <p><a href="/admin/groups/${input.group.id}">Back to the group</a></p>`,
  );
}
