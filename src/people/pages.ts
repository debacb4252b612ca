import { html, query, type HtmlValue, type SafeHtml } from '../web/html.ts';
import { adminPage, type LayoutUser } from '../web/layout.ts';
import type { ImportStatus } from './import/service.ts';
import { importFieldLabels } from './import/mapping.ts';
import type { PeopleFilters, PeoplePage, PersonDetail } from './service.ts';

export interface PageContext {
  user: LayoutUser;
  csrfToken: string;
  orgName: string;
  timeZone: string;
  canExport: boolean;
}

function when(iso: string, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(
      new Date(iso),
    );
  } catch {
    return iso;
  }
}

function time(iso: string, timeZone: string): SafeHtml {
  return html`<time datetime="${iso}">${when(iso, timeZone)}</time>`;
}

function fullName(p: { givenName: string | null; familyName: string | null }): string {
  return [p.givenName, p.familyName].filter(Boolean).join(' ');
}

function page(ctx: PageContext, title: string, section: string, body: HtmlValue, head?: HtmlValue): SafeHtml {
  return adminPage({
    title,
    body,
    user: ctx.user,
    csrfToken: ctx.csrfToken,
    section,
    orgName: ctx.orgName,
    head,
  });
}

const statusLabels: Record<string, string> = {
  subscribed: 'subscribed',
  unsubscribed: 'not subscribed',
  bouncing: 'bouncing',
  complained: 'complained (spam report)',
};

