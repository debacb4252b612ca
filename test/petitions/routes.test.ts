import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/runtime.ts';
import { openPetition, uniqueEmail } from './helpers.ts';

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };

describe('public petition routes', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('renders the petition page with sanitised Markdown, targets, bill, counter and Open Graph tags', async () => {
    const petition = await openPetition(t, {
      title: 'Pass SB 54',
      summary: 'Protect our neighbours.',
      body: '## Why it matters\n\nRead [the bill](https://example.org/sb54).',
      billReference: 'CA SB 54',
      billUrl: 'https://leginfo.example.gov/sb54',
      imageUrl: 'https://example.org/og.png',
      targets: [
        { name: 'Jane Senator', title: 'State Senator', district: 'SD-11', email: 'jane@example.gov' },
      ],
      goal: 500,
    });
    const page = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<h1>Pass SB 54</h1>');
    expect(page.body).toContain('<h2>Why it matters</h2>');
    expect(page.body).toContain('<a href="https://example.org/sb54" rel="nofollow noopener">the bill</a>');
    expect(page.body).toContain('<a href="https://leginfo.example.gov/sb54" rel="noopener">CA SB 54</a>');
    expect(page.body).toContain('Jane Senator');
    expect(page.body).not.toContain('jane@example.gov');
    expect(page.body).toContain('<meta property="og:title" content="Pass SB 54" />');
    expect(page.body).toContain('<meta property="og:image" content="https://example.org/og.png" />');
    expect(page.body).toMatch(/data-count>0<\/strong>\s*signatures of <span data-goal>500<\/span>/);
    expect(page.body).toContain('name="website"');
  });

  it('renders script and HTML in petition text, names and comments inert', async () => {
    const payload = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const petition = await openPetition(t, {
      title: `Title ${payload}`,
      summary: `Summary ${payload}`,
      body: `Body ${payload}\n\n[click](javascript:alert(3))\n\n<iframe src="https://evil.example"></iframe>`,
      commentModeration: 'immediate',
      requiresConfirmation: false,
      targets: [{ name: `Target ${payload}` }],
    });
    const signed = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({
        email: uniqueEmail(),
        given_name: `Mallory ${payload}`,
        postal_code: '1',
        comment: `Because ${payload}`,
        source: '"><script>alert(4)</script>',
      }),
    });
    expect(signed.statusCode).toBe(303);
    await t.services.petitions.processPendingIntake();
    const page = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(page.body).toContain('Because');
    expect(page.body).toContain('Mallory');
    expect(page.body).not.toMatch(/<script>alert/);
    expect(page.body).not.toMatch(/<img[^>]*onerror/i);
    expect(page.body).not.toContain('javascript:');
    expect(page.body).not.toContain('<iframe');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const rows = await t.ctx.db
      .selectFrom('signatures')
      .select('source')
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(rows).toEqual([{ source: null }]);
  });

  it('signs through the form: 303 to the thank-you page with share links carrying the referral code', async () => {
    const petition = await openPetition(t, {
      requiresConfirmation: false,
      thankYouMessage: 'You are **great**.',
    });
    const email = uniqueEmail();
    const response = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({ email, given_name: 'Ada', postal_code: '94110', consent: 'yes' }),
    });
    expect(response.statusCode).toBe(303);
    const location = response.headers.location as string;
    expect(location).toMatch(
      new RegExp(`^/petitions/${petition.row.slug}/thanks\\?status=signed&code=[a-z0-9]+$`),
    );
    const code = new URL(location, 'http://x').searchParams.get('code')!;

    const thanks = await t.app.inject({ method: 'GET', url: location });
    expect(thanks.statusCode).toBe(200);
    expect(thanks.body).toContain('Thank you for signing!');
    expect(thanks.body).toContain('You are <strong>great</strong>.');
    const shareUrl = `${t.config.publicUrl}/petitions/${petition.row.slug}?ref=${code}`;
    expect(thanks.body).toContain(`value="${shareUrl}"`);
    expect(thanks.body).toContain(`https://wa.me/?text=${encodeURIComponent(`Save the park ${shareUrl}`)}`);
    expect(thanks.body).toContain(
      `https://www.facebook.com/sharer/sharer.php?u=${encodeURIComponent(shareUrl)}`,
    );
    expect(thanks.body).toContain('https://twitter.com/intent/tweet?');
    expect(thanks.body).toContain('mailto:?subject=');

    const again = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({ email, given_name: 'Ada', postal_code: '94110' }),
    });
    expect(again.headers.location).toBe(`/petitions/${petition.row.slug}/thanks?status=already`);
    const already = await t.app.inject({ method: 'GET', url: again.headers.location as string });
    expect(already.body).toContain('You already signed this petition');
  });

  it('answers JSON clients with 201 for a new signature and 200 for a repeat', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const payload = { email: uniqueEmail(), given_name: 'Json', postal_code: '1' };
    const first = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload,
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ status: 'signed', confirmationRequired: true });
    const second = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload,
    });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({
      status: 'already_signed',
      confirmationRequired: true,
      referralCode: null,
      shareUrl: `${t.config.publicUrl}/petitions/${petition.row.slug}`,
    });
    const bad = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload: { email: 'nope', given_name: 'X', postal_code: '1' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'Please enter a valid email address.', code: 'invalid' });
  });

  it('gives the form back with the reason and the entries when something is missing', async () => {
    const petition = await openPetition(t, {
      translations: [{ language: 'es', title: 'Salvemos el parque' }],
    });
    const response = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({ email: 'kept@example.org', given_name: 'Kept' }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain(
      '<p class="error" role="alert" id="sign-error">Postal code is required.</p>',
    );
    expect(response.body).toContain('value="kept@example.org"');

    const spanish = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({ email: 'kept@example.org', given_name: 'Kept', lang: 'es' }),
    });
    expect(spanish.statusCode).toBe(400);
    expect(spanish.body).toContain('<html lang="es">');
    expect(spanish.body).toContain('Código postal: este dato es obligatorio.');
  });

  it('the emailed link only shows a button; pressing it confirms and sends the autoresponse', async () => {
    const petition = await openPetition(t, {
      requiresConfirmation: true,
      autoresponseSubject: 'Thank you for confirming',
      autoresponseBody: 'You signed {petition_title}.',
    });
    const email = uniqueEmail('button');
    const signed = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Bea', postalCode: '1' },
      { ip: '198.51.100.1', userAgent: 'vitest' },
    );
    await t.services.petitions.processPendingIntake();
    const link = new URL(t.services.petitions.confirmationLink(petition.row.slug, signed.signatureId, 'en'));
    const token = link.searchParams.get('token')!;
    const confirmedAt = async () =>
      (
        await t.ctx.db
          .selectFrom('signatures')
          .select('confirmed_at')
          .where('id', '=', signed.signatureId)
          .executeTakeFirstOrThrow()
      ).confirmed_at;

    // A mail scanner fetching the link (twice, even) confirms nothing.
    for (let i = 0; i < 2; i++) {
      const opened = await t.app.inject({ method: 'GET', url: link.pathname + link.search });
      expect(opened.statusCode).toBe(200);
      expect(opened.body).toContain('Confirm your signature');
      expect(opened.body).toContain(`<form method="post" action="/petitions/${petition.row.slug}/confirm">`);
      expect(opened.body).toContain(`name="token" value="${token}"`);
    }
    expect(await confirmedAt()).toBeNull();

    const pressed = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/confirm`,
      headers: formHeaders,
      payload: form({ token }),
    });
    expect(pressed.statusCode).toBe(200);
    expect(pressed.body).toContain('Your signature is confirmed');
    expect(await confirmedAt()).not.toBeNull();
    const mails = await t.ctx.db
      .selectFrom('transactional_emails')
      .select(['kind', 'subject'])
      .where('to_address', '=', email)
      .orderBy('id')
      .execute();
    expect(mails.map((m) => m.kind)).toEqual(['petition.confirm', 'petition.autoresponse']);

    // Opening the link again says it was confirmed already; a forged token is refused.
    const again = await t.app.inject({ method: 'GET', url: link.pathname + link.search });
    expect(again.body).toContain('Your signature was already confirmed');
    const forged = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/confirm`,
      headers: formHeaders,
      payload: form({ token: `${token}x` }),
    });
    expect(forged.statusCode).toBe(400);
    expect(forged.body).toContain('not valid');
  });

  it('serves a cached count JSON with by-district numbers', async () => {
    const petition = await openPetition(t, { requiresConfirmation: false, goal: 2 });
    await t.services.petitions.importDistricts(petition.row.id, '94110,CA-11,California 11th\n');
    for (const pc of ['94110', '94110']) {
      await t.app.inject({
        method: 'POST',
        url: `/petitions/${petition.row.slug}/sign`,
        payload: { email: uniqueEmail(), given_name: 'C', postal_code: pc },
      });
    }
    await t.services.petitions.processPendingIntake();
    const response = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}/count.json` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=5');
    expect(response.json()).toEqual({
      total: 2,
      confirmed: 2,
      count: 2,
      goal: 2,
      displayGoal: 5,
      byDistrict: [{ id: 'CA-11', name: 'California 11th', count: 2 }],
    });
    // Within the cache window a new signature does not cost readers a query.
    await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload: { email: uniqueEmail(), given_name: 'C', postal_code: '1' },
    });
    await t.services.petitions.processPendingIntake();
    const cached = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}/count.json` });
    expect(cached.json().count).toBe(2);
  });

  it('serves an embeddable page that other sites may frame, and its script snippet', async () => {
    const petition = await openPetition(t);
    const embed = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}/embed` });
    expect(embed.statusCode).toBe(200);
    expect(embed.headers['content-security-policy']).toContain('frame-ancestors *');
    expect(embed.headers['content-security-policy']).toContain("script-src 'self'");
    expect(embed.headers['x-frame-options']).toBeUndefined();
    expect(embed.body).toContain(`action="/petitions/${petition.row.slug}/sign"`);
    expect(embed.body).toContain('name="source" value="embed"');
    const script = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}/embed.js` });
    expect(script.headers['content-type']).toContain('javascript');
    expect(script.body).toContain(`${t.config.publicUrl}/petitions/${petition.row.slug}/embed`);
  });

  it('shows a petition past its end date as closed, without the form', async () => {
    const petition = await openPetition(t, { endDate: '2020-01-31' });
    const page = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(page.body).toContain('This petition is closed and no longer accepts signatures.');
    expect(page.body).not.toContain('name="email"');
    const sign = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload: { email: uniqueEmail(), given_name: 'Late', postal_code: '1' },
    });
    expect(sign.statusCode).toBe(400);
  });

  it('hides drafts and answers unknown petitions with 404', async () => {
    const draft = await t.services.petitions.createPetition({ slug: 'secret-draft', title: 'Not yet' });
    expect((await t.app.inject({ method: 'GET', url: `/petitions/${draft.row.slug}` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/petitions/no-such-thing' })).statusCode).toBe(404);
    const sign = await t.app.inject({
      method: 'POST',
      url: '/petitions/secret-draft/sign',
      payload: { email: uniqueEmail(), given_name: 'X', postal_code: '1' },
    });
    expect(sign.statusCode).toBe(400);
  });

  it('shows the Spanish version with ?lang=es', async () => {
    const petition = await openPetition(t, {
      translations: [
        { language: 'es', title: 'Salvemos el parque', summary: 'Mantengamos verde el parque.' },
      ],
    });
    const page = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}?lang=es` });
    expect(page.body).toContain('<html lang="es">');
    expect(page.body).toContain('<h1>Salvemos el parque</h1>');
    expect(page.body).toContain('Firma la petición');
    expect(page.body).toContain('name="lang" value="es"');
    const english = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(english.body).toContain('<h1>Save the park</h1>');
  });

  it('serves an ALTCHA challenge', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/petitions/-/altcha-challenge' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ algorithm: 'SHA-256', maxnumber: 50000 });
  });
});

describe('rate limits over HTTP', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '1', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 429 with Retry-After and a message', async () => {
    const petition = await openPetition(t);
    const ok = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload: { email: uniqueEmail(), given_name: 'A', postal_code: '1' },
    });
    expect(ok.statusCode).toBe(201);
    const limited = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      payload: { email: uniqueEmail(), given_name: 'B', postal_code: '1' },
    });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().error).toMatch(/Too many signatures from your network/);
    const page = await t.app.inject({
      method: 'POST',
      url: `/petitions/${petition.row.slug}/sign`,
      headers: formHeaders,
      payload: form({ email: uniqueEmail(), given_name: 'C', postal_code: '1' }),
    });
    expect(page.statusCode).toBe(429);
    expect(page.body).toContain('Too many signatures from your network');
  });
});
