import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/runtime.ts';

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('OpenAPI document and docs page', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves an OpenAPI 3 document generated from the route schemas, without a key', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as Json;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.osdiApiToken).toMatchObject({
      type: 'apiKey',
      name: 'OSDI-API-Token',
    });
    const paths = doc.paths as Json;
    for (const [path, method] of [
      ['/api/v1/', 'get'],
      ['/api/v1/people', 'get'],
      ['/api/v1/people', 'post'],
      ['/api/v1/people/person_signup_helper', 'post'],
      ['/api/v1/people/{id}', 'put'],
      ['/api/v1/tags', 'post'],
      ['/api/v1/tags/{id}/taggings', 'post'],
      ['/api/v1/tags/{id}/taggings/{personId}', 'delete'],
      ['/api/v1/lists', 'get'],
      ['/api/v1/petitions/{id}/signatures', 'post'],
      ['/api/v1/petitions/{id}/record_signature_helper', 'post'],
      ['/api/v1/signatures', 'get'],
      ['/api/v1/messages/{id}', 'get'],
      ['/api/v1/events', 'get'],
      ['/api/v1/events/{id}/record_attendance_helper', 'post'],
    ] as const) {
      expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    const person = paths['/api/v1/people/{id}'].get.responses['200'].content['application/hal+json'].schema;
    expect(Object.keys(person.properties)).toEqual(
      expect.arrayContaining([
        'given_name',
        'family_name',
        'email_addresses',
        'postal_addresses',
        'identifiers',
      ]),
    );
    // Bodies may come as JSON under either media type, as the API parses both.
    const body = paths['/api/v1/people/person_signup_helper'].post.requestBody.content;
    expect(Object.keys(body).sort()).toEqual(['application/hal+json', 'application/json']);
    expect(body['application/hal+json'].schema.properties).toHaveProperty('person');
    const list = paths['/api/v1/people'].get.parameters.map((p: Json) => p.name);
    expect(list).toEqual(expect.arrayContaining(['page', 'per_page', 'filter', '$filter']));
    // The docs routes themselves are not API operations.
    expect(paths['/api/v1/docs']).toBeUndefined();
  });

  it('a server-rendered docs page lists every operation, with no outside assets', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/docs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.body).toContain('<html lang="en">');
    expect(response.body).toContain('POST /api/v1/people/person_signup_helper');
    expect(response.body).toContain('GET /api/v1/petitions/{id}/signatures');
    expect(response.body).not.toMatch(/<script|https?:\/\/(?!localhost)[^"]*\.(js|css)/);
  });
});
