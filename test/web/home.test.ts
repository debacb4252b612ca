import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/runtime.ts';

describe('public front page', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    t = await createTestApp({ ORG_NAME: 'Clean Air Now' });
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('lists open petitions only, escaping what organisers typed', async () => {
    const open = await t.services.petitions.createPetition({
      slug: 'open-one',
      title: 'Pass <script>alert(1)</script> SB 54',
    });
    await t.services.petitions.publishPetition(open.row.id);
    await t.services.petitions.createPetition({ slug: 'draft-one', title: 'Still a draft' });
    const page = await t.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<h1>Clean Air Now</h1>');
    expect(page.body).toContain(
      '<a href="/petitions/open-one">Pass &lt;script&gt;alert(1)&lt;/script&gt; SB 54</a>',
    );
    expect(page.body).not.toContain('Still a draft');
    expect(page.body).toContain('No events are planned yet.');
    expect(page.body).toContain('href="/admin"');
  });
});
