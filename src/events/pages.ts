import type { CurrentUser } from '../auth/index.ts';
import { html, query, type HtmlValue, type SafeHtml } from '../web/html.ts';
import { adminPage, csrfField, publicPage } from '../web/layout.ts';
import type { PublicLanguage } from '../web/language.ts';
import { languageSwitch, personFormFields, type PersonFieldValues } from '../web/person-fields.ts';
import { eventMessages } from './i18n.ts';
import type { EventCounts, EventInput, RsvpOutcome } from './service.ts';
import type { EventRow, RsvpRow } from './tables.ts';
import { formatEventTime } from './time.ts';

export const EVENTS_CSS = '/events/-/events.css';
const cssLink = html`<link rel="stylesheet" href="${EVENTS_CSS}" />`;

function paragraphs(text: string): SafeHtml[] {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => html`<p>${p}</p>`);
}

function whenWhere(event: EventRow, lang: PublicLanguage = 'en'): SafeHtml {
  const m = eventMessages(lang);
  return html`<dl class="event-meta">
    <dt>${m.when}</dt>
    <dd>${formatEventTime(event.starts_at, event.ends_at, event.time_zone, lang)}</dd>
    ${
      event.place
        ? html`<dt>${m.where}</dt>
            <dd>${event.place}</dd>`
        : ''
    }
    ${
      event.online_url
        ? html`<dt>${m.online}</dt>
            <dd><a href="${event.online_url}" rel="noopener noreferrer">${event.online_url}</a></dd>`
        : ''
    }
  </dl>`;
}

function spacesText(event: EventRow, counts: EventCounts, lang: PublicLanguage): string {
  const m = eventMessages(lang);
  if (counts.spacesLeft === null) return m.going(counts.going);
  if (counts.spacesLeft === 0 || counts.waitlist > 0) return m.full;
  return m.placesLeft(counts.spacesLeft, event.capacity ?? 0);
}

export function eventPublicPage(input: {
  event: EventRow;
  counts: EventCounts;
  url: string;
  error?: string | null;
  values?: PersonFieldValues;
  lang?: PublicLanguage;
}): SafeHtml {
  const { event, counts } = input;
  const lang = input.lang ?? 'en';
  const m = eventMessages(lang);
  const v = input.values ?? {};
  const full = counts.spacesLeft === 0 || (counts.spacesLeft !== null && counts.waitlist > 0);
  const over = Date.parse(event.ends_at) < Date.now();
  const open = event.status === 'published' && !over;
  return publicPage({
    title: event.title,
    lang,
    head: html`<meta name="description" content="${event.description.slice(0, 200)}" />
      <meta property="og:title" content="${event.title}" />
      <meta property="og:url" content="${input.url}" />
      <link rel="canonical" href="${input.url}" />
      ${cssLink}`,
    body: html`${languageSwitch(`/events/${event.slug}`, lang)}
      <article>
        <h1>${event.title}</h1>
        ${event.status === 'cancelled' ? html`<p class="error" role="status">${m.cancelled}</p>` : ''}
        ${over && event.status !== 'cancelled' ? html`<p class="muted">${m.over}</p>` : ''}
        ${whenWhere(event, lang)}
        <p><a href="/events/${event.slug}/event.ics">${m.addToCalendar}</a></p>
        ${paragraphs(event.description)}
        ${
          open
            ? html`<section aria-labelledby="rsvp-heading">
                <h2 id="rsvp-heading">${full ? m.joinWaitlist : m.rsvp}</h2>
                <p>${spacesText(event, counts, lang)}</p>
                ${input.error ? html`<p class="error" role="alert" id="rsvp-error">${input.error}</p>` : ''}
                <form method="post" action="/events/${event.slug}/rsvp" class="rsvp-form">
                  ${personFormFields({
                    prefix: 'rsvp',
                    values: v,
                    errorId: input.error ? 'rsvp-error' : undefined,
                    subscribeLabel: m.subscribe,
                    lang,
                  })}
                  <p><button type="submit">${full ? m.joinWaitlist : m.rsvp}</button></p>
                </form>
              </section>`
            : ''
        }
      </article>`,
  });
}

