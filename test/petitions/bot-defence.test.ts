import { solveChallenge } from 'altcha-lib/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

describe('bot defence', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '3', SIGN_RATE_EMAIL: '2' });
  });
  afterAll(async () => {
    await t.close();
  });

  async function rejections(petitionId: string) {
    await t.services.petitions.flushPending();
    return t.ctx.db
      .selectFrom('signing_rejections')
      .select(['reason', 'ip'])
      .where('petition_id', '=', petitionId)
      .orderBy('id')
      .execute();
  }

  it('rejects a filled honeypot and logs the attempt', async () => {
    const petition = await openPetition(t);
    await expect(
      t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'Bot', postalCode: '1', website: 'http://spam.example' },
        meta('192.0.2.1'),
      ),
    ).rejects.toMatchObject({ code: 'invalid' });
    expect(await rejections(petition.row.id)).toEqual([{ reason: 'honeypot', ip: '192.0.2.1' }]);
    expect((await t.services.petitions.publicCountOf(petition)).total).toBe(0);
  });

  it('limits signing per IP with a clear message and Retry-After seconds', async () => {
    const petition = await openPetition(t);
    for (let i = 0; i < 3; i++) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: `N${i}`, postalCode: '1' },
        meta('192.0.2.50'),
      );
    }
    const error = await t.services.petitions
      .signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'N4', postalCode: '1' },
        meta('192.0.2.50'),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'rate_limited',
      message: expect.stringContaining('Too many signatures from your network'),
    });
    expect((error as { details: { retryAfter: number } }).details.retryAfter).toBeGreaterThan(0);
    // Another address is not affected.
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email: uniqueEmail(), givenName: 'Other', postalCode: '1' },
      meta('192.0.2.51'),
    );
    expect(await rejections(petition.row.id)).toEqual([{ reason: 'rate_limited_ip', ip: '192.0.2.50' }]);
  });

  it('limits attempts per email address', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail();
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'E', postalCode: '1' },
      meta('192.0.2.60'),
    );
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'E', postalCode: '1' },
      meta('192.0.2.61'),
    );
    await expect(
      t.services.petitions.signPetition(
        petition.row.slug,
        { email, givenName: 'E', postalCode: '1' },
        meta('192.0.2.62'),
      ),
    ).rejects.toMatchObject({ code: 'rate_limited', message: expect.stringContaining('this email address') });
    expect(await rejections(petition.row.id)).toEqual([{ reason: 'rate_limited_email', ip: '192.0.2.62' }]);
  });

  describe('ALTCHA proof of work', () => {
    async function solvedPayload(): Promise<string> {
      const challenge = await t.services.petitions.createAltchaChallenge();
      const solution = await solveChallenge(
        challenge.challenge,
        challenge.salt,
        challenge.algorithm,
        challenge.maxnumber,
      ).promise;
      return Buffer.from(
        JSON.stringify({
          algorithm: challenge.algorithm,
          challenge: challenge.challenge,
          number: solution!.number,
          salt: challenge.salt,
          signature: challenge.signature,
        }),
      ).toString('base64');
    }

    it('accepts a solved challenge once and refuses its replay or a wrong answer', async () => {
      const petition = await openPetition(t, { altchaEnabled: true, requiresConfirmation: false });
      const payload = await solvedPayload();
      const ok = await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'Human', postalCode: '1', altcha: payload },
        meta('192.0.2.70'),
      );
      expect(ok.status).toBe('signed');
      await expect(
        t.services.petitions.signPetition(
          petition.row.slug,
          { email: uniqueEmail(), givenName: 'Replay', postalCode: '1', altcha: payload },
          meta('192.0.2.71'),
        ),
      ).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('anti-robot') });
      const wrong = JSON.parse(Buffer.from(await solvedPayload(), 'base64').toString()) as { number: number };
      wrong.number += 1;
      await expect(
        t.services.petitions.signPetition(
          petition.row.slug,
          {
            email: uniqueEmail(),
            givenName: 'Wrong',
            postalCode: '1',
            altcha: Buffer.from(JSON.stringify(wrong)).toString('base64'),
          },
          meta('192.0.2.72'),
        ),
      ).rejects.toMatchObject({ code: 'invalid' });
      expect((await rejections(petition.row.id)).map((r) => r.reason)).toEqual([
        'altcha_invalid',
        'altcha_invalid',
      ]);
    });

    it('without a proof, requires email confirmation (or refuses when the petition has none)', async () => {
      const confirmed = await openPetition(t, { altchaEnabled: true, requiresConfirmation: true });
      const result = await t.services.petitions.signPetition(
        confirmed.row.slug,
        { email: uniqueEmail(), givenName: 'NoJs', postalCode: '1' },
        meta('192.0.2.80'),
      );
      expect(result).toMatchObject({ status: 'signed', confirmationRequired: true });

      const open = await openPetition(t, { altchaEnabled: true, requiresConfirmation: false });
      await expect(
        t.services.petitions.signPetition(
          open.row.slug,
          { email: uniqueEmail(), givenName: 'NoJs', postalCode: '1' },
          meta('192.0.2.81'),
        ),
      ).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('JavaScript') });
      expect(await rejections(open.row.id)).toEqual([{ reason: 'altcha_missing', ip: '192.0.2.81' }]);
    });
  });
});
