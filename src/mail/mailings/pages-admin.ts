import { html, type HtmlValue, type SafeHtml } from '../../web/html.ts';
import { adminPage, csrfField, type LayoutUser } from '../../web/layout.ts';
import { describeAudience, parseAudience, type AudienceDefinition } from '../audience/definition.ts';
import type { MailingReport } from './service.ts';
import type { MailingRow } from './tables.ts';

export interface AdminView {
  user: LayoutUser;
  csrfToken: string;
  orgName: string;
  canEdit: boolean;
}

export interface AudienceChoices {
  tags: string[];
  lists: string[];
  petitions: Array<{ id: string; title: string }>;
  mailings: Array<{ id: string; name: string }>;
  /** Groups the user may mail (a leader: only theirs). */
  groups?: Array<{ id: string; name: string }>;
}

/** The compose form's fields, as strings (what the browser sends back). */
export interface MailingFormValues {
  name: string;
  from_name: string;
  from_address: string;
  reply_to: string;
  subject: string;
  subject_b: string;
  ab_test_percent: string;
  preheader: string;
  format: string;
  layout: string;
  body: string;
  petition_id: string;
  tracking: boolean;
  rate: string;
  audience: AudienceDefinition;
}

function page(view: AdminView, title: string, body: HtmlValue): SafeHtml {
  return adminPage({
    title,
    body,
    user: view.user,
    csrfToken: view.csrfToken,
    section: 'mailings',
    orgName: view.orgName,
  });
}

const statusLabels: Record<string, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  sending: 'Sending',
  paused: 'Paused',
  sent: 'Sent',
  cancelled: 'Cancelled',
};

function statusText(mailing: MailingRow): string {
  const label = statusLabels[mailing.status] ?? mailing.status;
  if (mailing.status === 'paused' && mailing.pause_reason === 'smtp_unavailable') {
    return `${label} (SMTP server unreachable; resumes by itself)`;
  }
  if (mailing.status === 'paused' && mailing.pause_reason === 'ab_test')
    return `${label} (A/B test: waiting for the winner)`;
  if (mailing.status === 'scheduled' && mailing.scheduled_at)
    return `${label} for ${mailing.scheduled_at.slice(0, 16).replace('T', ' ')} UTC`;
  return label;
}

