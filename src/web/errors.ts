import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../errors.ts';
import { isConnectionError, isUnstorableTextError } from '../db/dialect.ts';
import { html } from './html.ts';
import { publicPage } from './layout.ts';

interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
}

/** Maps anything thrown in a route to a status, a stable code and a message for people. */
export function describeError(error: unknown): ErrorAnswer {
  if (isAppError(error)) return { status: error.status, code: error.code, message: error.message };
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown[] };
  if (fastifyError.validation) {
    return { status: 400, code: 'invalid', message: readableValidation(fastifyError) };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 413, code: 'too_large', message: 'That upload is too large.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'invalid', message: 'That content type is not accepted here.' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'invalid', message: 'The request body could not be read.' };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 400, code: 'invalid', message: 'Please send the file as a form upload.' };
  }
  if (error instanceof SyntaxError && 'body' in (error as object)) {
    return { status: 400, code: 'invalid', message: 'The request body is not valid JSON.' };
  }
  if (error instanceof Error && error.message.startsWith('Multipart: ')) {
    // busboy's complaint about a malformed upload (no boundary, truncated parts) carries no code.
    return {
      status: 400,
      code: 'invalid',
      message: 'The upload could not be read. Please send the file again.',
    };
  }
  if (isUnstorableTextError(error)) {
    return {
      status: 400,
      code: 'invalid',
      message: 'The request contains characters that cannot be stored as text.',
    };
  }
  if (isConnectionError(error)) {
    return {
      status: 503,
      code: 'unavailable',
      message: 'The service is briefly unavailable. Please try again.',
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      status,
      code: status === 404 ? 'not_found' : 'invalid',
      message: fastifyError.message ?? 'Bad request.',
    };
  }
  return { status: 500, code: 'internal', message: 'Something went wrong on our side. It has been logged.' };
}

function readableValidation(error: Partial<FastifyError> & { validation?: unknown[] }): string {
  const first = (error.validation?.[0] ?? {}) as {
    instancePath?: string;
    message?: string;
    params?: { missingProperty?: string };
  };
  const field =
    first.params?.missingProperty ?? first.instancePath?.replace(/^\//, '').replace(/\//g, '.') ?? '';
  const context = (error as { validationContext?: string }).validationContext;
  if (first.params?.missingProperty) return `${field} is required.`;
  if (field) return `${field}: ${first.message ?? 'is not valid'}.`;
  return `The ${context ?? 'request'} is not valid: ${first.message ?? 'check the fields'}.`;
}

function wantsJson(request: FastifyRequest): boolean {
  if (request.url.startsWith('/api/') || request.url.endsWith('.json')) return true;
  const accept = request.headers.accept ?? '';
  return !accept.includes('text/html') && accept.includes('json');
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = describeError(error);
  if (answer.status >= 500 && answer.status !== 503) request.log.error({ err: error }, 'unhandled error');
  else request.log.info({ code: answer.code, status: answer.status }, answer.message);
  if (answer.status === 503) reply.header('retry-after', '5');
  if (isAppError(error) && error.code === 'rate_limited' && typeof error.details?.retryAfter === 'number') {
    reply.header('retry-after', String(error.details.retryAfter));
  }
  reply.status(answer.status);
  if (wantsJson(request))
    return reply.type('application/json').send({ error: answer.message, code: answer.code });
  return reply.type('text/html; charset=utf-8').send(errorPage(answer.status, answer.message));
}

export function errorPage(status: number, message: string): string {
  const titles: Record<number, string> = {
    400: 'Please check your input',
    403: 'Not allowed',
    404: 'Not found',
    413: 'Too large',
    429: 'Too many requests',
  };
  const title = titles[status] ?? (status >= 500 ? 'Something went wrong' : 'Request not accepted');
  return publicPage({
    title,
    body: html`<h1>${title}</h1>
      <p role="alert">${message}</p>
      <p><a href="/">Home</a></p>`,
  }).value;
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return errorHandler(
    Object.assign(new Error('not found'), { statusCode: 404, message: 'There is no page at this address.' }),
    request,
    reply,
  );
}
