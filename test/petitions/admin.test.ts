import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

const formHeaders = (session: SignedIn) => ({
  cookie: session.cookie,
  'content-type': 'application/x-www-form-urlencoded',
  accept: 'text/html',
});

describe('petition admin', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let organiser: SignedIn;
  let viewer: SignedIn;
  beforeAll(async () => {
    t = await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
    organiser = await signIn(t, 'organiser');
    viewer = await signIn(t, 'viewer');
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates a petition with targets, questions and a Spanish version, then publishes it', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/petitions',
      headers: formHeaders(organiser),
      payload: new URLSearchParams({
        _csrf: organiser.csrf,
        slug: 'pass-sb-54',
        title: 'Pass SB 54',
        summary: 'Protect our neighbours.',
        body: '## Why\n\nBecause.',
        language: 'en',
        bill_reference: 'CA SB 54',
        bill_url: 'https://leginfo.example.gov/sb54',
        goal: '1000',
        end_date: '2027-01-31',
        requires_confirmation: 'yes',
        comment_moderation: 'moderated',
        postal_code_rule: 'required',
        locality_rule: 'optional',
        phone_rule: 'hidden',
        questions: 'Are you a teacher? *\nYour school',
        targets: 'Jane Senator | State Senator | SD-11 | jane@example.gov\nBob Member',
        thank_you_message: 'Thanks!',
        autoresponse_subject: '',
        autoresponse_body: '',
        tr_title: 'Aprueben SB 54',
        tr_summary: 'Protejamos a nuestros vecinos.',
        tr_body: 'Porque sí.',
        tr_thank_you_message: '¡Gracias!',
      }).toString(),
    });
    expect(response.statusCode).toBe(303);
    const id = /\/admin\/petitions\/([^?]+)/.exec(response.headers.location as string)![1]!;
    const petition = await t.services.petitions.getPetition(id);
    expect(petition.row).toMatchObject({
      slug: 'pass-sb-54',
      status: 'draft',
      goal: 1000,
      end_date: '2027-01-31',
    });
    expect(petition.targets.map((x) => [x.name, x.title, x.district, x.email])).toEqual([
      ['Jane Senator', 'State Senator', 'SD-11', 'jane@example.gov'],
      ['Bob Member', null, null, null],
    ]);
    expect(petition.formSettings).toEqual({
      postalCode: 'required',
      locality: 'optional',
      phone: 'hidden',
      questions: [
        { id: 'q1', label: 'Are you a teacher?', required: true },
        { id: 'q2', label: 'Your school', required: false },
      ],
    });
    expect(petition.translations).toMatchObject([{ language: 'es', title: 'Aprueben SB 54' }]);

    const publish = await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${id}/publish`,
      headers: formHeaders(organiser),
      payload: `_csrf=${organiser.csrf}`,
    });
    expect(publish.statusCode).toBe(303);
    const page = await t.app.inject({ method: 'GET', url: '/petitions/pass-sb-54?lang=es' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Aprueben SB 54');
    expect(page.body).toContain('Are you a teacher?');
    expect(page.body).not.toContain('name="phone"');

    const edit = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${id}/edit`,
      headers: { cookie: organiser.cookie },
    });
    expect(edit.body).toContain('Jane Senator | State Senator | SD-11 | jane@example.gov');
    expect(edit.body).toContain('Are you a teacher? *');
  });

  it('shows the form again with the reason when the input is wrong, and refuses a taken address', async () => {
    await openPetition(t, { slug: 'taken-slug' });
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/petitions',
      headers: formHeaders(organiser),
      payload: new URLSearchParams({
        _csrf: organiser.csrf,
        slug: 'taken-slug',
        title: 'Dup',
        goal: '10',
      }).toString(),
    });
    expect(response.statusCode).toBe(409);
    expect(response.body).toContain('The address /petitions/taken-slug is taken.');
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/petitions',
      headers: formHeaders(organiser),
      payload: new URLSearchParams({
        _csrf: organiser.csrf,
        slug: 'ok-slug',
        title: 'Bad image',
        goal: '10',
        image_url: 'javascript:alert(1)',
      }).toString(),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('The image address must start with https:// or http://.');
  });

  it('lets viewers read the dashboard but not change anything; requires CSRF and sign-in', async () => {
    const petition = await openPetition(t);
    const dashboard = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${petition.row.id}`,
      headers: { cookie: viewer.cookie },
    });
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.body).not.toContain('Close petition');
    const close = await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${petition.row.id}/close`,
      headers: formHeaders(viewer),
      payload: `_csrf=${viewer.csrf}`,
    });
    expect(close.statusCode).toBe(403);
    const noCsrf = await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${petition.row.id}/close`,
      headers: formHeaders(organiser),
      payload: '',
    });
    expect(noCsrf.statusCode).toBe(403);
    const anonymous = await t.app.inject({ method: 'GET', url: `/admin/petitions/${petition.row.id}` });
    expect(anonymous.statusCode).toBe(303);
    expect((await t.services.petitions.getPetition(petition.row.id)).row.status).toBe('open');
  });

  it('dashboard shows totals, chart, sources, referrers, districts; comments are approved or hidden', async () => {
    const petition = await openPetition(t, { requiresConfirmation: false, commentModeration: 'moderated' });
    await t.services.petitions.importDistricts(petition.row.id, '94110,CA-11,California 11th\n');
    const ref = await t.services.petitions.signPetition(
      petition.row.slug,
      { email: uniqueEmail(), givenName: 'Rita', postalCode: '94110', comment: 'For my kids <b>now</b>' },
      meta(),
    );
    await t.services.petitions.signPetition(
      petition.row.slug,
      {
        email: uniqueEmail(),
        givenName: 'Sam',
        postalCode: '10001',
        ref: ref.referralCode!,
        source: 'mailing-7',
      },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const before = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(before.body).not.toContain('For my kids');

    const dashboard = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${petition.row.id}`,
      headers: { cookie: organiser.cookie },
    });
    expect(dashboard.statusCode).toBe(200);
    const body = dashboard.body;
    expect(body).toMatch(/<dt>All signatures<\/dt>\s*<dd>2<\/dd>/);
    expect(body).toContain('<svg viewBox="0 0 640 160"');
    expect(body).toContain('mailing-7');
    expect(body).toMatch(/<td>Rita<\/td>\s*<td>[a-z0-9]+<\/td>\s*<td>1<\/td>/);
    expect(body).toContain('California 11th');
    expect(body).toContain('For my kids &lt;b&gt;now&lt;/b&gt;');
    expect(body).toContain(`${t.config.publicUrl}/petitions/${petition.row.slug}/embed.js`);

    const approve = await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${petition.row.id}/comments/${ref.signatureId}`,
      headers: formHeaders(organiser),
      payload: `_csrf=${organiser.csrf}&action=approve`,
    });
    expect(approve.statusCode).toBe(303);
    const after = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(after.body).toContain('For my kids &lt;b&gt;now&lt;/b&gt;');

    await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${petition.row.id}/comments/${ref.signatureId}`,
      headers: formHeaders(organiser),
      payload: `_csrf=${organiser.csrf}&action=hide`,
    });
    const hidden = await t.app.inject({ method: 'GET', url: `/petitions/${petition.row.slug}` });
    expect(hidden.body).not.toContain('For my kids');
  });

  it('uploads a district CSV as a file', async () => {
    const petition = await openPetition(t);
    const boundary = '----undersign';
    const payload =
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\nContent-Type: text/csv\r\n\r\n` +
      `postal_code,district_id,district_name\r\n94110,CA-11,California 11th\r\n94111,CA-12,California 12th\r\n\r\n--${boundary}--\r\n`;
    const response = await t.app.inject({
      method: 'POST',
      url: `/admin/petitions/${petition.row.id}/districts?_csrf=${encodeURIComponent(organiser.csrf)}`,
      headers: { cookie: organiser.cookie, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload,
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toContain('imported=2');
    expect(await t.services.petitions.lookupDistrict(petition.row.id, '94111')).toEqual({
      id: 'CA-12',
      name: 'California 12th',
    });
  });

  it('exports counted signatures as CSV and a PDF grouped by district', async () => {
    const petition = await openPetition(t, {
      requiresConfirmation: true,
      targets: [{ name: 'Jane Senator', title: 'Senator', district: 'CA-11' }],
    });
    await t.services.petitions.importDistricts(petition.row.id, '94110,CA-11,California 11th\n');
    const a = await t.services.petitions.signPetition(
      petition.row.slug,
      {
        email: uniqueEmail(),
        givenName: 'Ann',
        familyName: 'Lee',
        postalCode: '94110',
        locality: 'San Francisco',
        comment: '=HYPERLINK("x")',
      },
      meta(),
    );
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email: uniqueEmail(), givenName: 'Unconfirmed', postalCode: '94110' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const link = t.services.petitions.confirmationLink(petition.row.slug, a.signatureId, 'en');
    await t.services.petitions.confirmSignature(
      petition.row.slug,
      decodeURIComponent(link.split('token=')[1]!),
    );

    const csv = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${petition.row.id}/signatures.csv`,
      headers: { cookie: viewer.cookie },
    });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe('signed_at,confirmed_at,name,locality,postal_code,district,comment,source');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(',Ann Lee,San Francisco,94110,California 11th,"\'=HYPERLINK(""x"")",');

    const pdf = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${petition.row.id}/delivery.pdf`,
      headers: { cookie: viewer.cookie },
    });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.rawPayload.subarray(-6).toString()).toContain('%%EOF');
  });

  it('previews a draft for signed-in users while the public gets 404', async () => {
    const draft = await t.services.petitions.createPetition({
      slug: 'draft-preview',
      title: 'Draft <i>preview</i>',
    });
    const preview = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${draft.row.id}/preview`,
      headers: { cookie: viewer.cookie },
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.body).toContain('<h1>Draft &lt;i&gt;preview&lt;/i&gt;</h1>');
    expect((await t.app.inject({ method: 'GET', url: '/petitions/draft-preview' })).statusCode).toBe(404);
    const dashboard = await t.app.inject({
      method: 'GET',
      url: `/admin/petitions/${draft.row.id}`,
      headers: { cookie: viewer.cookie },
    });
    expect(dashboard.body).toContain(`href="/admin/petitions/${draft.row.id}/preview"`);
  });

  it('lists petitions with their counts', async () => {
    const list = await t.app.inject({
      method: 'GET',
      url: '/admin/petitions',
      headers: { cookie: viewer.cookie },
    });
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('Pass SB 54');
    expect(list.body).toContain('href="/admin/petitions"');
    expect(list.body).not.toContain('New petition');
  });
});