export function mailingListPage(view: AdminView, mailings: MailingRow[]): SafeHtml {
  return page(
    view,
    'Mailings',
    html`<h1>Mailings</h1>
      ${
        view.canEdit
          ? html`<p>
              <a class="button" href="/admin/mailings/new">New mailing</a>
              <a href="/admin/outbox">Local outbox</a>
            </p>`
          : ''
      }
      ${
        mailings.length === 0
          ? html`<p>No mailings yet.</p>`
          : html`<table>
              <caption class="visually-hidden">
                Mailings, newest first
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                ${mailings.map(
                  (m) =>
                    html`<tr>
                      <td><a href="/admin/mailings/${m.id}">${m.name}</a></td>
                      <td>
                        ${m.subject}${m.subject_b ? html` <span class="muted">/ ${m.subject_b}</span>` : ''}
                      </td>
                      <td>${statusText(m)}</td>
                      <td>${m.created_at.slice(0, 10)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export function formValuesOf(
  mailing: MailingRow | null,
  defaults: { fromName: string; fromAddress: string },
): MailingFormValues {
  if (!mailing) {
    return {
      name: '',
      from_name: defaults.fromName,
      from_address: defaults.fromAddress,
      reply_to: '',
      subject: '',
      subject_b: '',
      ab_test_percent: '100',
      preheader: '',
      format: 'markdown',
      layout: 'default',
      body: 'Dear {{ given_name | default: "Friend" }},\n\n',
      petition_id: '',
      tracking: true,
      rate: '0',
      audience: {},
    };
  }
  return {
    name: mailing.name,
    from_name: mailing.from_name,
    from_address: mailing.from_address,
    reply_to: mailing.reply_to ?? '',
    subject: mailing.subject,
    subject_b: mailing.subject_b ?? '',
    ab_test_percent: String(mailing.ab_test_percent),
    preheader: mailing.preheader ?? '',
    format: mailing.format,
    layout: mailing.layout,
    body: mailing.body,
    petition_id: mailing.petition_id ?? '',
    tracking: mailing.tracking === 1,
    rate: String(mailing.rate),
    audience: parseAudience(mailing.audience),
  };
}

function textField(
  name: string,
  label: string,
  value: string,
  options: { type?: string; required?: boolean; hint?: string } = {},
) {
  return html`<p>
    <label for="${name}">${label}</label>
    <input
      id="${name}"
      name="${name}"
      type="${options.type ?? 'text'}"
      value="${value}"
      ${options.required ? html`required` : ''}
      ${options.hint ? html`aria-describedby="${name}-hint"` : ''}
    />
    ${options.hint ? html`<span class="muted" id="${name}-hint">${options.hint}</span>` : ''}
  </p>`;
}

function multiSelect(
  name: string,
  label: string,
  options: Array<{ value: string; label: string }>,
  selected: string[] = [],
) {
  if (options.length === 0) return '';
  return html`<p>
    <label for="${name}">${label}</label>
    <select id="${name}" name="${name}" multiple size="${Math.min(6, Math.max(2, options.length))}">
      ${options.map(
        (o) =>
          html`<option value="${o.value}" ${selected.includes(o.value) ? html`selected` : ''}>
            ${o.label}
          </option>`,
      )}
    </select>
  </p>`;
}

function audienceFields(values: MailingFormValues, choices: AudienceChoices, count: number | null) {
  const a = values.audience;
  const join = (list: string[] | undefined) => (list ?? []).join(', ');
  const petitions = choices.petitions.map((p) => ({ value: p.id, label: p.title }));
  const mailings = choices.mailings.map((m) => ({ value: m.id, label: m.name }));
  return html`<fieldset id="audience" data-count-url="/admin/mailings/audience-count">
    <legend>Audience</legend>
    <p class="muted">
      Subscribed addresses only, never suppressed ones. Criteria combine with AND; the values inside one with
      OR.
    </p>
    ${multiSelect(
      'aud_lists',
      'In any of these lists',
      choices.lists.map((l) => ({ value: l, label: l })),
      a.lists,
    )}
    ${textField('aud_tags', 'Tagged with any of (comma-separated)', join(a.tags))}
    ${textField('aud_exclude_tags', 'Not tagged with any of', join(a.excludeTags))}
    ${textField('aud_postal', 'Postal code starts with any of', join(a.postalCodes))}
    ${textField('aud_districts', 'In any of these districts (ids)', join(a.districts))}
    ${textField('aud_languages', 'Language is any of (e.g. en, es)', join(a.languages))}
    ${multiSelect('aud_signed', 'Signed any of these petitions', petitions, a.signed)}
    ${multiSelect('aud_not_signed', 'Has NOT signed any of these petitions', petitions, a.notSigned)}
    ${multiSelect('aud_opened', 'Opened any of these mailings', mailings, a.opened)}
    ${multiSelect('aud_clicked', 'Clicked in any of these mailings', mailings, a.clicked)}
    ${multiSelect(
      'aud_groups',
      'Member of any of these groups (with their sub-groups)',
      (choices.groups ?? []).map((g) => ({ value: g.id, label: g.name })),
      a.groups,
    )}
    <p>
      <strong>Recipients right now:</strong>
      <output id="audience-count" aria-live="polite"
        >${count === null ? 'unknown' : count.toLocaleString('en')}</output
      >
      <span class="muted">(exact; updates as you change the criteria, or when you save)</span>
    </p>
  </fieldset>`;
}

export function mailingFormPage(
  view: AdminView,
  input: {
    mailing: MailingRow | null;
    values: MailingFormValues;
    choices: AudienceChoices;
    count: number | null;
    error?: string;
  },
): SafeHtml {
  const v = input.values;
  const action = input.mailing ? `/admin/mailings/${input.mailing.id}/edit` : '/admin/mailings';
  const title = input.mailing ? `Edit “${input.mailing.name}”` : 'New mailing';
  return page(
    view,
    title,
    html`<h1>${title}</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      <form method="post" action="${action}" id="mailing-form">
        ${csrfField(view.csrfToken)}
        <fieldset>
          <legend>Message</legend>
          ${textField('name', 'Internal name', v.name, { hint: 'Only organisers see it; defaults to the subject.' })}
          ${textField('from_name', 'From name', v.from_name, { required: true })}
          ${textField('from_address', 'From address', v.from_address, { type: 'email', required: true })}
          ${textField('reply_to', 'Reply-to address (optional)', v.reply_to, { type: 'email' })}
          ${textField('subject', 'Subject', v.subject, { required: true, hint: 'Merge tags work here too.' })}
          ${textField('subject_b', 'Subject B for an A/B test (optional)', v.subject_b)}
          ${textField('ab_test_percent', 'A/B test share of the audience (%)', v.ab_test_percent, {
            type: 'number',
            hint: '100 splits everyone between A and B; less sends the test to that share and holds the rest for the winner.',
          })}
          ${textField('preheader', 'Preheader (preview text)', v.preheader)}
          <p>
            <label for="format">Body format</label>
            <select id="format" name="format">
              <option value="markdown" ${v.format === 'markdown' ? html`selected` : ''}>Markdown</option>
              <option value="html" ${v.format === 'html' ? html`selected` : ''}>HTML</option>
            </select>
          </p>
          <p>
            <label for="body">Body</label>
            <textarea id="body" name="body" rows="16" required aria-describedby="body-hint">
${v.body}</textarea>
            <span class="muted" id="body-hint"
              >Merge tags: {{ given_name | default: "Friend" }}, {{ family_name }}, {{ full_name }}, {{ email
              }}, {{ postal_code }}, {{ locality }}, {{ petition_link }} (with the recipient's tracking code),
              {{ unsubscribe_url }}, {{ org_name }}.</span
            >
          </p>
          <p>
            <label for="layout">Layout</label>
            <select id="layout" name="layout">
              <option value="default" ${v.layout === 'default' ? html`selected` : ''}>
                Standard (centred, footer with postal address)
              </option>
              <option value="plain" ${v.layout === 'plain' ? html`selected` : ''}>Plain (footer only)</option>
            </select>
          </p>
          <p>
            <label for="petition_id"
              >Petition (action-aware: signers are skipped as the mailing goes out)</label
            >
            <select id="petition_id" name="petition_id">
              <option value="">None</option>
              ${input.choices.petitions.map(
                (p) =>
                  html`<option value="${p.id}" ${p.id === v.petition_id ? html`selected` : ''}>
                    ${p.title}
                  </option>`,
              )}
            </select>
          </p>
          <p>
            <input
              type="checkbox"
              id="tracking"
              name="tracking"
              value="yes"
              ${v.tracking ? html`checked` : ''}
            />
            <label for="tracking" class="inline">Track opens and clicks</label>
          </p>
          ${textField('rate', 'Sending rate (messages per second; 0 = the server default)', v.rate, { type: 'number' })}
        </fieldset>
        ${audienceFields(v, input.choices, input.count)}
        <p><button type="submit">Save draft</button></p>
      </form>
      <script src="/admin/mailings/audience.js" defer></script>`,
  );
}

function row(label: string, value: HtmlValue) {
  return html`<tr>
    <th scope="row">${label}</th>
    <td>${value}</td>
  </tr>`;
}

/** A leader's mailing names the groups it can never reach beyond (ids of groups since deleted as ids). */
function scopeNames(scopeJson: string, choices: AudienceChoices): string {
  let ids: unknown;
  try {
    ids = JSON.parse(scopeJson);
  } catch {
    ids = [];
  }
  const names = (Array.isArray(ids) ? ids : []).map((id) => {
    const name = choices.groups?.find((g) => g.id === id)?.name;
    return name ? name.replace(/^(— )+/, '') : String(id);
  });
  return names.length ? names.join(', ') : 'nobody (its groups no longer exist)';
}

export function mailingDetailPage(
  view: AdminView,
  input: {
    report: MailingReport;
    count: number | null;
    choices: AudienceChoices;
    notice?: string | undefined;
    previewToken: string;
  },
): SafeHtml {
  const { report } = input;
  const m = report.mailing;
  const base = `/admin/mailings/${m.id}`;
  const editable = m.status === 'draft' || m.status === 'scheduled';
  const percent = (n: number) => (report.sent > 0 ? ` (${((n / report.sent) * 100).toFixed(1)}%)` : '');
  const petitionTitle = input.choices.petitions.find((p) => p.id === m.petition_id)?.title;
  const button = (path: string, label: string, extra: HtmlValue = '', secondary = false) =>
    html`<form method="post" action="${base}/${path}" class="inline-form">
      ${csrfField(view.csrfToken)}${extra}
      <button type="submit" ${secondary ? html`class="secondary"` : ''}>${label}</button>
    </form>`;
  return page(
    view,
    m.name,
    html`<h1>${m.name}</h1>
      ${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
      <p><strong>Status:</strong> ${statusText(m)}</p>
      ${
        view.canEdit
          ? html`<div class="actions">
              ${editable ? html`<a class="button" href="${base}/edit">Edit</a>` : ''}
              ${m.status === 'sending' ? button('pause', 'Pause sending', '', true) : ''}
              ${m.status === 'paused' && m.pause_reason !== 'ab_test' ? button('resume', 'Resume sending') : ''}
              ${['draft', 'scheduled', 'sending', 'paused'].includes(m.status) ? button('cancel', 'Cancel mailing', '', true) : ''}
            </div>`
          : ''
      }
      ${
        view.canEdit && editable
          ? html`<section aria-labelledby="send-heading">
              <h2 id="send-heading">Send</h2>
              <p>
                Exact recipients if sent now:
                <strong>${input.count === null ? 'unknown' : input.count.toLocaleString('en')}</strong>
              </p>
              ${button('schedule', 'Send now', html`<input type="hidden" name="when" value="now" />`)}
              <form method="post" action="${base}/schedule" class="inline-form">
                ${csrfField(view.csrfToken)}
                <label for="at">Or schedule for (UTC)</label>
                <input type="datetime-local" id="at" name="at" required />
                <button type="submit" class="secondary">Schedule</button>
              </form>
            </section>`
          : ''
      }
      ${
        view.canEdit
          ? html`<section aria-labelledby="test-heading">
              <h2 id="test-heading">Test and preview</h2>
              <form method="post" action="${base}/test" class="inline-form">
                ${csrfField(view.csrfToken)}
                <label for="test_to">Send a test to</label>
                <input type="email" id="test_to" name="to" required />
                <label for="test_as">as the person with the address (optional)</label>
                <input type="email" id="test_as" name="as" />
                <button type="submit" class="secondary">Send test</button>
              </form>
              <form method="get" action="${base}/preview" class="inline-form">
                <label for="preview_as">Preview as the person with the address (optional)</label>
                <input type="email" id="preview_as" name="as" />
                <label for="preview_variant">Subject</label>
                <select id="preview_variant" name="variant">
                  <option value="A">A</option>
                  ${m.subject_b ? html`<option value="B">B</option>` : ''}
                </select>
                <button type="submit" class="secondary">Preview</button>
              </form>
            </section>`
          : ''
      }
      <section aria-labelledby="setup-heading">
        <h2 id="setup-heading">Set-up</h2>
        <table>
          <tbody>
            ${row('From', `${m.from_name} <${m.from_address}>`)} ${row('Subject', m.subject)}
            ${m.subject_b ? row('Subject B', `${m.subject_b} (A/B test on ${m.ab_test_percent}% of the audience)`) : ''}
            ${row('Audience', html`${describeAudience(parseAudience(m.audience)).map((line) => html`${line}<br />`)}`)}
            ${m.scope_group_ids ? row('Limited to members of', scopeNames(m.scope_group_ids, input.choices)) : ''}
            ${row('Petition', petitionTitle ?? (m.petition_id ? m.petition_id : 'None'))}
            ${row('Tracking', m.tracking ? 'Opens and clicks' : 'Off')} ${row('Started', m.started_at ?? '—')}
            ${row('Finished', m.finished_at ?? '—')}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="report-heading">
        <h2 id="report-heading">Report</h2>
        <table>
          <caption class="visually-hidden">
            Delivery and engagement
          </caption>
          <tbody>
            ${row('Recipients', report.recipients)}
            ${row('Waiting to send', (report.states.queued ?? 0) + (report.states.held ?? 0))}
            ${row('Skipped (signed, unsubscribed or bounced meanwhile)', report.states.skipped ?? 0)}
            ${row('Sent', report.sent)} ${row('Delivered (where reported)', report.delivered)}
            ${row('Bounced', `${report.bounced}${percent(report.bounced)}`)}
            ${row('Opened', `${report.opened}${percent(report.opened)}`)}
            ${row('Clicked', `${report.clicked}${percent(report.clicked)}`)}
            ${row('Unsubscribed', `${report.unsubscribed}${percent(report.unsubscribed)}`)}
            ${row('Complained', `${report.complained}${percent(report.complained)}`)}
            ${row('Signatures from this mailing', report.signatures)}
          </tbody>
        </table>
        ${
          report.variants.length > 1
            ? html`<h3>A/B test</h3>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Variant</th>
                      <th scope="col">Subject</th>
                      <th scope="col">Sent</th>
                      <th scope="col">Opened</th>
                      <th scope="col">Clicked</th>
                      <th scope="col">Signatures</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${report.variants.map(
                      (v) =>
                        html`<tr>
                          <th scope="row">${v.variant}</th>
                          <td>${v.subject}</td>
                          <td>${v.sent}</td>
                          <td>${v.opened}</td>
                          <td>${v.clicked}</td>
                          <td>${v.signatures}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
                <p>
                  ${
                    report.winner
                      ? html`Winner so far: <strong>${report.winner.variant}</strong> (by
                          ${report.winner.by}).`
                      : 'No winner yet.'
                  }
                  ${m.ab_winner ? html` Sent to the rest: ${m.ab_winner}.` : ''}
                </p>
                ${
                  view.canEdit && (report.states.held ?? 0) > 0
                    ? html`${report.winner ? button('winner', `Send ${report.winner.variant} to the remaining ${report.states.held}`, html`<input type="hidden" name="variant" value="${report.winner.variant}" />`) : ''}
                      ${button('winner', 'Send A to the rest', html`<input type="hidden" name="variant" value="A" />`, true)}
                      ${button('winner', 'Send B to the rest', html`<input type="hidden" name="variant" value="B" />`, true)}`
                    : ''
                }`
            : ''
        }
        ${
          report.hourly.length
            ? html`<h3>Over time (UTC, per hour)</h3>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Hour</th>
                      <th scope="col">Sent</th>
                      <th scope="col">Opens</th>
                      <th scope="col">Clicks</th>
                      <th scope="col">Unsubscribes</th>
                      <th scope="col">Bounces</th>
                      <th scope="col">Complaints</th>
                      <th scope="col">Signatures</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${report.hourly.slice(-72).map(
                      (h) =>
                        html`<tr>
                          <th scope="row">${h.hour.replace('T', ' ')}:00</th>
                          <td>${h.sent}</td>
                          <td>${h.open}</td>
                          <td>${h.click}</td>
                          <td>${h.unsubscribe}</td>
                          <td>${h.bounce}</td>
                          <td>${h.complaint}</td>
                          <td>${h.signatures}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`
            : ''
        }
      </section>
      <p><a href="/admin/mailings">All mailings</a></p>`,
  );
}

export function previewPage(
  view: AdminView,
  input: { mailing: MailingRow; subject: string; text: string; frameUrl: string; as: string | null },
): SafeHtml {
  return page(
    view,
    `Preview: ${input.mailing.name}`,
    html`<h1>Preview: ${input.mailing.name}</h1>
      <p>${input.as ? html`As <strong>${input.as}</strong>.` : 'As a person with no name on file.'}</p>
      <p><strong>Subject:</strong> ${input.subject}</p>
      <h2>HTML</h2>
      <iframe
        src="${input.frameUrl}"
        title="HTML version of the message"
        width="100%"
        height="640"
        sandbox=""
      ></iframe>
      <h2>Plain text</h2>
      <pre>${input.text}</pre>
      <p><a href="/admin/mailings/${input.mailing.id}">Back to the mailing</a></p>`,
  );
}

export function outboxPage(
  view: AdminView,
  input: {
    rows: Array<{ id: string; to_address: string; subject: string; kind: string | null; created_at: string }>;
    total: number;
    smtp: boolean;
  },
): SafeHtml {
  return page(
    view,
    'Local outbox',
    html`<h1>Local outbox</h1>
      <p>
        ${
          input.smtp
            ? 'SMTP_URL is set: email goes to the SMTP server. Messages stored here earlier are kept.'
            : 'SMTP_URL is not set: every email is stored here instead of being sent.'
        }
        ${input.total} message${input.total === 1 ? '' : 's'}.
      </p>
      ${
        input.rows.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">To</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Kind</th>
                </tr>
              </thead>
              <tbody>
                ${input.rows.map(
                  (r) =>
                    html`<tr>
                      <td>${r.created_at.slice(0, 19).replace('T', ' ')}</td>
                      <td>${r.to_address}</td>
                      <td><a href="/admin/outbox/${r.id}">${r.subject}</a></td>
                      <td>${r.kind ?? ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : ''
      }`,
  );
}

export function outboxMessagePage(
  view: AdminView,
  message: { subject: string; to_address: string; raw: string },
): SafeHtml {
  return page(
    view,
    message.subject,
    html`<h1>${message.subject}</h1>
      <p>To ${message.to_address}</p>
      <h2>Message source</h2>
      <pre>${message.raw}</pre>
      <p><a href="/admin/outbox">Back to the outbox</a></p>`,
  );
}