export function rsvpDonePage(event: EventRow, outcome: RsvpOutcome, lang: PublicLanguage = 'en'): SafeHtml {
  const m = eventMessages(lang);
  const [heading, text] = m.done[outcome.status];
  return publicPage({
    title: `${heading} · ${event.title}`,
    lang,
    head: cssLink,
    body: html`<h1>${heading}</h1>
      <p role="status">${text}</p>
      ${whenWhere(event, lang)}
      <p><a href="/events/${event.slug}?lang=${lang}">${m.backTo(event.title)}</a></p>`,
  });
}

export function cancelPage(input: {
  event: EventRow;
  rsvp: RsvpRow;
  token: string;
  done?: boolean;
  lang?: PublicLanguage;
}): SafeHtml {
  const { event, rsvp } = input;
  const lang = input.lang ?? 'en';
  const m = eventMessages(lang);
  const cancelled = rsvp.status === 'cancelled' || input.done;
  return publicPage({
    title: `${m.cancelTitle} · ${event.title}`,
    lang,
    head: cssLink,
    body: html`<h1>${event.title}</h1>
      ${whenWhere(event, lang)}
      ${
        cancelled
          ? html`<p role="status">${m.cancelledRsvp}</p>
              <p><a href="/events/${event.slug}?lang=${lang}">${m.rsvpAgain}</a></p>`
          : html`<p>${m.youAre(rsvp.status === 'going')} ${rsvp.email}.</p>
              <form method="post" action="/events/rsvp/cancel?lang=${lang}">
                <input type="hidden" name="token" value="${input.token}" />
                <button type="submit">${m.cancelButton}</button>
              </form>`
      }`,
  });
}

/* ---------------- admin ---------------- */

export interface AdminContext {
  user: CurrentUser;
  orgName: string;
  canEdit: boolean;
}

function admin(c: AdminContext, title: string, body: HtmlValue): SafeHtml {
  return adminPage({
    title,
    section: 'events',
    user: c.user,
    csrfToken: c.user.csrfToken,
    orgName: c.orgName,
    head: cssLink,
    body,
  });
}

