import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from './helpers/runtime.ts';

describe('operations endpoints', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers /healthz with the database engine in use', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ok',
      database: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
    });
  });

  it('exposes Prometheus metrics including request durations', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz' });
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('undersign_http_request_duration_seconds_bucket');
    expect(response.body).toContain('route="/healthz"');
    expect(response.body).toContain('process_resident_memory_bytes');
  });

  it('answers an unknown page with a 404 page, and JSON under /api', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/nowhere', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(404);
    expect(page.body).toContain('There is no page at this address.');
    const api = await t.app.inject({ method: 'GET', url: '/api/nowhere' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toMatchObject({ code: 'not_found' });
  });
});
