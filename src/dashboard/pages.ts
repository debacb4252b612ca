import type { CurrentUser } from '../auth/index.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { adminPage } from '../web/layout.ts';
import { barChart, lineChart, rankChart, type Point } from './charts.ts';
import type { Dashboard } from './service.ts';

export const DASHBOARD_CSS = '/admin/dashboard/dashboard.css';

/** Each chart's data as rows (the table beside the chart and its CSV download). */
export function chartTables(
  d: Dashboard,
): Record<string, { title: string; columns: string[]; rows: (string | number)[][] }> {
  return {
    supporters: {
      title: 'Supporters over time',
      columns: ['day', 'new', 'total'],
      rows: d.supporters.newPerDay.map((n, i) => [n.day, n.total, d.supporters.runningTotal[i]!.total]),
    },
    signatures: {
      title: 'Signatures per day (all petitions)',
      columns: ['day', 'signatures'],
      rows: d.signaturesPerDay.map((s) => [s.day, s.total]),
    },
    petitions: {
      title: 'Top petitions',
      columns: ['petition', 'signatures', 'confirmed'],
      rows: d.topPetitions.map((p) => [p.title, p.total, p.confirmed]),
    },
    sources: {
      title: 'Top sources of signatures',
      columns: ['source', 'signatures'],
      rows: d.topSources.map((s) => [s.source, s.total]),
    },
    funnel: {
      title: 'Mailings funnel',
      columns: ['step', 'people'],
      rows: [
        ['sent', d.funnel.sent],
        ['opened', d.funnel.opened],
        ['clicked', d.funnel.clicked],
        ['signed', d.funnel.signed],
      ],
    },
    groups: {
      title: 'Members per group',
      columns: ['group', 'level', 'members'],
      rows: d.groups.map((g) => [g.name, g.level, g.members]),
    },
  };
}

function dataTable(
  id: string,
  table: { title: string; columns: string[]; rows: (string | number)[][] },
): SafeHtml {
  return html`<details>
      <summary>Show the numbers as a table</summary>
      <table>
        <caption>
          ${table.title}
        </caption>
        <thead>
          <tr>
            ${table.columns.map((c) => html`<th scope="col">${c}</th>`)}
          </tr>
        </thead>
        <tbody>
          ${table.rows.map(
            (row) =>
              html`<tr>
                ${row.map((cell) => html`<td>${typeof cell === 'number' ? cell.toLocaleString('en') : cell}</td>`)}
              </tr>`,
          )}
        </tbody>
      </table>
    </details>
    <p><a href="/admin/dashboard/${id}.csv" download>Download ${table.title.toLowerCase()} (CSV)</a></p>`;
}

/** The funnel and the groups' members are counted every few minutes, not on each view. */
function storedNote(d: Dashboard): string {
  const at = d.storedAt.slice(0, 16).replace('T', ' ');
  return `Counted at ${at} UTC; counted again every few minutes.`;
}

function section(id: string, heading: string, chart: SafeHtml, table: SafeHtml, note?: string): SafeHtml {
  return html`<section class="dash-card" aria-labelledby="h-${id}">
    <h2 id="h-${id}">${heading}</h2>
    ${note ? html`<p class="muted">${note}</p>` : ''} ${chart} ${table}
  </section>`;
}

export function dashboardPage(input: {
  user: CurrentUser;
  orgName: string;
  dashboard: Dashboard;
  sections: readonly { href: string; label: string; text: string }[];
}): SafeHtml {
  const d = input.dashboard;
  const tables = chartTables(d);
  const days = (points: { day: string; total: number }[]): Point[] =>
    points.map((p) => ({ label: p.day.slice(5), value: p.total }));
  return adminPage({
    title: 'Home',
    section: 'home',
    user: input.user,
    csrfToken: input.user.csrfToken,
    orgName: input.orgName,
    head: html`<link rel="stylesheet" href="${DASHBOARD_CSS}" />`,
    body: html`<h1>Welcome${input.user.displayName ? html`, ${input.user.displayName}` : ''}</h1>
      <nav aria-label="Shortcuts">
        <ul class="shortcuts">
          ${input.sections.map((s) => html`<li><a href="${s.href}">${s.label}</a>: ${s.text}</li>`)}
        </ul>
      </nav>
      <section aria-labelledby="h-numbers">
        <h2 id="h-numbers">At a glance</h2>
        <dl class="stats">
          <div>
            <dt>Supporters</dt>
            <dd>${d.supporters.total.toLocaleString('en')}</dd>
          </div>
          <div>
            <dt>New this week</dt>
            <dd>${d.supporters.newThisWeek.toLocaleString('en')}</dd>
          </div>
          <div>
            <dt>Signatures</dt>
            <dd>${d.signaturesTotal.toLocaleString('en')}</dd>
          </div>
          <div>
            <dt>Upcoming events</dt>
            <dd>${d.upcomingEvents.toLocaleString('en')}</dd>
          </div>
        </dl>
      </section>
      <div class="dash-grid">
        ${section(
          'supporters',
          'Supporters over time',
          lineChart(
            'chart-supporters',
            `Supporters over the last ${d.days} days`,
            days(d.supporters.runningTotal),
          ),
          dataTable('supporters', tables.supporters!),
        )}
        ${section(
          'signatures',
          'Signatures per day',
          barChart(
            'chart-signatures',
            `Signatures per day across petitions, last ${d.days} days`,
            days(d.signaturesPerDay),
          ),
          dataTable('signatures', tables.signatures!),
        )}
        ${section(
          'petitions',
          'Top petitions',
          rankChart(
            'chart-petitions',
            'Signatures per petition',
            d.topPetitions.map((p) => ({ label: p.title, value: p.total })),
          ),
          dataTable('petitions', tables.petitions!),
        )}
        ${section(
          'sources',
          'Top sources',
          rankChart(
            'chart-sources',
            'Signatures per source',
            d.topSources.map((s) => ({ label: s.source, value: s.total })),
          ),
          dataTable('sources', tables.sources!),
          `Where the last ${d.days} days' signatures came from: mailings, share links, partner sites.`,
        )}
        ${section(
          'funnel',
          'Mailings funnel',
          rankChart(
            'chart-funnel',
            'Mailings: sent, opened, clicked, signed',
            tables.funnel!.rows.map(([step, n]) => ({ label: String(step), value: Number(n) })),
          ),
          dataTable('funnel', tables.funnel!),
          `Across ${d.funnel.mailings} sent mailing${d.funnel.mailings === 1 ? '' : 's'}. ${storedNote(d)}`,
        )}
        ${section(
          'groups',
          'Groups',
          rankChart(
            'chart-groups',
            'Members per group',
            d.groups.map((g) => ({ label: `${'· '.repeat(g.depth)}${g.name}`, value: g.members })),
          ),
          dataTable('groups', tables.groups!),
          `Members joined, matched by the group's rules or signers of its petitions. ${storedNote(d)}`,
        )}
      </div>`,
  });
}
