import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

describe('signing a petition', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('records one signature per person: signing again says already signed and changes nothing', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail();
    const first = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Ada', familyName: 'Lovelace', postalCode: '94110', comment: 'First!' },
      meta(),
    );
    expect(first.status).toBe('signed');
    expect(first.referralCode).toMatch(/^[a-z0-9]{11}$/);

    const second = await t.services.petitions.signPetition(
      petition.row.slug,
      {
        email: email.toUpperCase(),
        givenName: 'Someone',
        familyName: 'Else',
        postalCode: '10001',
        comment: 'Changed',
      },
      meta(),
    );
    expect(second.status).toBe('already_signed');
    expect(second.signatureId).toBe(first.signatureId);

    await t.services.petitions.flushPending();
    const rows = await t.ctx.db
      .selectFrom('signatures')
      .selectAll()
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ signer_name: 'Ada Lovelace', postal_code: '94110', comment: 'First!' });

    const count = await t.services.petitions.getPublicCount(petition.row.slug);
    expect(count).toMatchObject({ total: 1, confirmed: 1, count: 1 });
  });

  it('creates or merges the signer through people, with consent recorded', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail('consent');
    const result = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Grace', postalCode: '94110', consent: true },
      meta('203.0.113.9'),
    );
    await t.services.petitions.flushPending();
    const signature = await t.ctx.db
      .selectFrom('signatures')
      .select('person_id')
      .where('id', '=', result.signatureId)
      .executeTakeFirstOrThrow();
    const person = await t.services.people.getPerson(signature.person_id);
    expect(person.givenName).toBe('Grace');
    expect(person.emails[0]).toMatchObject({ address: email, status: 'subscribed' });
    expect(person.consents[0]).toMatchObject({ what: 'email', granted: true, ip: '203.0.113.9' });
    expect(person.consents[0]!.source).toBe(`petition:${petition.row.slug}`);
  });

  it('rejects missing required fields with a message and writes nothing', async () => {
    const petition = await openPetition(t);
    await expect(
      t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'No Postcode' },
        meta(),
      ),
    ).rejects.toMatchObject({ code: 'invalid', message: 'Postal code is required.' });
    await expect(
      t.services.petitions.signPetition(
        petition.row.slug,
        { email: 'not-an-email', givenName: 'X', postalCode: '1' },
        meta(),
      ),
    ).rejects.toMatchObject({ code: 'invalid' });
    const count = await t.services.petitions.getPublicCount(petition.row.slug);
    expect(count.total).toBe(0);
  });

  it('refuses signatures on a closed petition', async () => {
    const petition = await openPetition(t);
    await t.services.petitions.closePetition(petition.row.id);
    await expect(
      t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'Late', postalCode: '1' },
        meta(),
      ),
    ).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('closed') });
  });

  it('credits the referrer whose code came with the signature, and keeps ?source= codes', async () => {
    const petition = await openPetition(t);
    const referrer = await t.services.petitions.signPetition(
      petition.row.slug,
      { email: uniqueEmail(), givenName: 'Ref', postalCode: '1' },
      meta(),
    );
    for (let i = 0; i < 3; i++) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        {
          email: uniqueEmail(),
          givenName: `Friend ${i}`,
          postalCode: '1',
          ref: referrer.referralCode!,
          source: 'mailing-42',
        },
        meta(),
      );
    }
    await t.services.petitions.flushPending();
    expect(await t.services.petitions.countReferrals(petition.row.id, referrer.referralCode!)).toBe(3);
    const dashboard = await t.services.petitions.getDashboard(petition.row.id);
    expect(dashboard.byReferrer).toEqual([
      { referrer_code: referrer.referralCode, signer_name: 'Ref', total: 3 },
    ]);
    expect(dashboard.bySource).toContainEqual({ source: 'mailing-42', total: 3 });
  });

  it('exposes signers as a person-id subquery for audiences', async () => {
    const petition = await openPetition(t);
    const result = await t.services.petitions.signPetition(
      petition.row.slug,
      { email: uniqueEmail(), givenName: 'Aud', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.flushPending();
    const row = await t.ctx.db
      .selectFrom('signatures')
      .select('person_id')
      .where('id', '=', result.signatureId)
      .executeTakeFirstOrThrow();
    const ids = await t.services.petitions.signerIdsQuery(petition.row.id).execute();
    expect(ids).toEqual([{ person_id: row.person_id }]);
  });

  it('commits signatures that arrive together in one batch, still one per person', async () => {
    const petition = await openPetition(t);
    const same = uniqueEmail('same');
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () =>
        t.services.petitions.signPetition(
          petition.row.slug,
          { email: same, givenName: 'Twin', postalCode: '1' },
          meta(),
        ),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        t.services.petitions.signPetition(
          petition.row.slug,
          { email: uniqueEmail('batch'), givenName: `B${i}`, postalCode: '1' },
          meta(),
        ),
      ),
    ]);
    expect(results.filter((r) => r.status === 'signed')).toHaveLength(6);
    expect(
      results
        .slice(0, 5)
        .map((r) => r.status)
        .sort(),
    ).toEqual(['already_signed', 'already_signed', 'already_signed', 'already_signed', 'signed']);
    await t.services.petitions.flushPending();
    const rows = await t.ctx.db
      .selectFrom('signatures')
      .select('id')
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(rows).toHaveLength(6);
    expect((await t.services.petitions.publicCountOf(petition)).total).toBe(6);
  });

  it('loads a petition and its count once for readers arriving together', async () => {
    const petition = await openPetition(t);
    // Publishing again empties the caches: the next readers all arrive to a cold cache.
    await t.services.petitions.publishPetition(petition.row.id);
    const [a, b, c] = await Promise.all([
      t.services.petitions.getPetitionBySlug(petition.row.slug),
      t.services.petitions.getPetitionBySlug(petition.row.slug),
      t.services.petitions.getPetitionBySlug(petition.row.slug),
    ]);
    expect(b).toBe(a);
    expect(c).toBe(a);
    await t.services.petitions.publishPetition(petition.row.id);
    const counts = await Promise.all(
      Array.from({ length: 5 }, () => t.services.petitions.getPublicCount(petition.row.slug)),
    );
    for (const count of counts) expect(count).toBe(counts[0]);
  });

  it('serves the last count at once while the next is read, and waits only for a count a minute old', async () => {
    const petition = await openPetition(t);
    const slug = petition.row.slug;
    const sign = async () => {
      await t.services.petitions.signPetition(
        slug,
        { email: uniqueEmail(), givenName: 'S', postalCode: '1' },
        meta(),
      );
      await t.services.petitions.flushPending();
    };
    const first = await t.services.petitions.getPublicCount(slug);
    expect(first.total).toBe(0);
    await sign();
    vi.useFakeTimers({ toFake: ['Date'] });
    // Past the 2 s cache: the reader gets the last count without waiting, and a read starts.
    vi.setSystemTime(Date.now() + 3000);
    expect(await t.services.petitions.getPublicCount(slug)).toBe(first);
    await vi.waitFor(async () => expect((await t.services.petitions.getPublicCount(slug)).total).toBe(1));
    // A count more than a minute old is not served: the reader waits for the new one.
    await sign();
    vi.setSystemTime(Date.now() + 61_000);
    expect((await t.services.petitions.getPublicCount(slug)).total).toBe(2);
  });
});
