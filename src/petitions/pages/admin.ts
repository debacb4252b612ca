import { html, raw, type SafeHtml } from '../../web/html.ts';
import { adminPage, csrfField, type LayoutUser } from '../../web/layout.ts';
import type { CommentRow } from '../store.ts';
import type { PetitionRow } from '../tables.ts';
import type { FieldRule, Petition, PublicCount } from '../types.ts';

interface AdminContext {
  user: LayoutUser;
  csrfToken: string;
  orgName: string;
  canEdit: boolean;
}

function page(ctx: AdminContext, title: string, body: SafeHtml): SafeHtml {
  return adminPage({
    title,
    body,
    user: ctx.user,
    csrfToken: ctx.csrfToken,
    section: 'petitions',
    orgName: ctx.orgName,
  });
}

const statusLabel: Record<string, string> = { draft: 'Draft', open: 'Open', closed: 'Closed' };

export function petitionListPage(
  ctx: AdminContext,
  rows: Array<{ petition: PetitionRow; count: PublicCount }>,
): SafeHtml {
  return page(
    ctx,
    'Petitions',
    html`<h1>Petitions</h1>
      ${ctx.canEdit ? html`<p><a class="button" href="/admin/petitions/new">New petition</a></p>` : ''}
      ${
        rows.length === 0
          ? html`<p>No petitions yet.</p>`
          : html`<table>
              <caption class="visually-hidden">
                All petitions
              </caption>
              <thead>
                <tr>
                  <th scope="col">Title</th>
                  <th scope="col">Status</th>
                  <th scope="col">Signatures (counted)</th>
                  <th scope="col">Goal</th>
                  <th scope="col">Public page</th>
                </tr>
              </thead>
              <tbody>
                ${rows.map(
                  ({ petition, count }) =>
                    html`<tr>
                      <td><a href="/admin/petitions/${petition.id}">${petition.title}</a></td>
                      <td>${statusLabel[petition.status] ?? petition.status}</td>
                      <td>${count.count}</td>
                      <td>${petition.goal}</td>
                      <td><a href="/petitions/${petition.slug}">/petitions/${petition.slug}</a></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export interface PetitionFormValues {
  slug: string;
  title: string;
  summary: string;
  body: string;
  language: string;
  image_url: string;
  bill_reference: string;
  bill_url: string;
  goal: string;
  end_date: string;
  group_id: string;
  requires_confirmation: boolean;
  altcha_enabled: boolean;
  comment_moderation: string;
  postal_code_rule: FieldRule;
  locality_rule: FieldRule;
  phone_rule: FieldRule;
  questions: string;
  targets: string;
  thank_you_message: string;
  autoresponse_subject: string;
  autoresponse_body: string;
  tr_title: string;
  tr_summary: string;
  tr_body: string;
  tr_thank_you_message: string;
}

export function formValuesOf(petition: Petition | null): PetitionFormValues {
  const row = petition?.row;
  const language = row?.language ?? 'en';
  const tr = petition?.translations.find((t) => t.language !== language);
  const settings = petition?.formSettings;
  return {
    slug: row?.slug ?? '',
    title: row?.title ?? '',
    summary: row?.summary ?? '',
    body: row?.body ?? '',
    language,
    image_url: row?.image_url ?? '',
    bill_reference: row?.bill_reference ?? '',
    bill_url: row?.bill_url ?? '',
    goal: String(row?.goal ?? 1000),
    end_date: row?.end_date ?? '',
    group_id: row?.group_id ?? '',
    requires_confirmation: row ? row.requires_confirmation === 1 : true,
    altcha_enabled: row ? row.altcha_enabled === 1 : true,
    comment_moderation: row?.comment_moderation ?? 'moderated',
    postal_code_rule: settings?.postalCode ?? 'required',
    locality_rule: settings?.locality ?? 'optional',
    phone_rule: settings?.phone ?? 'optional',
    questions: (settings?.questions ?? []).map((q) => `${q.label}${q.required ? ' *' : ''}`).join('\n'),
    targets: (petition?.targets ?? [])
      .map((t) =>
        [t.name, t.title ?? '', t.district ?? '', t.email ?? ''].join(' | ').replace(/( \| )+$/, ''),
      )
      .join('\n'),
    thank_you_message: row?.thank_you_message ?? '',
    autoresponse_subject: row?.autoresponse_subject ?? '',
    autoresponse_body: row?.autoresponse_body ?? '',
    tr_title: tr?.title ?? '',
    tr_summary: tr?.summary ?? '',
    tr_body: tr?.body ?? '',
    tr_thank_you_message: tr?.thank_you_message ?? '',
  };
}

function input(
  name: keyof PetitionFormValues,
  label: string,
  value: string,
  extra: SafeHtml | string = '',
  hint = '',
) {
  return html`<label for="${name}">${label}</label>
    ${hint ? html`<span class="muted" id="${name}-hint">${hint}</span>` : ''}
    <input
      id="${name}"
      name="${name}"
      type="text"
      value="${value}"
      ${extra}
      ${hint ? html`aria-describedby="${name}-hint"` : ''}
    />`;
}

function textarea(name: keyof PetitionFormValues, label: string, value: string, rows: number, hint = '') {
  return html`<label for="${name}">${label}</label>
    ${hint ? html`<span class="muted" id="${name}-hint">${hint}</span>` : ''}
    <textarea id="${name}" name="${name}" rows="${rows}" ${hint ? html`aria-describedby="${name}-hint"` : ''}>
${value}</textarea>`;
}

function ruleSelect(name: keyof PetitionFormValues, label: string, value: FieldRule) {
  return html`<label for="${name}">${label}</label>
    <select id="${name}" name="${name}">
      ${(['required', 'optional', 'hidden'] as const).map(
        (rule) => html`<option value="${rule}" ${rule === value ? 'selected' : ''}>${rule}</option>`,
      )}
    </select>`;
}

export function petitionFormPage(
  ctx: AdminContext,
  input_: {
    petition: Petition | null;
    values: PetitionFormValues;
    error?: string | null;
    /** Groups to choose the owner from (a leader: only theirs; then one is required). */
    groups?: { choices: Array<{ id: string; name: string }>; allowNone: boolean } | null;
  },
): SafeHtml {
  const v = input_.values;
  const groups = input_.groups;
  const editing = input_.petition !== null;
  const other = v.language === 'es' ? 'en' : 'es';
  const otherName = other === 'es' ? 'Spanish' : 'English';
  const action = editing ? `/admin/petitions/${input_.petition!.row.id}/edit` : '/admin/petitions';
  const title = editing ? `Edit: ${input_.petition!.row.title}` : 'New petition';
  return page(
    ctx,
    title,
    html`<h1>${title}</h1>
      ${input_.error ? html`<p role="alert" class="error">${input_.error}</p>` : ''}
      <form method="post" action="${action}">
        ${csrfField(ctx.csrfToken)}
        <fieldset>
          <legend>Petition</legend>
          ${input('title', 'Title', v.title, html`required maxlength="200"`)}
          ${input('slug', 'Address', v.slug, html`required pattern="[a-z0-9]+(-[a-z0-9]+)*"`, 'Lower-case words joined by dashes: /petitions/save-the-park')}
          <label for="language">Main language</label>
          <select id="language" name="language">
            <option value="en" ${v.language === 'en' ? 'selected' : ''}>English</option>
            <option value="es" ${v.language === 'es' ? 'selected' : ''}>Spanish</option>
          </select>
          ${textarea('summary', 'Summary', v.summary, 2, 'One or two sentences, shown first and when shared.')}
          ${textarea('body', 'Full text (Markdown)', v.body, 12, 'Headings, lists, links and bold text; HTML is removed.')}
          ${input('image_url', 'Image address', v.image_url, html`inputmode="url"`, 'https://… (also used when shared)')}
          ${input('bill_reference', 'Bill', v.bill_reference, '', 'For example CA SB 54')}
          ${input('bill_url', 'Bill link', v.bill_url, html`inputmode="url"`)}
          <label for="goal">Goal (signatures)</label>
          <input id="goal" name="goal" type="number" min="1" required value="${v.goal}" />
          <label for="end_date">End date</label>
          <input id="end_date" name="end_date" type="date" value="${v.end_date}" />
          ${
            groups
              ? html`<label for="group_id">Owning group</label>
                  <select id="group_id" name="group_id">
                    ${
                      groups.allowNone
                        ? html`<option value="" ${v.group_id ? '' : 'selected'}>
                            The whole organisation
                          </option>`
                        : ''
                    }
                    ${groups.choices.map(
                      (g) =>
                        html`<option value="${g.id}" ${g.id === v.group_id ? 'selected' : ''}>
                          ${g.name}
                        </option>`,
                    )}
                  </select>`
              : input(
                  'group_id',
                  'Owning group id',
                  v.group_id,
                  '',
                  'Leave empty for the whole organisation.',
                )
          }
        </fieldset>
        <fieldset>
          <legend>Decision-makers</legend>
          ${textarea('targets', 'Targets', v.targets, 4, 'One per line: Name | Title | District | email')}
        </fieldset>
        <fieldset>
          <legend>Signing form</legend>
          ${ruleSelect('postal_code_rule', 'Postal code', v.postal_code_rule)}
          ${ruleSelect('locality_rule', 'City', v.locality_rule)}
          ${ruleSelect('phone_rule', 'Phone', v.phone_rule)}
          ${textarea('questions', 'Extra questions', v.questions, 3, 'One per line; end with * when an answer is required.')}
          <p>
            <input
              id="requires_confirmation"
              name="requires_confirmation"
              type="checkbox"
              value="yes"
              ${v.requires_confirmation ? 'checked' : ''}
            />
            <label for="requires_confirmation" class="inline"
              >Signatures count only after email confirmation</label
            >
          </p>
          <p>
            <input
              id="altcha_enabled"
              name="altcha_enabled"
              type="checkbox"
              value="yes"
              ${v.altcha_enabled ? 'checked' : ''}
            />
            <label for="altcha_enabled" class="inline">Anti-robot proof of work (ALTCHA)</label>
          </p>
          <label for="comment_moderation">Comments ("why I signed")</label>
          <select id="comment_moderation" name="comment_moderation">
            <option value="moderated" ${v.comment_moderation === 'moderated' ? 'selected' : ''}>
              Shown after approval
            </option>
            <option value="immediate" ${v.comment_moderation === 'immediate' ? 'selected' : ''}>
              Shown immediately
            </option>
          </select>
        </fieldset>
        <fieldset>
          <legend>After signing</legend>
          ${textarea('thank_you_message', 'Thank-you message (Markdown)', v.thank_you_message, 3)}
          ${input('autoresponse_subject', 'Autoresponse email subject', v.autoresponse_subject, '', 'Leave empty to send none.')}
          ${textarea('autoresponse_body', 'Autoresponse email text', v.autoresponse_body, 5, '{petition_title} and {petition_url} are filled in.')}
        </fieldset>
        <fieldset>
          <legend>${otherName} version</legend>
          ${input('tr_title', `Title (${otherName})`, v.tr_title, '', 'Leave empty for no translation.')}
          ${textarea('tr_summary', `Summary (${otherName})`, v.tr_summary, 2)}
          ${textarea('tr_body', `Full text (${otherName}, Markdown)`, v.tr_body, 8)}
          ${textarea('tr_thank_you_message', `Thank-you message (${otherName})`, v.tr_thank_you_message, 3)}
        </fieldset>
        <p><button type="submit">${editing ? 'Save' : 'Create draft'}</button></p>
      </form>`,
  );
}

/** Signatures per day as a bar chart drawn on the server (no script), with the numbers as a table. */
export function perDayChart(days: Array<{ day: string; total: number }>): SafeHtml {
  const width = 640;
  const height = 160;
  const max = Math.max(1, ...days.map((d) => d.total));
  const barWidth = width / Math.max(1, days.length);
  const bars = days
    .map((d, i) => {
      const h = Math.round((d.total / max) * (height - 20));
      return `<rect x="${(i * barWidth + 1).toFixed(1)}" y="${height - h}" width="${Math.max(1, barWidth - 2).toFixed(1)}" height="${h}" fill="#0b57d0"><title>${d.day}: ${d.total}</title></rect>`;
    })
    .join('');
  const first = days[0]?.day ?? '';
  const last = days[days.length - 1]?.day ?? '';
  return html`<figure>
    <svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="chart-title">
      <title id="chart-title">Signatures per day from ${first} to ${last}, highest ${max}</title>
      ${raw(bars)}
    </svg>
    <figcaption class="muted">${first} – ${last} (highest day: ${max})</figcaption>
    <details>
      <summary>Numbers per day</summary>
      <table>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Signatures</th>
          </tr>
        </thead>
        <tbody>
          ${days
            .filter((d) => d.total > 0)
            .map(
              (d) =>
                html`<tr>
                  <td>${d.day}</td>
                  <td>${d.total}</td>
                </tr>`,
            )}
        </tbody>
      </table>
    </details>
  </figure>`;
}

export interface DashboardView {
  petition: Petition;
  count: PublicCount;
  exact: { total: number; confirmed: number };
  perDay: Array<{ day: string; total: number }>;
  bySource: Array<{ source: string | null; total: number }>;
  byReferrer: Array<{ referrer_code: string; signer_name: string | null; total: number }>;
  byDistrict: Array<{ id: string; name: string; total: number; confirmed: number }>;
  comments: CommentRow[];
  rejections: Array<{ reason: string; total: number }>;
  districtRows: number;
  publicUrl: string;
  notice?: string | null;
}

export function dashboardPage(ctx: AdminContext, view: DashboardView): SafeHtml {
  const { petition, exact } = view;
  const row = petition.row;
  const id = row.id;
  const embedSnippet = `<script src="${view.publicUrl}/petitions/${row.slug}/embed.js" async></script>`;
  const iframeSnippet = `<iframe src="${view.publicUrl}/petitions/${row.slug}/embed" title="${row.title.replace(/"/g, '&quot;')}" style="width:100%;max-width:480px;height:760px;border:0"></iframe>`;
  return page(
    ctx,
    row.title,
    html`<h1>${row.title}</h1>
      ${view.notice ? html`<p class="notice" role="status">${view.notice}</p>` : ''}
      <p>
        Status: <strong>${statusLabel[row.status] ?? row.status}</strong> ·
        ${
          row.status === 'draft'
            ? html`<a href="/admin/petitions/${id}/preview">preview</a>`
            : html`<a href="/petitions/${row.slug}">public page</a>`
        }
        ${ctx.canEdit ? html` · <a href="/admin/petitions/${id}/edit">edit</a>` : ''}
      </p>
      ${
        ctx.canEdit
          ? html`<div class="actions">
              ${
                row.status !== 'open'
                  ? html`<form method="post" action="/admin/petitions/${id}/publish">
                      ${csrfField(ctx.csrfToken)}<button type="submit">Publish</button>
                    </form>`
                  : html`<form method="post" action="/admin/petitions/${id}/close">
                      ${csrfField(ctx.csrfToken)}<button type="submit" class="secondary">
                        Close petition
                      </button>
                    </form>`
              }
            </div>`
          : ''
      }
      <h2>Signatures</h2>
      <dl class="totals">
        <dt>All signatures</dt>
        <dd>${exact.total}</dd>
        <dt>Confirmed (counted publicly)</dt>
        <dd>${exact.confirmed}</dd>
        <dt>Goal shown</dt>
        <dd>${view.count.displayGoal} (set: ${row.goal})</dd>
      </dl>
      <h3>Per day</h3>
      ${perDayChart(view.perDay)}
      <h3>By source</h3>
      ${
        view.bySource.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">Source</th>
                  <th scope="col">Signatures</th>
                </tr>
              </thead>
              <tbody>
                ${view.bySource.map(
                  (s) =>
                    html`<tr>
                      <td>${s.source ?? '(direct)'}</td>
                      <td>${s.total}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>None yet.</p>`
      }
      <h3>Top referrers</h3>
      ${
        view.byReferrer.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">Shared by</th>
                  <th scope="col">Code</th>
                  <th scope="col">Signatures brought</th>
                </tr>
              </thead>
              <tbody>
                ${view.byReferrer.map(
                  (r) =>
                    html`<tr>
                      <td>${r.signer_name ?? '(unknown)'}</td>
                      <td>${r.referrer_code}</td>
                      <td>${r.total}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>No signatures through share links yet.</p>`
      }
      <h3>By district</h3>
      ${
        view.byDistrict.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">District</th>
                  <th scope="col">All</th>
                  <th scope="col">Confirmed</th>
                </tr>
              </thead>
              <tbody>
                ${view.byDistrict.map(
                  (d) =>
                    html`<tr>
                      <td>${d.name || '(no district)'}</td>
                      <td>${d.total}</td>
                      <td>${d.confirmed}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>None yet.</p>`
      }
      ${
        ctx.canEdit
          ? html`<form
              method="post"
              action="/admin/petitions/${id}/districts?_csrf=${ctx.csrfToken}"
              enctype="multipart/form-data"
            >
              <label for="districts-file"
                >Postal code → district CSV (postal_code, district_id, district_name)</label
              >
              <span class="muted"
                >${view.districtRows} postal codes mapped for this petition; a global map applies too.</span
              >
              <input id="districts-file" name="file" type="file" accept=".csv,text/csv" required />
              <p><button type="submit">Upload districts</button></p>
            </form>`
          : ''
      }
      <h2>Comments</h2>
      ${
        view.comments.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">Signer</th>
                  <th scope="col">Comment</th>
                  <th scope="col">Status</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                ${view.comments.map(
                  (c) =>
                    html`<tr>
                      <td>${c.signer_name}${c.locality ? html`, ${c.locality}` : ''}</td>
                      <td>${c.comment}</td>
                      <td>${c.comment_status}</td>
                      <td>
                        ${
                          ctx.canEdit
                            ? html`<form method="post" action="/admin/petitions/${id}/comments/${c.id}">
                                ${csrfField(ctx.csrfToken)}
                                ${
                                  c.comment_status !== 'approved'
                                    ? html`<button type="submit" name="action" value="approve">
                                        Approve
                                      </button>`
                                    : ''
                                }
                                ${
                                  c.comment_status !== 'hidden'
                                    ? html`<button type="submit" name="action" value="hide" class="secondary">
                                        Hide
                                      </button>`
                                    : ''
                                }
                              </form>`
                            : ''
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>No comments yet.</p>`
      }
      <h2>Rejected attempts</h2>
      ${
        view.rejections.length
          ? html`<ul>
              ${view.rejections.map((r) => html`<li>${r.reason}: ${r.total}</li>`)}
            </ul>`
          : html`<p>None.</p>`
      }
      <h2>Delivery</h2>
      <ul>
        <li><a href="/admin/petitions/${id}/signatures.csv">Signatures as CSV</a></li>
        <li>
          <a href="/admin/petitions/${id}/delivery.pdf">Printable PDF grouped by district and target</a>
        </li>
      </ul>
      <h2>Embed on another site</h2>
      <label for="embed-script">Script snippet</label>
      <textarea id="embed-script" rows="2" readonly>${embedSnippet}</textarea>
      <label for="embed-iframe">Or an iframe</label>
      <textarea id="embed-iframe" rows="3" readonly>${iframeSnippet}</textarea>`,
  );
}
