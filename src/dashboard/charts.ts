import { html, type SafeHtml } from '../web/html.ts';

/*
 * Charts drawn on the server as SVG: readable without JavaScript, each with a title and a
 * description for screen readers, and a data table beside it (see pages.ts).
 */

export interface Point {
  label: string;
  value: number;
}

const W = 640;
const H = 220;
const PAD = { top: 16, right: 16, bottom: 36, left: 56 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

function round(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function frame(id: string, title: string, description: string, body: SafeHtml): SafeHtml {
  return html`<svg
    class="chart"
    viewBox="0 0 ${W} ${H}"
    width="100%"
    role="img"
    aria-labelledby="${id}-title ${id}-desc"
    xmlns="http://www.w3.org/2000/svg"
  >
    <title id="${id}-title">${title}</title>
    <desc id="${id}-desc">${description}</desc>
    ${body}
  </svg>`;
}

function axes(max: number, first: string, last: string): SafeHtml {
  const bottom = H - PAD.bottom;
  return html`<g font-size="12" fill="#333">
    <line x1="${PAD.left}" y1="${bottom}" x2="${W - PAD.right}" y2="${bottom}" stroke="#555" />
    <line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${bottom}" stroke="#555" />
    <text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${max.toLocaleString('en')}</text>
    <text x="${PAD.left - 6}" y="${bottom}" text-anchor="end">0</text>
    <text x="${PAD.left}" y="${H - 12}">${first}</text>
    <text x="${W - PAD.right}" y="${H - 12}" text-anchor="end">${last}</text>
  </g>`;
}

/** Vertical bars, one per point (e.g. per day). */
export function barChart(id: string, title: string, points: readonly Point[]): SafeHtml {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = points.length ? plotW / points.length : plotW;
  const total = points.reduce((sum, p) => sum + p.value, 0);
  const peak = points.reduce<Point | null>((best, p) => (!best || p.value > best.value ? p : best), null);
  const description = points.length
    ? `${points.length} bars from ${points[0]!.label} to ${points[points.length - 1]!.label}; total ${total.toLocaleString('en')}${peak && peak.value > 0 ? `, highest ${peak.value.toLocaleString('en')} on ${peak.label}` : ''}.`
    : 'No data yet.';
  const bars = points.map((p, i) => {
    const h = (p.value / max) * plotH;
    return html`<rect
      x="${round(PAD.left + i * slot + slot * 0.1)}"
      y="${round(H - PAD.bottom - h)}"
      width="${round(Math.max(1, slot * 0.8))}"
      height="${round(h)}"
      fill="#1d5fa8"
      ><title>${p.label}: ${p.value.toLocaleString('en')}</title></rect
    >`;
  });
  return frame(
    id,
    title,
    description,
    html`${axes(max, points[0]?.label ?? '', points[points.length - 1]?.label ?? '')}${bars}`,
  );
}

/** A line (e.g. a running total over time). */
export function lineChart(id: string, title: string, points: readonly Point[]): SafeHtml {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = points.length > 1 ? plotW / (points.length - 1) : 0;
  const xy = points.map(
    (p, i) => `${round(PAD.left + i * step)},${round(H - PAD.bottom - (p.value / max) * plotH)}`,
  );
  const description = points.length
    ? `From ${points[0]!.value.toLocaleString('en')} on ${points[0]!.label} to ${points[points.length - 1]!.value.toLocaleString('en')} on ${points[points.length - 1]!.label}.`
    : 'No data yet.';
  return frame(
    id,
    title,
    description,
    html`${axes(max, points[0]?.label ?? '', points[points.length - 1]?.label ?? '')}
      <polyline points="${xy.join(' ')}" fill="none" stroke="#1d5fa8" stroke-width="2.5" />`,
  );
}

/** Horizontal bars with their labels (rankings, funnels). */
export function rankChart(id: string, title: string, points: readonly Point[]): SafeHtml {
  const rowH = 28;
  const height = Math.max(40, points.length * rowH + 8);
  const labelW = 220;
  const max = Math.max(1, ...points.map((p) => p.value));
  const description = points.length
    ? points.map((p) => `${p.label}: ${p.value.toLocaleString('en')}`).join('; ')
    : 'No data yet.';
  return html`<svg
    class="chart"
    viewBox="0 0 ${W} ${height}"
    width="100%"
    role="img"
    aria-labelledby="${id}-title ${id}-desc"
    xmlns="http://www.w3.org/2000/svg"
  >
    <title id="${id}-title">${title}</title>
    <desc id="${id}-desc">${description}</desc>
    <g font-size="13" fill="#222">
      ${points.map((p, i) => {
        const w = ((W - labelW - 80) * p.value) / max;
        const y = 4 + i * rowH;
        const label = p.label.length > 32 ? `${p.label.slice(0, 31)}…` : p.label;
        return html`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${label}</text>
          <rect
            x="${labelW}"
            y="${y + 4}"
            width="${round(Math.max(1, w))}"
            height="${rowH - 8}"
            fill="#1d5fa8"
          />
          <text x="${round(labelW + Math.max(1, w) + 6)}" y="${y + 17}"
            >${p.value.toLocaleString('en')}</text
          >`;
      })}
    </g>
  </svg>`;
}
