import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/services.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

describe('signature intake', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  const intakeOf = (petitionId: string) =>
    t.ctx.db
      .selectFrom('signature_intake')
      .selectAll()
      .where('petition_id', '=', petitionId)
      .orderBy('id')
      .execute();
  const mailKindsTo = async (email: string) =>
    (
      await t.ctx.db
        .selectFrom('transactional_emails')
        .select('kind')
        .where('to_address', '=', email)
        .execute()
    ).map((row) => row.kind);
  const signaturesOf = (petitionId: string) =>
    t.ctx.db.selectFrom('signatures').selectAll().where('petition_id', '=', petitionId).execute();

  it('answers once one intake row is committed; the queued job makes the person and the signature', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const email = uniqueEmail('intake');
    const result = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Ines', postalCode: '94110', comment: 'Yes' },
      meta(),
    );
    expect(result.status).toBe('signed');

    const [row] = await intakeOf(petition.row.id);
    expect(row).toMatchObject({ id: result.signatureId, status: 'pending', signature_id: null });
    // The address itself is not the key: processed rows keep no email.
    expect(row!.email_key).not.toContain('@');
    expect(JSON.parse(row!.payload!)).toMatchObject({ fields: { email, givenName: 'Ines' } });
    expect(await signaturesOf(petition.row.id)).toEqual([]);
    expect(await t.services.people.findPersonIdByEmail(email)).toBeNull();

    await t.ctx.jobs.drain();
    const [signature] = await signaturesOf(petition.row.id);
    expect(signature).toMatchObject({ id: result.signatureId, signer_name: 'Ines', comment: 'Yes' });
    expect(await t.services.people.findPersonIdByEmail(email)).toBe(signature!.person_id);
    expect(await intakeOf(petition.row.id)).toEqual([
      expect.objectContaining({ status: 'signed', signature_id: result.signatureId, payload: null }),
    ]);
    expect(await mailKindsTo(email)).toEqual(['petition.confirm']);
  });

  it('processes each row once however often its job runs', async () => {
    const petition = await openPetition(t);
    const emails = [uniqueEmail('once'), uniqueEmail('once')];
    for (const email of emails) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email, givenName: 'Once', postalCode: '1' },
        meta(),
      );
    }
    const ids = (await intakeOf(petition.row.id)).map((r) => r.id);
    await t.services.petitions.processPendingIntake();
    // A job that runs again (a retry after a crash, a second worker) finds nothing left to do.
    await t.ctx.jobs.drain();
    await t.services.petitions.requeueStalledIntake();
    await t.ctx.jobs.drain();
    expect((await signaturesOf(petition.row.id)).map((s) => s.id).sort()).toEqual(ids.sort());
    expect((await t.services.petitions.getDashboard(petition.row.id)).exact).toMatchObject({ total: 2 });
  });

  it('a row that cannot be processed stays pending with its error, and never holds back the others', async () => {
    const petition = await openPetition(t);
    for (const name of ['Good', 'Broken', 'Fine']) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(name), givenName: name, postalCode: '1' },
        meta(),
      );
    }
    const rows = await intakeOf(petition.row.id);
    const broken = rows.find((r) => r.payload!.includes('Broken'))!;
    await t.ctx.db
      .updateTable('signature_intake')
      .set({ payload: '{not json' })
      .where('id', '=', broken.id)
      .execute();

    await t.ctx.jobs.drain();
    expect((await signaturesOf(petition.row.id)).map((s) => s.signer_name).sort()).toEqual(['Fine', 'Good']);
    const after = (await intakeOf(petition.row.id)).find((r) => r.id === broken.id)!;
    expect(after).toMatchObject({ status: 'pending', attempts: 1 });
    expect(after.last_error).toMatch(/JSON/);

    // Housekeeping hands rows pending for long to a new job; repaired, the row is processed.
    await t.ctx.db
      .updateTable('signature_intake')
      .set({ payload: broken.payload, created_at: new Date(Date.now() - 3600_000).toISOString() })
      .where('id', '=', broken.id)
      .execute();
    expect(await t.services.petitions.requeueStalledIntake()).toBe(1);
    await t.ctx.jobs.drain();
    expect((await signaturesOf(petition.row.id)).map((s) => s.signer_name).sort()).toEqual([
      'Broken',
      'Fine',
      'Good',
    ]);
  });

  it('the same person signing with a second address is a repeat: no second signature', async () => {
    const petition = await openPetition(t);
    const first = uniqueEmail('first');
    const second = uniqueEmail('second');
    const signed = await t.services.petitions.signPetition(
      petition.row.slug,
      { email: first, givenName: 'Two', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const personId = (await t.services.people.findPersonIdByEmail(first))!;
    // The person's second address (as an admin or the API would add it).
    const now = new Date().toISOString();
    await t.ctx.db
      .insertInto('emails')
      .values({
        id: `e-${second}`,
        person_id: personId,
        address: second,
        status: 'subscribed',
        is_primary: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email: second, givenName: 'Two', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    expect((await signaturesOf(petition.row.id)).map((s) => s.id)).toEqual([signed.signatureId]);
    const rows = await intakeOf(petition.row.id);
    expect(rows.map((r) => [r.status, r.signature_id])).toEqual([
      ['signed', signed.signatureId],
      ['repeat', signed.signatureId],
    ]);
  });

  it('the same address twice at once (a double click) is taken in once; the second hears "already signed"', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail('double');
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        t.services.petitions.signPetition(
          petition.row.slug,
          { email, givenName: 'Dee', postalCode: '1' },
          meta(),
        ),
      ),
    );
    expect([a!.status, b!.status].sort()).toEqual(['already_signed', 'signed']);
    expect((await intakeOf(petition.row.id)).map((r) => r.status)).toEqual(['pending']);
    await t.services.petitions.processPendingIntake();
    expect(await signaturesOf(petition.row.id)).toHaveLength(1);
  });

  it('a surge of 77 signings at once is taken in whole: one row each, with what each signer sent', async () => {
    const petition = await openPetition(t);
    const emails = Array.from({ length: 77 }, (_, i) => uniqueEmail(`surge${i}`));
    const results = await Promise.all(
      emails.map((email, i) =>
        t.services.petitions.signPetition(
          petition.row.slug,
          { email, givenName: `Signer ${i}`, postalCode: '94110', comment: `Reason ${i}` },
          meta(),
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(emails.map(() => 'signed'));
    const rows = await intakeOf(petition.row.id);
    expect(rows).toHaveLength(77);
    const byName = new Map(
      rows.map((r) => {
        const payload = JSON.parse(r.payload!) as { fields: { givenName: string; comment: string } };
        return [payload.fields.givenName, payload.fields.comment];
      }),
    );
    expect(byName.size).toBe(77);
    for (let i = 0; i < 77; i++) expect(byName.get(`Signer ${i}`)).toBe(`Reason ${i}`);
    await t.services.petitions.processPendingIntake();
    const signatures = await signaturesOf(petition.row.id);
    expect(signatures).toHaveLength(77);
    expect(new Set(signatures.map((s) => s.signer_name)).size).toBe(77);
  });

  it('a repeat is recognised before processing, also by a process started after the first signing', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail('restart');
    const first = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Rae', postalCode: '1' },
      meta(),
    );
    // A new process (a restart) knows the pending rows from the database.
    const restarted = createServices(t.ctx);
    const again = await restarted.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Rae', postalCode: '1' },
      meta(),
    );
    expect(again).toMatchObject({ status: 'already_signed', signatureId: first.signatureId });
    await t.services.petitions.processPendingIntake();
    // And once processed, by the processed row.
    const later = await restarted.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Rae', postalCode: '1' },
      meta(),
    );
    expect(later).toMatchObject({ status: 'already_signed', signatureId: first.signatureId });
    expect((await intakeOf(petition.row.id)).map((r) => r.status)).toEqual(['signed']);
  });

  it('a repeat taken in by another process changes nothing when processed: no merge, no consent, no email', async () => {
    const petition = await openPetition(t, { requiresConfirmation: true });
    const email = uniqueEmail('elsewhere');
    const other = createServices(t.ctx);
    // Both processes have started taking signings in (each has read the pending rows).
    for (const service of [t.services.petitions, other.petitions]) {
      await service.signPetition(
        petition.row.slug,
        { email: uniqueEmail('warm'), givenName: 'Warm', postalCode: '1' },
        meta(),
      );
    }
    const first = await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'First', postalCode: '1', consent: false },
      meta(),
    );
    const second = await other.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Second', postalCode: '2', consent: true },
      meta(),
    );
    // PostgreSQL's unique index answers at once; SQLite's other process learns it from the job.
    expect(second.status).toBe(t.ctx.dialect === 'postgres' ? 'already_signed' : 'signed');
    await t.services.petitions.processPendingIntake();

    const mine = (await signaturesOf(petition.row.id)).filter((s) => s.signer_name?.startsWith('First'));
    expect(mine.map((s) => s.id)).toEqual([first.signatureId]);
    expect((await signaturesOf(petition.row.id)).filter((s) => s.signer_name === 'Second')).toEqual([]);
    const personId = (await t.services.people.findPersonIdByEmail(email))!;
    const person = await t.ctx.db
      .selectFrom('people')
      .selectAll()
      .where('id', '=', personId)
      .executeTakeFirst();
    expect(person).toMatchObject({ given_name: 'First' });
    const consents = await t.ctx.db
      .selectFrom('consents')
      .selectAll()
      .where('person_id', '=', personId)
      .execute();
    expect(consents).toEqual([]);
    expect(await mailKindsTo(email)).toEqual(['petition.confirm']);
    const rows = (await intakeOf(petition.row.id)).filter((r) =>
      [first.signatureId, second.signatureId].includes(r.id),
    );
    expect(rows.map((r) => [r.status, r.signature_id])).toEqual(
      t.ctx.dialect === 'postgres'
        ? [['signed', first.signatureId]]
        : [
            ['signed', first.signatureId],
            ['repeat', first.signatureId],
          ],
    );
  });

  it('erasing the signer forgets the intake, so the address could sign again as a new person', async () => {
    const petition = await openPetition(t);
    const email = uniqueEmail('erase');
    await t.services.petitions.signPetition(
      petition.row.slug,
      { email, givenName: 'Gone', postalCode: '1' },
      meta(),
    );
    await t.services.petitions.processPendingIntake();
    const [signature] = await signaturesOf(petition.row.id);
    await t.services.petitions.anonymiseSignaturesOfPerson(t.ctx.db, signature!.person_id);
    expect(await intakeOf(petition.row.id)).toEqual([]);
    expect((await signaturesOf(petition.row.id))[0]).toMatchObject({ signer_name: 'Erased' });
  });
});
