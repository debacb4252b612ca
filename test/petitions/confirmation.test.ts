import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSignedToken, deriveKey } from '../../src/petitions/tokens.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

/** The same text with its last character changed (never to itself). */
const flipLast = (text: string) => text.slice(0, -1) + (text.endsWith('0') ? '1' : '0');

describe('email confirmation and public counting', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  async function emailsTo(address: string) {
    return t.ctx.db
      .selectFrom('transactional_emails')
      .selectAll()
      .where('to_address', '=', address)
      .orderBy('id')
      .execute();
  }

  function tokenFrom(text: string): string {
    const match = /confirm\?token=([^\s&]+)/.exec(text);
    if (!match) throw new Error(`no confirmation link in: ${text}`);
    return decodeURIComponent(match[1]!);
  }

  it('queues a confirmation email with the signature, and counts it publicly only once confirmed', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const email = uniqueEmail();
    const result = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Ada', postalCode: '94110' },
      meta(),
    );
    expect(result).toMatchObject({ status: 'signed', confirmationRequired: true });
    // Taken in, not yet processed: not counted and no email until the job has run.
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({ total: 0 });
    expect(await emailsTo(email)).toHaveLength(0);
    await t.services.petitions.processPendingIntake();
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({
      total: 1,
      confirmed: 0,
      count: 0,
    });

    const [mail] = await emailsTo(email);
    expect(mail).toMatchObject({
      kind: 'petition.confirm',
      subject: 'Please confirm your signature: Save the park',
    });
    const token = tokenFrom(mail!.text_body);

    const confirmed = await t.services.petitions.confirmSignature(petition.row.slug, token);
    expect(confirmed.status).toBe('confirmed');
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({
      total: 1,
      confirmed: 1,
      count: 1,
    });

    const again = await t.services.petitions.confirmSignature(petition.row.slug, token);
    expect(again.status).toBe('already_confirmed');
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({ confirmed: 1 });
  });

  it('refuses tampered, forged and expired confirmation links', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const email = uniqueEmail();
    const result = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Eve', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const token = tokenFrom((await emailsTo(email))[0]!.text_body);
    const [id, expires, mac] = token.split('.') as [string, string, string];

    const tampered = [
      `${id}.${Number(expires) + 1000}.${mac}`,
      `${id}.${expires}.${flipLast(mac)}`,
      `${flipLast(result.signatureId)}.${expires}.${mac}`,
      'garbage',
      // Signed with another key: a forger without the server secret.
      makeSignedToken(
        deriveKey('not-the-secret', 'petition-confirm'),
        'petition-confirm',
        id,
        new Date(Date.now() + 3600_000),
      ),
    ];
    for (const bad of tampered) {
      await expect(t.services.petitions.confirmSignature(petition.row.slug, bad)).rejects.toMatchObject({
        code: 'invalid',
        message: expect.stringContaining('not valid'),
      });
    }
    const expiredLink = t.services.petitions.confirmationLink(
      petition.row.slug,
      id,
      'en',
      new Date(Date.now() - 1000),
    );
    await expect(
      t.services.petitions.confirmSignature(petition.row.slug, tokenFrom(expiredLink)),
    ).rejects.toMatchObject({
      code: 'invalid',
      message: expect.stringContaining('expired'),
    });
    // A valid token for this signature does not confirm it on another petition.
    const other = await openPetition(t, { requiresConfirmation: true });
    await expect(t.services.petitions.confirmSignature(other.row.slug, token)).rejects.toMatchObject({
      code: 'not_found',
    });
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({ confirmed: 0 });
  });

  it('re-sends the confirmation when an unconfirmed signer signs again, but not more than once per window', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const email = uniqueEmail();
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Re', postalCode: '1' },
      meta(),
    );
    const again = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Re', postalCode: '1' },
      meta(),
    );
    expect(again).toMatchObject({ status: 'already_signed', confirmationRequired: true });
    await t.services.petitions.processPendingIntake();
    expect(await emailsTo(email)).toHaveLength(1);
    // Once the window has passed, signing again sends a fresh link.
    await t.ctx.db
      .updateTable('signatures')
      .set({ confirmation_sent_at: new Date(Date.now() - 3600_000).toISOString() })
      .where('id', '=', again.signatureId)
      .execute();
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Re', postalCode: '1' },
      meta(),
    );
    expect(await emailsTo(email)).toHaveLength(2);
  });

  it('sends the autoresponse instead when no confirmation is needed', async () => {
    const petition = await openPetition(t, {
      requiresConfirmation: false,
      autoresponseSubject: 'Thanks for signing',
      autoresponseBody: 'You signed {petition_title}. Share it: {petition_url}',
    });
    const email = uniqueEmail();
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Auto', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const mails = await emailsTo(email);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ kind: 'petition.autoresponse', subject: 'Thanks for signing' });
    expect(mails[0]!.text_body).toBe(
      `You signed Save the park. Share it: ${t.config.publicUrl}/petitions/${petition.row.slug}`,
    );
  });

  it('keeps counts in a counter table written in batches, and the dashboard reconciles exact numbers', async () => {
    const petition = await openPetition(t, { requiresConfirmation: false, goal: 3 });
    for (let i = 0; i < 4; i++) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: `P${i}`, postalCode: '1' },
        meta(),
      );
    }
    await t.services.petitions.processPendingIntake();
    // Nothing written per signature yet; the count comes from the pending batch.
    const before = await t.ctx.db
      .selectFrom('petition_counters')
      .selectAll()
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(before).toEqual([]);
    const count = await t.services.petitions.publicCountOf(petition);
    expect(count).toMatchObject({ count: 4, goal: 3, displayGoal: 5 });

    await t.services.petitions.flushPending();
    const after = await t.ctx.db
      .selectFrom('petition_counters')
      .select(['total', 'confirmed'])
      .where('petition_id', '=', petition.row.id)
      .execute();
    expect(after).toEqual([{ total: 4, confirmed: 4 }]);
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({ count: 4 });

    // A lost batch (crash) is put right by the exact count.
    await t.ctx.db
      .updateTable('petition_counters')
      .set({ total: 1, confirmed: 1 })
      .where('petition_id', '=', petition.row.id)
      .execute();
    const dashboard = await t.services.petitions.getDashboard(petition.row.id);
    expect(dashboard.exact).toEqual({ total: 4, confirmed: 4 });
    expect(await t.services.petitions.publicCountOf(petition)).toMatchObject({ count: 4 });
  });
});
