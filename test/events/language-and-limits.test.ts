import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { choosePublicLanguage } from '../../src/web/language.ts';
import { clientPseudonym } from '../../src/log.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';

type T = TestRuntime & { app: FastifyInstance };

function form(fields: Record<string, string>, remoteAddress = '203.0.113.7') {
  return {
    method: 'POST' as const,
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    remoteAddress,
  };
}

const localIn = (hours: number) => new Date(Date.now() + hours * 3600_000).toISOString().slice(0, 16);

describe('public event and group pages in English and Spanish', () => {
  let t: T;
  let eventSlug: string;
  let groupSlug: string;
  beforeAll(async () => {
    t = await createTestApp();
    const group = await t.services.groups.createGroup({ name: 'Barrio Norte', level: 'local' });
    groupSlug = group.slug;
    const event = await t.services.events.createEvent({
      title: 'Asamblea vecinal',
      startsLocal: '2030-12-03T18:30',
      endsLocal: '2030-12-03T20:00',
      timeZone: 'Europe/Madrid',
      place: 'Centro cívico',
      capacity: '20',
      groupId: group.id,
    });
    eventSlug = event.slug;
  });
  afterAll(async () => {
    await t.close();
  });

  it('chooses the language from ?lang=, else Accept-Language by preference, else English', () => {
    expect(choosePublicLanguage('es', 'en')).toBe('es');
    expect(choosePublicLanguage('fr', 'es-MX,es;q=0.9')).toBe('es');
    expect(choosePublicLanguage(undefined, 'fr-FR, es;q=0.5, en;q=0.4')).toBe('es');
    expect(choosePublicLanguage(undefined, 'en;q=0.2, es;q=0.8')).toBe('es');
    expect(choosePublicLanguage(undefined, 'fr, de')).toBe('en');
    expect(choosePublicLanguage(undefined, undefined)).toBe('en');
  });

  it('shows the event page and RSVPs in Spanish', async () => {
    const page = await t.app.inject({ url: `/events/${eventSlug}?lang=es` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<html lang="es">');
    expect(page.body).toContain('<dt>Cuándo</dt>');
    expect(page.body).toContain('martes, 3 de diciembre de 2030');
    expect(page.body).toContain('Quedan 20 de 20 plazas.');
    expect(page.body).toContain('Correo electrónico (obligatorio)');
    expect(page.body).toContain('>Confirmar asistencia</button>');
    expect(page.body).toContain('name="lang" value="es"');

    const byBrowser = await t.app.inject({
      url: `/events/${eventSlug}`,
      headers: { 'accept-language': 'es-ES,es;q=0.9,en;q=0.8' },
    });
    expect(byBrowser.body).toContain('<dt>Cuándo</dt>');
    const english = await t.app.inject({ url: `/events/${eventSlug}` });
    expect(english.body).toContain('<dt>When</dt>');
    expect(english.body).toContain('20 of 20 places left.');

    const invalid = await t.app.inject({
      url: `/events/${eventSlug}/rsvp`,
      ...form({ email: 'nope', lang: 'es' }),
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.body).toContain('Escribe una dirección de correo válida.');

    const done = await t.app.inject({
      url: `/events/${eventSlug}/rsvp`,
      ...form({ email: 'lucia@example.org', given_name: 'Lucía', lang: 'es' }),
    });
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('¡Asistirás!');
    const lucia = (await t.services.people.searchPeople({ email: 'lucia@example.org' })).people[0]!;
    expect((await t.services.people.getPerson(lucia.id)).language).toBe('es');
  });

  it('shows the group page and the join form in Spanish', async () => {
    const page = await t.app.inject({ url: `/groups/${groupSlug}?lang=es` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<html lang="es">');
    expect(page.body).toContain('Únete a Barrio Norte');
    expect(page.body).toContain('Próximos eventos');
    expect(page.body).toContain('No hay peticiones abiertas ahora mismo.');
    expect(page.body).toContain(`href="/events/${eventSlug}?lang=es"`);
    const joined = await t.app.inject({
      url: `/groups/${groupSlug}/join`,
      ...form({ email: 'mateo@example.org', lang: 'es' }),
    });
    expect(joined.statusCode).toBe(200);
    expect(joined.body).toContain('¡Te damos la bienvenida a Barrio Norte! Ya formas parte del grupo.');
    const english = await t.app.inject({ url: `/groups/${groupSlug}` });
    expect(english.body).toContain('Join Barrio Norte');
  });
});

describe('public RSVP and group join are rate limited per network and per email', () => {
  let t: T;
  let eventSlug: string;
  let groupSlug: string;
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '3', SIGN_RATE_EMAIL: '2' });
    const group = await t.services.groups.createGroup({ name: 'Rate group', level: 'local' });
    groupSlug = group.slug;
    const event = await t.services.events.createEvent({
      title: 'Busy meeting',
      startsLocal: localIn(72),
      endsLocal: localIn(73),
      timeZone: 'UTC',
      place: 'Hall',
    });
    eventSlug = event.slug;
  });
  afterAll(async () => {
    await t.close();
  });

  const rsvpCount = async () => (await t.ctx.db.selectFrom('rsvps').select('id').execute()).length;

  it('refuses a fourth RSVP from one network with a 429 page, logged, and nothing written', async () => {
    const warn = vi.spyOn(t.ctx.log, 'warn');
    for (const n of [1, 2, 3]) {
      const ok = await t.app.inject({
        url: `/events/${eventSlug}/rsvp`,
        ...form({ email: `ip${n}@example.org` }, '198.51.100.1'),
      });
      expect(ok.statusCode).toBe(200);
    }
    const refused = await t.app.inject({
      url: `/events/${eventSlug}/rsvp`,
      ...form({ email: 'ip4@example.org', given_name: 'Ivy' }, '198.51.100.1'),
    });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many RSVPs from your network in a short time.');
    // The form comes back with what the person typed.
    expect(refused.body).toContain('value="Ivy"');
    expect(await rsvpCount()).toBe(3);
    expect((await t.services.people.searchPeople({ email: 'ip4@example.org' })).total).toBe(0);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({
        form: 'rsvp',
        reason: 'rate_limited_ip',
        client: clientPseudonym(t.config.secretKey, '198.51.100.1'),
      }),
      expect.stringContaining('refused'),
    );
    // The log names the email address only by a hash, the network only by a keyed pseudonym.
    expect(JSON.stringify(warn.mock.calls)).not.toContain('ip4@example.org');
    expect(JSON.stringify(warn.mock.calls)).not.toContain('198.51.100.1');
    // Another network is not affected.
    const other = await t.app.inject({
      url: `/events/${eventSlug}/rsvp`,
      ...form({ email: 'ip4@example.org' }, '198.51.100.2'),
    });
    expect(other.statusCode).toBe(200);
    warn.mockRestore();
  });

  it('refuses a third attempt with one email address, whatever the network, in Spanish too', async () => {
    const warn = vi.spyOn(t.ctx.log, 'warn');
    const attempt = (ip: string) =>
      t.app.inject({
        url: `/groups/${groupSlug}/join`,
        ...form({ email: 'same@example.org', lang: 'es' }, ip),
      });
    expect((await attempt('192.0.2.1')).statusCode).toBe(200);
    expect((await attempt('192.0.2.2')).statusCode).toBe(200);
    const refused = await attempt('192.0.2.3');
    expect(refused.statusCode).toBe(429);
    expect(refused.body).toContain('Demasiados intentos con este correo. Inténtalo de nuevo en');
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({
        form: 'group_join',
        reason: 'rate_limited_email',
        client: clientPseudonym(t.config.secretKey, '192.0.2.3'),
      }),
      expect.any(String),
    );
    // Group joins and RSVPs count apart: this address can still RSVP.
    const rsvp = await t.app.inject({
      url: `/events/${eventSlug}/rsvp`,
      ...form({ email: 'same@example.org' }, '192.0.2.9'),
    });
    expect(rsvp.statusCode).toBe(200);
    warn.mockRestore();
  });

  it('leaves RSVPs from the API and the demo (no network address) unlimited', async () => {
    for (let i = 0; i < 5; i++)
      await t.services.events.rsvp(eventSlug, { email: `api${i}@example.org` }, { ip: null });
    await t.services.events.rsvp(eventSlug, { email: 'api0@example.org' }, { ip: null });
    await t.services.events.rsvp(eventSlug, { email: 'api0@example.org' }, { ip: null });
  });
});
