import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { concretePath, registeredRoutes } from '../helpers/routes.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';

type T = TestRuntime & { app: FastifyInstance };

/** Concrete paths for a route pattern: every parameter gets a value that matches nothing. */
function concrete(url: string, value: string): string {
  return concretePath(url, () => encodeURIComponent(value));
}

const badBodies: Array<{ name: string; contentType: string; payload: string }> = [
  { name: 'malformed JSON', contentType: 'application/json', payload: '{"email": "a@b.c",' },
  { name: 'JSON of the wrong shape', contentType: 'application/json', payload: '[1, "two", null]' },
  {
    name: 'wrong types',
    contentType: 'application/json',
    payload: '{"email": 5, "person": "x", "page": {"a": 1}}',
  },
  {
    name: 'a huge field',
    contentType: 'application/x-www-form-urlencoded',
    payload: `email=${'a'.repeat(200_000)}&name=x`,
  },
  {
    name: 'bad percent-encoding',
    contentType: 'application/x-www-form-urlencoded',
    payload: 'email=%E0%A4%A&name=%',
  },
  { name: 'an unknown content type', contentType: 'application/x-unknown', payload: '\u0000\u0001binary' },
  { name: 'an empty JSON body', contentType: 'application/json', payload: '' },
];

describe('bad input never causes a server error', () => {
  let t: T;
  let owner: SignedIn;
  let apiKey: string;
  const routes: Array<{ method: string; url: string }> = [];

  beforeAll(async () => {
    t = (await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' })) as T;
    owner = await signIn(t, 'owner');
    apiKey = (await t.services.api.createApiKey({ name: 'fuzz', scope: 'write', createdBy: null })).secret;
    routes.push(...registeredRoutes(t.app));
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('finds the routes to try', () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(routes).toContainEqual({ method: 'POST', url: '/admin/login' });
  });

  it('answers every route with a 2xx, 3xx or 4xx for odd parameters, bodies and content types', async () => {
    const failures: string[] = [];
    const asOwner = { cookie: owner.cookie, 'x-csrf-token': owner.csrf };
    for (const route of routes) {
      if (route.method === 'HEAD' || route.method === 'OPTIONS') continue;
      for (const value of ['nope', '../../etc/passwd', '%00', "' or 1=1 --", 'x'.repeat(3000)]) {
        for (const headers of [{}, asOwner, { 'osdi-api-token': apiKey }]) {
          const url = concrete(route.url, value);
          if (route.method === 'GET' || route.method === 'DELETE') {
            const response = await t.app.inject({ method: route.method, url, headers });
            if (response.statusCode >= 500) failures.push(`${route.method} ${url} → ${response.statusCode}`);
            continue;
          }
          for (const body of badBodies) {
            const response = await t.app.inject({
              method: route.method as 'POST',
              url,
              headers: { ...headers, 'content-type': body.contentType },
              payload: body.payload,
            });
            if (response.statusCode >= 500) {
              failures.push(
                `${route.method} ${route.url} with ${body.name} → ${response.statusCode} ${response.body.slice(0, 200)}`,
              );
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
