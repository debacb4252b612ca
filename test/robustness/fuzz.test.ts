import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { concretePath, registeredRoutes, type RegisteredRoute } from '../helpers/routes.ts';
import { createTestApp, type TestRuntime } from '../helpers/runtime.ts';
import { openPetition } from '../petitions/helpers.ts';

/*
 * Property-based fuzzing of every route: generated paths, query strings, headers and bodies
 * (malformed and wrong-typed JSON, huge fields, bytes that are not UTF-8, odd form encodings,
 * unknown content types), signed out, as an owner with a valid CSRF token, and with an API key.
 * Whatever arrives, the answer is never a 5xx, and a 4xx says what was wrong in words.
 * Seeded and bounded so a CI run stays short; set FUZZ_RUNS for a longer local run.
 */

type T = TestRuntime & { app: FastifyInstance };

const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const RUNS = Number(process.env.FUZZ_RUNS ?? 15);

// Field names the app's forms and API read: wrong values under right names reach deeper code.
const fieldNames = [
  'email',
  'given_name',
  'family_name',
  'postal_code',
  'locality',
  'phone',
  'comment',
  'consent',
  'website',
  'altcha',
  'ref',
  'source',
  'lang',
  'title',
  'summary',
  'body',
  'slug',
  'goal',
  'name',
  'subject',
  'content',
  'status',
  'role',
  'password',
  'code',
  'next',
  'q',
  'page',
  'per_page',
  'tag',
  'tags',
  'list',
  'starts_at',
  'ends_at',
  'time_zone',
  'capacity',
  'description',
  'identifiers',
  'person',
  'email_addresses',
  'postal_addresses',
  'given',
  'audience',
  'criteria',
  'rate',
  'url',
  'events',
  'scope',
  'token',
  'as',
  'variant',
  'to',
  'from_address',
  'from_name',
  'targets',
  'answer',
  'group_id',
  'parent_id',
  'district',
  'filter',
  'sort',
  'id',
  'q_1',
];

const nastyStrings = [
  '',
  ' ',
  '\u0000',
  '%',
  '%E0%A4%A',
  '%ZZ',
  '../../etc/passwd',
  "' or 1=1 --",
  '"; drop table people; --',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${7*7}',
  '\uFEFF',
  '\u202E',
  '\uD800',
  '𝕏'.repeat(50),
  'NaN',
  '-1',
  '1e309',
  '9'.repeat(40),
  'null',
  'true',
  '[]',
  '{}',
  'a@b',
  '@',
  'x@y.z'.repeat(80),
  'ａｄｍｉｎ@example.org',
  'A'.repeat(70_000),
];

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...nastyStrings) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

/** A value of the wrong (or right) JSON type. */
const jsonValue = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(text, { maxLength: 4 }),
  fc.dictionary(fc.constantFrom(...fieldNames), text, { maxKeys: 3 }),
);
const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...fieldNames) },
  { weight: 1, arbitrary: text },
);
const jsonObject = fc.dictionary(fieldName, jsonValue, { maxKeys: 8 });

interface GeneratedBody {
  kind: string;
  contentType: string | undefined;
  payload: string | Buffer;
}

const percentEncode = (value: string) => {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80'; // a lone surrogate encodes to bytes that are not UTF-8
  }
};
const formField = fc
  .tuple(fieldName, text, fc.boolean())
  .map(([k, v, raw]) => (raw ? `${k}=${v}` : `${percentEncode(k)}=${percentEncode(v)}`));

const bodies: fc.Arbitrary<GeneratedBody> = fc.oneof(
  jsonObject.map((o) => ({
    kind: 'JSON object',
    contentType: 'application/json',
    payload: JSON.stringify(o),
  })),
  jsonValue.map((v) => ({
    kind: 'JSON of another type',
    contentType: 'application/json',
    payload: JSON.stringify(v),
  })),
  fc.tuple(jsonObject, fc.nat()).map(([o, cut]) => {
    const full = JSON.stringify(o);
    return {
      kind: 'truncated JSON',
      contentType: 'application/json',
      payload: full.slice(0, cut % Math.max(1, full.length)),
    };
  }),
  fc.array(formField, { maxLength: 8 }).map((fields) => ({
    kind: 'form',
    contentType: 'application/x-www-form-urlencoded',
    payload: fields.join('&'),
  })),
  fc
    .tuple(
      fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([contentType, bytes]) => ({
      kind: 'bytes that are not UTF-8',
      contentType,
      // A stray continuation byte and an overlong encoding make sure it is not valid UTF-8.
      payload: Buffer.concat([
        Buffer.from('{"email":"'),
        Buffer.from([0xc3, 0x28, 0xff, 0xc0, 0xaf]),
        Buffer.from(bytes),
      ]),
    })),
  fc.constantFrom<GeneratedBody>(
    {
      kind: 'huge field',
      contentType: 'application/json',
      payload: JSON.stringify({ email: 'a'.repeat(500_000), name: 'b'.repeat(500_000) }),
    },
    { kind: 'too large', contentType: 'application/json', payload: `{"body":"${'x'.repeat(1_100_000)}"}` },
    { kind: 'deep JSON', contentType: 'application/json', payload: '['.repeat(5000) + ']'.repeat(5000) },
    {
      kind: 'UTF-16 JSON',
      contentType: 'application/json; charset=utf-16',
      payload: Buffer.from('{"email":"a@b.c"}', 'utf16le'),
    },
    { kind: 'multipart without boundary', contentType: 'multipart/form-data', payload: '--x\r\n\r\n' },
    { kind: 'no content type', contentType: undefined, payload: 'email=a%40b.c' },
    { kind: 'empty', contentType: 'application/json', payload: '' },
    {
      kind: 'prototype keys',
      contentType: 'application/json',
      payload: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}',
    },
  ),
);

