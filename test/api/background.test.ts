import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/jobs/index.ts';
import { runHousekeeping } from '../../src/services.ts';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/** background_request=true: the body waits in a row, the job carries only that row's id. */
describe('API background requests', () => {
  let t: TestApp;
  let key: string;
  let petitionId: string;

  const post = (url: string, payload: object) =>
    t.app.inject({ method: 'POST', url, headers: { 'osdi-api-token': key }, payload });
  const requests = () => t.ctx.db.selectFrom('api_requests').selectAll().orderBy('id').execute();
  /** Every run of a background-request job: its payload and whether it finished without error. */
  const runs: Array<{ payload: Record<string, unknown>; ok: boolean }> = [];
  const signaturesOf = async (email: string) => {
    const personId = await t.services.people.findPersonIdByEmail(email);
    if (!personId) return [];
    return t.ctx.db
      .selectFrom('signatures')
      .select('id')
      .where('person_id', '=', personId)
      .where('petition_id', '=', petitionId)
      .execute();
  };

  beforeAll(async () => {
    t = await createTestApp();
    key = (await t.services.api.createApiKey({ name: 'bg', scope: 'write', createdBy: null })).secret;
    const petition = await t.services.petitions.createPetition({
      slug: 'background-petition',
      title: 'Background',
      altchaEnabled: false,
      requiresConfirmation: false,
    });
    petitionId = petition.row.id;
    await t.services.petitions.publishPetition(petitionId);
    // Watch the queue's jobs as they run (whatever the queue adapter), then do what they do.
    t.ctx.jobs.register('api.background-request', async (payload, job) => {
      const run = { payload, ok: false };
      runs.push(run);
      await t.services.api.processRequest(String(payload.requestId), job.attempts);
      run.ok = true;
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 202 at once, keeps the body in a row and queues a job that carries only its id', async () => {
    const signup = await post('/api/v1/people?background_request=true', {
      person: { given_name: 'Queued', email_addresses: [{ address: 'queued@example.org' }] },
      add_tags: ['later'],
    });
    expect(signup.statusCode).toBe(202);
    const signature = await post(`/api/v1/petitions/${petitionId}/signatures?background_request=true`, {
      person: { email_addresses: [{ address: 'queued@example.org' }] },
      comments: 'From the queue',
    });
    expect(signature.statusCode).toBe(202);
    // Nothing is done yet; the requests wait in their rows.
    expect(await t.services.people.findPersonIdByEmail('queued@example.org')).toBeNull();
    const rows = await requests();
    expect(rows.map((r) => [r.kind, r.target_id, r.status])).toEqual([
      ['person_signup', null, 'pending'],
      ['record_signature', petitionId, 'pending'],
    ]);
    expect(JSON.parse(rows[0]!.body!)).toMatchObject({ add_tags: ['later'] });
    expect(JSON.parse(rows[1]!.body!)).toMatchObject({ comments: 'From the queue' });
    // Each job runs twice (as after a lost lease): the second run finds the request processed.
    for (const row of rows) {
      await enqueueJob(t.ctx.db, { queue: 'api.background-request', payload: { requestId: row.id } });
    }
    await t.ctx.jobs.drain();
    // Four runs, each carrying nothing but the id of its request.
    expect(
      runs.map((r) => r.payload).sort((a, b) => (String(a.requestId) < String(b.requestId) ? -1 : 1)),
    ).toEqual(rows.flatMap((r) => [{ requestId: r.id }, { requestId: r.id }]));
    const personId = await t.services.people.findPersonIdByEmail('queued@example.org');
    expect(personId).not.toBeNull();
    expect((await t.services.people.getPerson(personId!)).tags).toEqual(['later']);
    const signatures = await signaturesOf('queued@example.org');
    expect(signatures).toHaveLength(1);
    const done = await requests();
    expect(done.map((r) => [r.status, r.body, r.error])).toEqual([
      ['done', null, null],
      ['done', null, null],
    ]);
    expect(done.map((r) => r.result_id)).toEqual([personId, signatures[0]!.id]);
    expect(runs.every((r) => r.ok)).toBe(true);
  });

  it('processing the same request twice at once still makes one person and one signature', async () => {
    const before = await t.services.people.countPeople();
    const requestId = await t.services.api.queueSignature(petitionId, {
      person: { given_name: 'Twice', email_addresses: [{ address: 'twice@example.org' }] },
    });
    await Promise.all([t.services.api.processRequest(requestId), t.services.api.processRequest(requestId)]);
    await t.ctx.jobs.drain();
    expect(await t.services.people.countPeople()).toBe(before + 1);
    expect(await signaturesOf('twice@example.org')).toHaveLength(1);
    const signupId = await t.services.api.queueSignup({
      person: { email_addresses: [{ address: 'twice-signup@example.org' }] },
      add_tags: ['twice'],
    });
    await Promise.all([t.services.api.processRequest(signupId), t.services.api.processRequest(signupId)]);
    await t.ctx.jobs.drain();
    expect(await t.services.people.countPeople()).toBe(before + 2);
    const row = await t.ctx.db
      .selectFrom('api_requests')
      .selectAll()
      .where('id', '=', signupId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('done');
  });

  it('a request that cannot succeed any more is rejected with the reason, not retried', async () => {
    const other = await t.services.petitions.createPetition({
      slug: 'closing-soon',
      title: 'Closing soon',
      altchaEnabled: false,
      requiresConfirmation: false,
    });
    await t.services.petitions.publishPetition(other.row.id);
    const response = await post(`/api/v1/petitions/${other.row.id}/signatures?background_request=true`, {
      person: { email_addresses: [{ address: 'too-late@example.org' }] },
    });
    expect(response.statusCode).toBe(202);
    await t.services.petitions.closePetition(other.row.id);
    await t.ctx.jobs.drain();
    const row = await t.ctx.db
      .selectFrom('api_requests')
      .selectAll()
      .where('target_id', '=', other.row.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('rejected');
    expect(row.body).toBeNull();
    expect(row.error).toMatch(/closed/i);
    // The job ended without error: it is not retried.
    expect(runs.filter((r) => r.payload.requestId === row.id)).toEqual([
      { payload: { requestId: row.id }, ok: true },
    ]);
  });

  it('a request that keeps failing is retried, then marked rejected when its job gives up', async () => {
    const requestId = await t.services.api.queueSignup({
      person: { email_addresses: [{ address: 'broken@example.org' }] },
    });
    await t.ctx.db
      .updateTable('api_requests')
      .set({ body: '{"person":' })
      .where('id', '=', requestId)
      .execute();
    const row = () =>
      t.ctx.db.selectFrom('api_requests').selectAll().where('id', '=', requestId).executeTakeFirstOrThrow();
    await expect(t.services.api.processRequest(requestId, 1)).rejects.toThrow();
    expect((await row()).status).toBe('pending');
    await expect(t.services.api.processRequest(requestId, 5)).rejects.toThrow();
    expect(await row()).toMatchObject({
      status: 'rejected',
      body: null,
      error: expect.stringMatching(/^gave up/),
    });
    // Its queued job finds nothing left to do.
    await t.ctx.jobs.drain();
    expect(runs.filter((r) => r.payload.requestId === requestId).map((r) => r.ok)).toEqual([true]);
  });

  it('housekeeping deletes processed requests after a week and keeps pending ones', async () => {
    const pendingId = await t.services.api.queueSignup({
      person: { email_addresses: [{ address: 'still-pending@example.org' }] },
    });
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    const processed = (await requests()).filter((r) => r.status !== 'pending');
    expect(processed.length).toBeGreaterThanOrEqual(4);
    await t.ctx.db
      .updateTable('api_requests')
      .set({ processed_at: weekAgo })
      .where('id', '=', processed[0]!.id)
      .execute();
    await runHousekeeping(t.services);
    const left = await requests();
    expect(left.map((r) => r.id)).not.toContain(processed[0]!.id);
    expect(left).toHaveLength(processed.length);
    expect(left.find((r) => r.id === pendingId)?.status).toBe('pending');
  });
});
