import { html, type SafeHtml } from '../web/html.ts';
import { publicPage } from '../web/layout.ts';

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string }>;
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  info: { title: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
}

/** A readable list of every operation in the OpenAPI document, server-rendered (no scripts, no CDN). */
export function docsPage(doc: OpenApiDocument, orgName: string): SafeHtml {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );
  const groups = new Map<string, typeof operations>();
  for (const item of operations) {
    const tag = item.op.tags?.[0] ?? 'other';
    const list = groups.get(tag) ?? [];
    list.push(item);
    groups.set(tag, list);
  }
  return publicPage({
    title: `${orgName} API`,
    body: html`<h1>${doc.info.title}</h1>
      <p>${doc.info.description ?? ''}</p>
      <p>
        Machine-readable description: <a href="/api/v1/openapi.json">OpenAPI 3 document</a>. Entry point:
        <code>GET /api/v1</code>. Responses are HAL+JSON (<code>application/hal+json</code>); collections page
        with <code>page</code> and <code>per_page</code> and link to the <code>next</code> and
        <code>prev</code> pages. Errors are JSON: <code>{"error": "…"}</code>.
      </p>
      ${[...groups.entries()].map(
        ([tag, items]) =>
          html`<section aria-labelledby="tag-${tag.replace(/\W+/g, '-')}">
            <h2 id="tag-${tag.replace(/\W+/g, '-')}">${tag}</h2>
            ${items.map(
              ({ path, method, op }) =>
                html`<h3><code>${method} ${path}</code></h3>
                  <p>${op.summary ?? ''}</p>
                  ${op.description ? html`<p>${op.description}</p>` : ''}
                  ${
                    op.parameters?.length
                      ? html`<ul>
                          ${op.parameters.map(
                            (p) =>
                              html`<li>
                                <code>${p.name}</code> (${p.in}${p.required ? ', required' : ''})${
                                  p.description ? html` — ${p.description}` : ''
                                }
                              </li>`,
                          )}
                        </ul>`
                      : ''
                  }
                  <p>Answers: ${Object.keys(op.responses ?? {}).join(', ')}</p>`,
            )}
          </section>`,
      )}`,
  });
}