export function peopleListPage(ctx: PageContext, filters: PeopleFilters, result: PeoplePage): SafeHtml {
  const filterParams = { q: filters.q, tag: filters.tag, postal_code: filters.postalCode };
  const filtered = Boolean(filters.q || filters.tag || filters.postalCode);
  const link = (n: number) => `/admin/people${query({ ...filterParams, page: n > 1 ? n : undefined })}`;
  const first = result.total === 0 ? 0 : (result.page - 1) * result.perPage + 1;
  const last = Math.min(result.total, result.page * result.perPage);
  return page(
    ctx,
    'People',
    'people',
    html`<h1>People</h1>
      <form method="get" action="/admin/people" class="filters" role="search" aria-label="Find people">
        <label for="q">Name or email</label>
        <input id="q" name="q" type="search" value="${filters.q ?? ''}" />
        <label for="tag">Tag</label>
        <input id="tag" name="tag" type="text" value="${filters.tag ?? ''}" />
        <label for="postal_code">Postal code</label>
        <input id="postal_code" name="postal_code" type="text" value="${filters.postalCode ?? ''}" />
        <button type="submit">Search</button>
        ${filtered ? html`<a href="/admin/people">Clear</a>` : ''}
      </form>
      <p role="status">
        ${
          result.total === 0
            ? filtered
              ? 'Nobody matches this search.'
              : 'No people yet.'
            : `Showing ${first}–${last} of ${result.total} ${result.total === 1 ? 'person' : 'people'}${filtered ? ' matching' : ''}.`
        }
        ${
          ctx.canExport && result.total > 0
            ? html` <a href="/admin/people/export.csv${query(filterParams)}" download
                >Download
                ${result.total === 1 ? 'this person' : `${filtered ? 'these' : 'all'} ${result.total} people`}
                as CSV</a
              >`
            : ''
        }
      </p>
      ${
        result.total > 0
          ? html`<table>
              <caption class="visually-hidden">
                People, page ${result.page} of ${result.pages}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Email status</th>
                  <th scope="col">Postal code</th>
                  <th scope="col">Tags</th>
                  <th scope="col">Added</th>
                </tr>
              </thead>
              <tbody>
                ${result.people.map(
                  (p) =>
                    html`<tr>
                      <td><a href="/admin/people/${p.id}">${fullName(p) || p.email || '(no name)'}</a></td>
                      <td>${p.email}</td>
                      <td>${p.emailStatus ? statusLabels[p.emailStatus] : ''}</td>
                      <td>${p.postalCode}</td>
                      <td>${p.tags.join(', ')}</td>
                      <td>${time(p.createdAt, ctx.timeZone)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : ''
      }
      ${
        result.pages > 1
          ? html`<nav class="pager" aria-label="Pages">
              ${result.page > 1 ? html`<a href="${link(result.page - 1)}" rel="prev">Previous page</a>` : ''}
              <span aria-current="page">Page ${result.page} of ${result.pages}</span>
              ${result.page < result.pages ? html`<a href="${link(result.page + 1)}" rel="next">Next page</a>` : ''}
            </nav>`
          : ''
      }`,
  );
}

export function personPage(ctx: PageContext, person: PersonDetail): SafeHtml {
  const name = fullName(person) || person.emails[0]?.address || 'Person';
  const customEntries = Object.entries(person.customFields);
  return page(
    ctx,
    name,
    'people',
    html`<p><a href="/admin/people">← All people</a></p>
      <h1>${name}</h1>
      ${
        ctx.user.role === 'owner' || ctx.user.role === 'admin'
          ? html`<p><a href="/admin/people/${person.id}/privacy">Personal data: export or erase</a></p>`
          : ''
      }
      <p class="muted">
        Added ${time(person.createdAt, ctx.timeZone)}${person.source ? ` from ${person.source}` : ''}; last
        changed
        ${time(person.updatedAt, ctx.timeZone)}.${person.language ? ` Language: ${person.language}.` : ''}
      </p>

      <h2>Email</h2>
      ${
        person.emails.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">Address</th>
                  <th scope="col">Status</th>
                  <th scope="col">Primary</th>
                </tr>
              </thead>
              <tbody>
                ${person.emails.map(
                  (e) =>
                    html`<tr>
                      <td>${e.address}</td>
                      <td>${statusLabels[e.status] ?? e.status}</td>
                      <td>${e.primary ? 'yes' : 'no'}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>No email address.</p>`
      }

      <h2>Address</h2>
      ${
        person.addresses.length
          ? person.addresses.map(
              (a) =>
                html`<address>
                  ${[a.street, a.locality, a.region, a.postalCode, a.country]
                    .filter(Boolean)
                    .map((part, i) => html`${i ? html`<br />` : ''}${part}`)}
                </address>`,
            )
          : html`<p>No address.</p>`
      }

      <h2>Phone</h2>
      ${
        person.phones.length
          ? html`<ul>
              ${person.phones.map((p) => html`<li>${p.number}${p.primary ? ' (primary)' : ''}</li>`)}
            </ul>`
          : html`<p>No phone number.</p>`
      }

      <h2>Tags</h2>
      ${
        person.tags.length
          ? html`<ul>
              ${person.tags.map((t) => html`<li><a href="/admin/people${query({ tag: t })}">${t}</a></li>`)}
            </ul>`
          : html`<p>No tags.</p>`
      }

      <h2>Lists</h2>
      ${
        person.lists.length
          ? html`<ul>
              ${person.lists.map((l) => html`<li>${l}</li>`)}
            </ul>`
          : html`<p>Not on any list.</p>`
      }

      <h2>Custom fields</h2>
      ${
        customEntries.length
          ? html`<dl>
              ${customEntries.map(
                ([key, value]) =>
                  html`<dt>${key}</dt>
                    <dd>${String(value)}</dd>`,
              )}
            </dl>`
          : html`<p>None.</p>`
      }

      <h2>Consents</h2>
      ${
        person.consents.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">What</th>
                  <th scope="col">Given</th>
                  <th scope="col">Email</th>
                  <th scope="col">Source</th>
                  <th scope="col">IP address</th>
                  <th scope="col">When</th>
                </tr>
              </thead>
              <tbody>
                ${person.consents.map(
                  (c) =>
                    html`<tr>
                      <td>${c.what}</td>
                      <td>${c.granted ? 'yes' : 'withdrawn'}</td>
                      <td>${c.email}</td>
                      <td>${c.source}</td>
                      <td>${c.ip}</td>
                      <td>${time(c.createdAt, ctx.timeZone)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>No consent recorded.</p>`
      }

      <h2>Timeline</h2>
      ${
        person.activity.length
          ? html`<ol class="timeline" reversed>
              ${person.activity.map(
                (a) =>
                  html`<li>
                    ${time(a.createdAt, ctx.timeZone)} — ${a.summary} <span class="muted">(${a.kind})</span>
                  </li>`,
              )}
            </ol>`
          : html`<p>Nothing yet.</p>`
      }`,
  );
}

export function newImportPage(
  ctx: PageContext,
  recent: ImportStatus[],
  maxUploadMb: number,
  error?: string,
): SafeHtml {
  return page(
    ctx,
    'Import people',
    'import',
    html`<h1>Import people from a CSV file</h1>
      ${error ? html`<p role="alert">${error}</p>` : ''}
      <p>
        The first row must name the columns. Columns called "email", "first name", "last name", "phone",
        "address", "city", "state", "zip" or "postcode", "country", "language" and "tags" are recognised.
        People whose email is already known are merged: blanks are filled in, nothing is overwritten. Largest
        file: ${maxUploadMb} MB.
      </p>
      <form
        method="post"
        action="/admin/imports${query({ _csrf: ctx.csrfToken })}"
        enctype="multipart/form-data"
      >
        <p>
          <label for="file">CSV file</label>
          <input id="file" name="file" type="file" accept=".csv,text/csv" required />
        </p>
        <p>
          <label for="tags">Tags for everyone in the file</label>
          <input id="tags" name="tags" type="text" aria-describedby="tags-hint" />
          <span id="tags-hint" class="muted">Separate several tags with commas.</span>
        </p>
        <p>
          <input id="subscribe" name="subscribe" type="checkbox" value="yes" />
          <label for="subscribe">These people agreed to receive email from us</label>
        </p>
        <p>
          <input id="customFields" name="customFields" type="checkbox" value="yes" />
          <label for="customFields"
            >Keep unrecognised columns as custom fields (otherwise they are ignored)</label
          >
        </p>
        <p><button type="submit">Upload and import</button></p>
      </form>
      ${
        recent.length
          ? html`<h2>Recent imports</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">File</th>
                    <th scope="col">Status</th>
                    <th scope="col">Rows</th>
                    <th scope="col">Started</th>
                  </tr>
                </thead>
                <tbody>
                  ${recent.map(
                    (i) =>
                      html`<tr>
                        <td><a href="/admin/imports/${i.id}">${i.filename}</a></td>
                        <td>${i.status}</td>
                        <td>${i.processedRows}</td>
                        <td>${time(i.createdAt, ctx.timeZone)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }`,
  );
}

const importStateLabels: Record<string, string> = {
  queued: 'Waiting to start',
  running: 'Importing',
  done: 'Finished',
  failed: 'Stopped',
};

export function importStatusPage(ctx: PageContext, status: ImportStatus): SafeHtml {
  const active = status.status === 'queued' || status.status === 'running';
  const percent = status.totalBytes > 0 ? Math.floor((status.processedBytes / status.totalBytes) * 100) : 0;
  const used = status.columns?.columns.filter((c) => c.field !== 'ignore') ?? [];
  return page(
    ctx,
    `Import of ${status.filename}`,
    'import',
    html`<h1>Import of ${status.filename}</h1>
      <p role="status">
        <strong>${importStateLabels[status.status] ?? status.status}.</strong>
        ${status.message ?? ''} ${active ? ' This page refreshes itself every few seconds.' : ''}
      </p>
      ${
        active
          ? html`<p>
              <label for="progress">Progress</label>
              <progress id="progress" max="100" value="${percent}">${percent}%</progress> ${percent}%
            </p>`
          : ''
      }
      <dl>
        <dt>Rows read</dt>
        <dd>${status.processedRows}</dd>
        <dt>New people</dt>
        <dd>${status.createdRows}</dd>
        <dt>Merged into people already known</dt>
        <dd>${status.mergedRows}</dd>
        <dt>Rows with errors</dt>
        <dd>${status.errorRows}</dd>
        <dt>Tags applied</dt>
        <dd>
          ${
            status.tags.length
              ? status.tags.map(
                  (t, i) => html`${i ? ', ' : ''}<a href="/admin/people${query({ tag: t })}">${t}</a>`,
                )
              : 'none'
          }
        </dd>
        <dt>Subscribed to email</dt>
        <dd>${status.subscribe ? 'yes (the organiser confirmed consent)' : 'no'}</dd>
      </dl>
      ${
        used.length
          ? html`<h2>Columns</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Column in the file</th>
                    <th scope="col">Imported as</th>
                  </tr>
                </thead>
                <tbody>
                  ${used.map(
                    (c) =>
                      html`<tr>
                        <td>${c.header}</td>
                        <td>
                          ${
                            c.field.startsWith('custom:')
                              ? `custom field "${c.field.slice(7)}"`
                              : (importFieldLabels[c.field] ?? c.field)
                          }
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }
      ${
        status.columns?.ignored.length
          ? html`<p>Ignored columns: ${status.columns.ignored.join(', ')}.</p>`
          : ''
      }
      ${
        status.errors.length
          ? html`<h2>Rows with errors</h2>
              ${
                status.errorRows > status.errors.length
                  ? html`<p>The first ${status.errors.length} of ${status.errorRows} are listed.</p>`
                  : ''
              }
              <table>
                <thead>
                  <tr>
                    <th scope="col">Line</th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  ${status.errors.map(
                    (e) =>
                      html`<tr>
                        <td>${e.line}</td>
                        <td>${e.message}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }
      <p><a href="/admin/imports/new">Import another file</a> · <a href="/admin/people">People</a></p>`,
    active ? html`<meta http-equiv="refresh" content="3" />` : '',
  );
}