export function eventsListPage(
  c: AdminContext,
  events: { event: EventRow; counts: EventCounts; groupName: string | null }[],
): SafeHtml {
  return admin(
    c,
    'Events',
    html`<h1>Events</h1>
      ${c.canEdit ? html`<p><a class="button" href="/admin/events/new">New event</a></p>` : ''}
      ${
        events.length === 0
          ? html`<p>No events yet.</p>`
          : html`<table>
              <caption class="visually-hidden">
                Events
              </caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">When</th>
                  <th scope="col">Group</th>
                  <th scope="col">Going</th>
                  <th scope="col">Waitlist</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                ${events.map(
                  ({ event, counts, groupName }) =>
                    html`<tr>
                      <td><a href="/admin/events/${event.id}">${event.title}</a></td>
                      <td>${formatEventTime(event.starts_at, event.ends_at, event.time_zone)}</td>
                      <td>${groupName ?? '—'}</td>
                      <td>${counts.going}${event.capacity !== null ? ` / ${event.capacity}` : ''}</td>
                      <td>${counts.waitlist}</td>
                      <td>${event.status}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export function eventFormPage(
  c: AdminContext,
  input: {
    event?: EventRow;
    values: Partial<EventInput>;
    groups: { id: string; name: string }[];
    allowNoGroup: boolean;
    error?: string | null;
  },
): SafeHtml {
  const v = input.values;
  const action = input.event ? `/admin/events/${input.event.id}` : '/admin/events';
  const field = (id: string, label: string, control: SafeHtml, hint?: string) =>
    html`<p>
      <label for="${id}">${label}</label>
      ${hint ? html`<span class="muted" id="${id}-hint">${hint}</span>` : ''} ${control}
    </p>`;
  return admin(
    c,
    input.event ? `Edit ${input.event.title}` : 'New event',
    html`<h1>${input.event ? `Edit ${input.event.title}` : 'New event'}</h1>
      ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
      <form method="post" action="${action}">
        ${csrfField(c.user.csrfToken)}
        ${field('ev-title', 'Title', html`<input id="ev-title" name="title" type="text" required maxlength="200" value="${v.title ?? ''}" />`)}
        ${field('ev-slug', 'Address (optional)', html`<input id="ev-slug" name="slug" type="text" maxlength="80" aria-describedby="ev-slug-hint" value="${v.slug ?? ''}" />`, 'lower-case letters, digits and dashes; made from the title when empty')}
        ${field('ev-description', 'Description', html`<textarea id="ev-description" name="description" rows="6">${v.description ?? ''}</textarea>`)}
        ${field('ev-starts', 'Starts', html`<input id="ev-starts" name="starts_local" type="datetime-local" required value="${v.startsLocal ?? ''}" />`)}
        ${field('ev-ends', 'Ends', html`<input id="ev-ends" name="ends_local" type="datetime-local" required value="${v.endsLocal ?? ''}" />`)}
        ${field('ev-tz', 'Time zone', html`<input id="ev-tz" name="time_zone" type="text" required aria-describedby="ev-tz-hint" value="${v.timeZone ?? ''}" />`, 'IANA name, e.g. America/Los_Angeles')}
        ${field('ev-place', 'Place', html`<input id="ev-place" name="place" type="text" maxlength="500" value="${v.place ?? ''}" />`)}
        ${field('ev-online', 'Online link', html`<input id="ev-online" name="online_url" type="url" value="${v.onlineUrl ?? ''}" />`)}
        ${field('ev-capacity', 'Capacity', html`<input id="ev-capacity" name="capacity" type="number" min="1" aria-describedby="ev-capacity-hint" value="${v.capacity ?? ''}" />`, 'empty for no limit; when full, people join a waitlist')}
        ${field(
          'ev-group',
          'Group',
          html`<select id="ev-group" name="group_id">
            ${input.allowNoGroup ? html`<option value="">No group (whole organisation)</option>` : ''}
            ${input.groups.map(
              (g) => html`<option value="${g.id}" ${g.id === v.groupId ? 'selected' : ''}>${g.name}</option>`,
            )}
          </select>`,
        )}
        ${field(
          'ev-status',
          'Status',
          html`<select id="ev-status" name="status">
            <option value="published" ${v.status !== 'cancelled' ? 'selected' : ''}>Published</option>
            <option value="cancelled" ${v.status === 'cancelled' ? 'selected' : ''}>Cancelled</option>
          </select>`,
        )}
        <p><button type="submit">Save event</button></p>
      </form>`,
  );
}

export function eventAdminPage(
  c: AdminContext,
  input: { event: EventRow; counts: EventCounts; rsvps: RsvpRow[]; url: string; groupName: string | null },
): SafeHtml {
  const { event, counts } = input;
  return admin(
    c,
    event.title,
    html`<h1>${event.title}</h1>
      ${whenWhere(event)}
      <p>Group: ${input.groupName ?? 'whole organisation'} · Status: ${event.status}</p>
      <p>Public page: <a href="${input.url}">${input.url}</a></p>
      <ul>
        <li>Going: ${counts.going}${event.capacity !== null ? ` of ${event.capacity}` : ''}</li>
        <li>Waitlist: ${counts.waitlist}</li>
        <li>Cancelled: ${counts.cancelled}</li>
        <li>Checked in: ${counts.checkedIn}</li>
      </ul>
      <p>
        ${c.canEdit ? html`<a class="button" href="/admin/events/${event.id}/edit">Edit</a>` : ''}
        <a class="button" href="/admin/events/${event.id}/check-in">Check-in (mobile)</a>
        <a class="button" href="/admin/events/${event.id}/check-in/print">Printable list</a>
        <a class="button" href="/admin/events/${event.id}/rsvps.csv">Download RSVPs (CSV)</a>
      </p>
      <h2>RSVPs</h2>
      ${
        input.rsvps.length === 0
          ? html`<p>No RSVPs yet.</p>`
          : html`<table>
              <caption class="visually-hidden">
                RSVPs
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Status</th>
                  <th scope="col">Checked in</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                ${input.rsvps.map(
                  (r) =>
                    html`<tr>
                      <td><a href="/admin/people/${r.person_id}">${displayName(r)}</a></td>
                      <td>${r.email}</td>
                      <td>${r.status}</td>
                      <td>${r.checked_in_at ? 'yes' : ''}</td>
                      <td>${r.created_at.slice(0, 16).replace('T', ' ')}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

function displayName(r: Pick<RsvpRow, 'given_name' | 'family_name' | 'email'>): string {
  return [r.given_name, r.family_name].filter(Boolean).join(' ') || r.email;
}

function checkInText(counts: EventCounts, notice?: string | null): string {
  return `${notice ? `${notice} ` : ''}${counts.checkedIn} of ${counts.going} checked in.`;
}

export function checkInPage(
  c: AdminContext,
  input: { event: EventRow; counts: EventCounts; rsvps: RsvpRow[]; q: string; notice?: string | null },
): SafeHtml {
  const { event } = input;
  return admin(
    c,
    `Check-in · ${event.title}`,
    html`<h1>Check-in: ${event.title}</h1>
      <p role="status">${checkInText(input.counts, input.notice)}</p>
      <form method="get" action="/admin/events/${event.id}/check-in" class="filters no-print">
        <label for="ci-q">Find a name or email</label>
        <input id="ci-q" name="q" type="search" value="${input.q}" />
        <button type="submit">Find</button>
      </form>
      <ul class="check-in-list">
        ${input.rsvps.map(
          (r) =>
            html`<li id="rsvp-${r.id}">
              <span>
                <strong>${displayName(r)}</strong><br />
                <span class="muted">${r.email}</span>
                ${r.checked_in_at ? html`<br /><span class="checked">Checked in</span>` : ''}
              </span>
              <form
                method="post"
                action="/admin/events/${event.id}/rsvps/${r.id}/check-in${query({ q: input.q })}"
              >
                ${csrfField(c.user.csrfToken)}
                <input type="hidden" name="checked" value="${r.checked_in_at ? '0' : '1'}" />
                <button
                  type="submit"
                  class="${r.checked_in_at ? 'secondary' : ''}"
                  aria-label="${r.checked_in_at ? 'Undo check-in of' : 'Check in'} ${displayName(r)}"
                >
                  ${r.checked_in_at ? 'Undo' : 'Check in'}
                </button>
              </form>
            </li>`,
        )}
      </ul>
      <p class="no-print"><a href="/admin/events/${event.id}">Back to the event</a></p>`,
  );
}

export function printListPage(c: AdminContext, input: { event: EventRow; rsvps: RsvpRow[] }): SafeHtml {
  const { event } = input;
  return admin(
    c,
    `Sign-in sheet · ${event.title}`,
    html`<h1>${event.title}</h1>
      <p>
        ${formatEventTime(event.starts_at, event.ends_at, event.time_zone)}${event.place ? ` · ${event.place}` : ''}
      </p>
      <p class="no-print">Print this page (Ctrl+P) for a paper check-in list.</p>
      <table class="print-list">
        <caption>
          People going (${input.rsvps.length})
        </caption>
        <thead>
          <tr>
            <th scope="col">Here</th>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
          </tr>
        </thead>
        <tbody>
          ${input.rsvps.map(
            (r) =>
              html`<tr>
                <td class="box">${r.checked_in_at ? '✓' : ''}</td>
                <td>${displayName(r)}</td>
                <td>${r.email}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
  );
}
