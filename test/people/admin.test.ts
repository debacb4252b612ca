import { parse } from 'csv-parse/sync';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

function multipartBody(
  fields: Record<string, string>,
  file: { name: string; content: string | Buffer } | null,
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----undersigntest' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`),
    );
  }
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: text/csv\r\n\r\n`,
      ),
      Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(parts),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

async function upload(
  t: TestApp,
  who: SignedIn,
  fields: Record<string, string>,
  file: { name: string; content: string | Buffer } | null,
) {
  const body = multipartBody(fields, file);
  return t.app.inject({
    method: 'POST',
    url: `/admin/imports?_csrf=${encodeURIComponent(who.csrf)}`,
    headers: { ...body.headers, cookie: who.cookie, accept: 'text/html' },
    payload: body.payload,
  });
}

describe('people admin pages', () => {
  let t: TestApp;
  let viewer: SignedIn;
  let organiser: SignedIn;

  beforeAll(async () => {
    t = await createTestApp();
    viewer = await signIn(t, 'viewer');
    organiser = await signIn(t, 'organiser');
    await t.services.people.mergePeople(t.ctx.db, [
      {
        email: 'ada@pages.test',
        givenName: 'Ada',
        familyName: 'Lovelace',
        address: { postalCode: 'SW1A 1AA', locality: 'London' },
        tags: ['volunteer'],
        customFields: { shirt: 'M' },
        subscribe: true,
        source: 'test',
      },
      {
        email: 'grace@pages.test',
        givenName: 'Grace',
        familyName: 'Hopper',
        address: { postalCode: '22201' },
      },
      {
        email: 'alan@pages.test',
        givenName: 'Alan',
        familyName: '<script>Turing</script>',
        tags: ['volunteer'],
      },
    ]);
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (url: string, who: SignedIn | null) =>
    t.app.inject({
      method: 'GET',
      url,
      headers: { accept: 'text/html', ...(who ? { cookie: who.cookie } : {}) },
    });

  it('lists and searches people by name, email, tag and postal code', async () => {
    const all = await get('/admin/people', viewer);
    expect(all.statusCode).toBe(200);
    expect(all.body).toContain('Showing 1–3 of 3 people.');
    expect(all.body).toContain('<th scope="col">Email</th>');
    expect(all.body).toContain('&lt;script&gt;Turing&lt;/script&gt;');
    expect(all.body).not.toContain('<script>Turing');
    expect(all.body).toMatch(/<a href="\/admin\/people" +aria-current="page"/);

    const byName = await get('/admin/people?q=LOVE', viewer);
    expect(byName.body).toContain('ada@pages.test');
    expect(byName.body).not.toContain('grace@pages.test');
    const byEmail = await get('/admin/people?q=Grace%40Pages', viewer);
    expect(byEmail.body).toContain('Showing 1–1 of 1 person matching.');
    const byTag = await get('/admin/people?tag=volunteer&q=&postal_code=', viewer);
    expect(byTag.body).toContain('ada@pages.test');
    expect(byTag.body).toContain('alan@pages.test');
    expect(byTag.body).not.toContain('grace@pages.test');
    const byPostal = await get('/admin/people?postal_code=sw1a', viewer);
    expect(byPostal.body).toContain('ada@pages.test');
    expect(byPostal.body).not.toContain('alan@pages.test');
    // Viewers read but do not export.
    expect(all.body).not.toContain('export.csv');
  });

  it('pages through results', async () => {
    const page = await t.services.people.searchPeople({ perPage: 2, page: 2 });
    expect(page).toMatchObject({ total: 3, pages: 2, page: 2 });
    expect(page.people).toHaveLength(1);
    const first = await t.services.people.searchPeople({ perPage: 2, page: 1 });
    expect(new Set([...first.people, ...page.people].map((p) => p.id)).size).toBe(3);
  });

  it('shows a person with emails, address, tags, custom fields, consents and timeline', async () => {
    const [ada] = (await t.services.people.searchPeople({ email: 'ada@pages.test' })).people;
    await t.services.people.addActivity(t.ctx.db, ada!.id, 'note', 'Called about the rally');
    const response = await get(`/admin/people/${ada!.id}`, viewer);
    expect(response.statusCode).toBe(200);
    const body = response.body;
    expect(body).toContain('<h1>Ada Lovelace</h1>');
    expect(body).toContain('ada@pages.test');
    expect(body).toContain('subscribed');
    expect(body).toContain('SW1A 1AA');
    expect(body).toContain('volunteer');
    expect(body).toMatch(/<dt>shirt<\/dt>\s*<dd>M<\/dd>/);
    expect(body).toContain('<h2>Consents</h2>');
    expect(body.indexOf('Called about the rally')).toBeLessThan(body.indexOf('Added from test'));
    expect((await get('/admin/people/unknown-id', viewer)).statusCode).toBe(404);
  });

  it('sends signed-out people to sign in and keeps viewers away from import and export', async () => {
    const signedOut = await get('/admin/people', null);
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toContain('/admin/login');
    expect((await get('/admin/imports/new', viewer)).statusCode).toBe(403);
    expect((await get('/admin/people/export.csv', viewer)).statusCode).toBe(403);
    const attempt = await upload(t, viewer, {}, { name: 'x.csv', content: 'email\nv@pages.test\n' });
    expect(attempt.statusCode).toBe(403);
    expect((await t.services.people.searchPeople({ email: 'v@pages.test' })).total).toBe(0);
  });

  it('refuses an upload without the CSRF token', async () => {
    const body = multipartBody({}, { name: 'x.csv', content: 'email\ncsrf@pages.test\n' });
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/imports',
      headers: { ...body.headers, cookie: organiser.cookie },
      payload: body.payload,
    });
    expect(response.statusCode).toBe(403);
  });

  it('imports an uploaded CSV in the background and shows progress and row errors', async () => {
    const form = await get('/admin/imports/new', organiser);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('<label for="file">CSV file</label>');
    expect(form.body).toContain('enctype="multipart/form-data"');

    const csv = 'Email,First Name,Postcode\nnew1@pages.test,New,N1 9GU\nbroken,Bad,X\nADA@pages.test,Ada,\n';
    const response = await upload(
      t,
      organiser,
      { tags: 'rally, autumn', subscribe: 'yes' },
      { name: 'rally.csv', content: csv },
    );
    expect(response.statusCode).toBe(303);
    const location = response.headers.location as string;
    expect(location).toMatch(/^\/admin\/imports\/[0-9a-f-]+$/);

    const waiting = await get(location, organiser);
    expect(waiting.body).toContain('<meta http-equiv="refresh"');
    expect(waiting.body).toContain('Waiting to start');

    await t.ctx.jobs.drain();
    const done = await get(location, organiser);
    expect(done.body).not.toContain('http-equiv="refresh"');
    expect(done.body).toContain('Finished');
    expect(done.body).toContain('Imported 2 rows: 1 new, 1 merged');
    expect(done.body).toMatch(/<td>3<\/td>\s*<td>&quot;broken&quot; is not a valid email address.<\/td>/);

    // The uploaded copy is removed once imported.
    expect(readdirSync(join(t.dataDir, 'uploads'))).toEqual([]);

    const list = await get('/admin/people?tag=rally', organiser);
    expect(list.body).toContain('new1@pages.test');
    expect(list.body).toContain('ada@pages.test');
    const [newcomer] = (await t.services.people.searchPeople({ email: 'new1@pages.test' })).people;
    expect(newcomer).toMatchObject({
      postalCode: 'N1 9GU',
      emailStatus: 'subscribed',
      tags: ['autumn', 'rally'],
    });
  });

  it('asks for a file when none was chosen', async () => {
    const response = await upload(t, organiser, { tags: 'x' }, null);
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Choose a CSV file to import.');
  });

  it('exports exactly the people a search finds, as CSV', async () => {
    const response = await get('/admin/people/export.csv?tag=volunteer', organiser);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/csv');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="people-/);
    const rows = parse(response.body, { columns: true }) as Record<string, string>[];
    const found = await t.services.people.searchPeople({ tag: 'volunteer', perPage: 500 });
    expect(rows.map((r) => r.email).sort()).toEqual(found.people.map((p) => p.email).sort());
    const ada = rows.find((r) => r.email === 'ada@pages.test')!;
    expect(ada).toMatchObject({ given_name: 'Ada', postal_code: 'SW1A 1AA', email_status: 'subscribed' });
    expect(JSON.parse(ada.custom_fields!)).toEqual({ shirt: 'M' });

    const list = await get('/admin/people?tag=volunteer', organiser);
    expect(list.body).toContain('href="/admin/people/export.csv?tag=volunteer"');
  });

  it('keeps spreadsheet formulas in exported names inert', async () => {
    await t.services.people.mergePersonByEmail(t.ctx.db, {
      email: 'formula@pages.test',
      givenName: '=HYPERLINK("http://evil.example","x")',
      phone: '+1 555 0100',
      tags: ['formula'],
    });
    const response = await get('/admin/people/export.csv?tag=formula', organiser);
    const [row] = parse(response.body, { columns: true }) as Record<string, string>[];
    expect(row!.given_name).toBe(`'=HYPERLINK("http://evil.example","x")`);
    expect(row!.phone).toBe('+15550100');
  });
});

describe('upload size limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ MAX_UPLOAD_MB: '1' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 413 with a message and keeps nothing', async () => {
    const organiser = await signIn(t, 'organiser');
    const big = 'email\n' + 'someone@example.org\n'.repeat(60_000);
    const response = await upload(t, organiser, {}, { name: 'big.csv', content: big });
    expect(response.statusCode).toBe(413);
    expect(response.body).toContain('The file is larger than 1 MB');
    expect(await t.services.people.imports.listImports()).toEqual([]);
    await t.ctx.jobs.drain();
    expect(await t.services.people.countPeople()).toBe(0);
  });
});
