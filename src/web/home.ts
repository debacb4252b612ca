import type { FastifyInstance } from 'fastify';
import type { EventsService } from '../events/index.ts';
import type { PetitionService } from '../petitions/index.ts';
import { html } from './html.ts';
import { publicPage } from './layout.ts';

export interface HomePluginOptions {
  orgName: string;
  petitions: PetitionService;
  events: EventsService;
}

/** The public front page: the organisation's open petitions and upcoming events. */
export async function homePlugin(
  app: FastifyInstance,
  { orgName, petitions, events }: HomePluginOptions,
): Promise<void> {
  app.get('/', async (_request, reply) => {
    const open = await petitions.listOpenPetitions(20);
    const upcoming = await events.listEvents({ upcoming: true, limit: 10 });
    const page = publicPage({
      title: orgName,
      body: html`<h1>${orgName}</h1>
        <section aria-labelledby="petitions-h">
          <h2 id="petitions-h">Petitions</h2>
          ${
            open.length
              ? html`<ul>
                  ${open.map(
                    (p) =>
                      html`<li>
                        <a href="/petitions/${p.slug}">${p.title}</a>${p.summary ? html` — ${p.summary}` : ''}
                      </li>`,
                  )}
                </ul>`
              : html`<p>No petitions are open right now.</p>`
          }
        </section>
        <section aria-labelledby="events-h">
          <h2 id="events-h">Upcoming events</h2>
          ${
            upcoming.length
              ? html`<ul>
                  ${upcoming.map((e) => html`<li><a href="/events/${e.slug}">${e.title}</a></li>`)}
                </ul>`
              : html`<p>No events are planned yet.</p>`
          }
        </section>
        <p class="muted"><a href="/admin">Organisers: sign in</a></p>`,
    });
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'public, max-age=30')
      .send(page.value);
  });
}