const queryString = fc
  .array(fc.tuple(fieldName, text, fc.boolean()), { maxLength: 6 })
  .map((pairs) =>
    pairs
      .map(([k, v, raw]) =>
        raw
          ? `${k.replace(/[#\s]/g, '')}=${v.replace(/[#\s]/g, '')}`
          : `${percentEncode(k)}=${percentEncode(v)}`,
      )
      .join('&'),
  );

const paramValue = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30 }).map(percentEncode),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map(percentEncode),
  fc.constantFrom(
    '%',
    '%E0%A4%A',
    '%00',
    '..',
    '%2e%2e%2f',
    'x'.repeat(5000),
    '-1',
    '0',
    'null',
    'undefined',
  ),
);

const acceptHeader = fc.constantFrom(
  undefined,
  'text/html',
  'application/json',
  'application/hal+json',
  '*/*',
  'image/png',
);

type Who = 'anyone' | 'owner' | 'api';

describe('fuzzing every route (fast-check)', () => {
  let t: T;
  let owner: SignedIn;
  let apiKey: string;
  let slug: string;
  let routes: RegisteredRoute[];

  beforeAll(async () => {
    t = (await createTestApp({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0', API_RATE_LIMIT: '0' })) as T;
    owner = await signIn(t, 'owner');
    apiKey = (await t.services.api.createApiKey({ name: 'fuzz', scope: 'write', createdBy: null })).secret;
    slug = (await openPetition(t)).row.slug;
    routes = registeredRoutes(t.app).filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  function headersFor(who: Who): Record<string, string> {
    if (who === 'owner') return { cookie: owner.cookie, 'x-csrf-token': owner.csrf };
    if (who === 'api') return { 'osdi-api-token': apiKey };
    return {};
  }

  /** The problems with one answer; empty when it is a 2xx-4xx and a 4xx explains itself. */
  function problems(status: number, contentType: string, body: string): string[] {
    if (status >= 500) return [`answered ${status}: ${body.slice(0, 200)}`];
    if (status < 400) return [];
    if (contentType.includes('json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return [`${status} with a JSON type but a body that is not JSON: ${body.slice(0, 100)}`];
      }
      const message = (parsed as { error?: unknown }).error;
      if (typeof message !== 'string' || message.trim().length < 5) {
        return [`${status} JSON without an error message: ${body.slice(0, 200)}`];
      }
      if (/\bat .+\.ts:\d+|node_modules|stack/i.test(message))
        return [`${status} leaks internals: ${message}`];
      return [];
    }
    if (contentType.includes('html')) {
      const alert = /role="alert"[^>]*>([\s\S]*?)<\//.exec(body)?.[1]?.trim() ?? '';
      return alert.length >= 5 ? [] : [`${status} page without a message: ${body.slice(0, 200)}`];
    }
    return body.trim().length >= 5 ? [] : [`${status} without a message (${contentType || 'no type'})`];
  }

  async function fuzzFamily(family: RegisteredRoute[], whoList: Who[], runs: number): Promise<string[]> {
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const [index, route] of family.entries()) {
      const property = fc.asyncProperty(
        fc.record({
          params: fc.array(paramValue, { minLength: 4, maxLength: 4 }),
          useRealSlug: fc.boolean(),
          query: fc.option(queryString, { nil: undefined }),
          body: bodies,
          accept: acceptHeader,
          who: fc.constantFrom(...whoList),
          // Sometimes a forged session, CSRF token or API key in place of (or beside) the real ones.
          forged: fc.option(
            fc.tuple(
              fc.constantFrom('cookie', 'x-csrf-token', 'osdi-api-token', 'x-forwarded-for'),
              fc.stringMatching(/^[\x21-\x7e]{0,300}$/),
            ),
            { nil: undefined },
          ),
        }),
        async (input) => {
          let n = 0;
          const path = concretePath(route.url, (name) =>
            name === 'slug' && input.useRealSlug ? slug : input.params[n++ % input.params.length]!,
          );
          const url = input.query === undefined ? path : `${path}?${input.query}`;
          const headers: Record<string, string> = { ...headersFor(input.who) };
          if (input.forged) {
            const [name, value] = input.forged;
            headers[name] = name === 'cookie' ? `undersign_session=${value}` : value;
          }
          if (input.accept) headers.accept = input.accept;
          const withBody = route.method !== 'GET' && route.method !== 'DELETE';
          if (withBody && input.body.contentType) headers['content-type'] = input.body.contentType;
          const response = await t.app.inject({
            method: route.method as 'GET',
            url,
            headers,
            ...(withBody ? { payload: input.body.payload } : {}),
          });
          const found = problems(
            response.statusCode,
            String(response.headers['content-type'] ?? ''),
            response.body,
          );
          for (const problem of found) {
            const key = `${route.method} ${route.url} ${problem.slice(0, 60)}`;
            if (seen.has(key)) continue;
            seen.add(key);
            failures.push(
              `${route.method} ${route.url} as ${input.who} with ${withBody ? input.body.kind : 'no body'} (${url.slice(0, 120)}): ${problem}`,
            );
          }
        },
      );
      await fc
        .assert(property, { seed: SEED + index, numRuns: runs, endOnFailure: true })
        .catch((error: unknown) => {
          failures.push(`${route.method} ${route.url}: ${String(error).slice(0, 300)}`);
        });
    }
    return failures;
  }

  const isApi = (r: RegisteredRoute) => r.url.startsWith('/api/');
  const isAdmin = (r: RegisteredRoute) => r.url === '/admin' || r.url.startsWith('/admin/');

  it('finds the public, admin and API routes', () => {
    expect(routes.filter(isApi).length).toBeGreaterThan(10);
    expect(routes.filter(isAdmin).length).toBeGreaterThan(30);
    expect(routes.filter((r) => !isApi(r) && !isAdmin(r)).length).toBeGreaterThan(10);
  });

  it('refuses text with a NUL character on both engines, in paths, queries and fields', async () => {
    const inPath = await t.app.inject({
      method: 'GET',
      url: '/api/v1/people/a%00b',
      headers: headersFor('api'),
    });
    expect(inPath.statusCode).toBe(400);
    expect(inPath.json()).toMatchObject({ code: 'invalid', error: expect.stringContaining('NUL character') });
    const inQuery = await t.app.inject({
      method: 'GET',
      url: '/admin/people?q=%00',
      headers: headersFor('owner'),
    });
    expect(inQuery.statusCode).toBe(400);
    const inField = await t.app.inject({
      method: 'POST',
      url: `/petitions/${slug}/sign`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'nul@example.org', given_name: 'A\u0000B', postal_code: '1' }),
    });
    expect(inField.statusCode).toBe(400);
    const stored = await t.ctx.db
      .selectFrom('emails')
      .select('address')
      .where('address', '=', 'nul@example.org')
      .execute();
    expect(stored).toEqual([]);
  });

  it('refuses numbers too large to use (1e309 reads as Infinity)', async () => {
    const api = await t.app.inject({
      method: 'GET',
      url: '/api/v1/tags?page=1e309',
      headers: headersFor('api'),
    });
    expect(api.statusCode).toBe(400);
    expect(api.json()).toMatchObject({ code: 'invalid', error: 'A number in the request is too large.' });
    const admin = await t.app.inject({
      method: 'GET',
      url: '/admin/people?page=1e309',
      headers: headersFor('owner'),
    });
    expect(admin.statusCode).toBe(400);
  });

  it('public routes: never a 5xx, and every 4xx says why', async () => {
    const failures = await fuzzFamily(
      routes.filter((r) => !isApi(r) && !isAdmin(r)),
      ['anyone', 'owner'],
      RUNS * 2,
    );
    expect(failures).toEqual([]);
  }, 60_000);

  it('API routes: never a 5xx, and every 4xx says why', async () => {
    const failures = await fuzzFamily(routes.filter(isApi), ['api', 'anyone'], RUNS * 2);
    expect(failures).toEqual([]);
  }, 60_000);

  it('admin routes (signed in, valid CSRF token): never a 5xx, and every 4xx says why', async () => {
    // Signing out would end the session the rest of the run uses.
    const admin = routes.filter((r) => isAdmin(r) && r.url !== '/admin/logout');
    const failures = await fuzzFamily(admin, ['owner', 'anyone'], RUNS);
    expect(failures).toEqual([]);
  }, 60_000);
});
