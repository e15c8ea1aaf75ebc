import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, MethodNotAllowedError, RouteNotFoundError, StoreUnavailableError, type ErrorCode } from '../errors.js';
import { clipped, describeError } from '../log-safe.js';
import { trackAllowedMethods } from './allowed-methods.js';

type ValidationContext = 'querystring' | 'params' | 'body' | 'headers';
export const WHERE: Record<ValidationContext, string> = { querystring: 'query parameter', params: 'path parameter', body: 'body field', headers: 'header' };

/** The body of every error answer, also for those written before any route runs (framework-errors.ts). */
export function errorBody(statusCode: number, code: string, message: string) {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message };
}

function send(reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply {
  return reply.code(statusCode).send(errorBody(statusCode, code, message));
}

/** Fastify's refusals of a request body, in the catalog's codes and words: its FST_ERR_* codes are not the API's. */
const BODY_REFUSALS: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_REQUEST', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_REQUEST', message: 'the body is empty but Content-Type says JSON; send JSON, or no Content-Type' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'the request body must be application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', message: 'the request body is too large; no route takes more than a small JSON object' },
};

/**
 * Every error answers `{statusCode, error, code, message}`; an unknown route 404, a known path asked with
 * another method 405 with `Allow`. Validation errors and the catalog's deliberate
 * 4xx/503 show their message; Fastify's own 4xx (bad content type, body too large) answer in the catalog's
 * codes. Anything else is logged with the request id and answered with a generic 500, because Fastify's
 * default handler would send a driver's text verbatim.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.validation) {
      return send(reply, 400, 'INVALID_REQUEST', validationMessage(error, request));
    }
    if (error instanceof AppError) {
      // Only the store's 503: a shed request (OVERLOADED) or POST /ingest during shutdown says nothing about it.
      if (error instanceof StoreUnavailableError) request.log.warn({ error: describeError(error) }, 'store unavailable');
      if (error.statusCode < 500 || error.statusCode === 503) return send(reply, error.statusCode, error.code, error.message);
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      const refusal = BODY_REFUSALS[error.code];
      return send(reply, error.statusCode, refusal?.code ?? 'INVALID_REQUEST', refusal?.message ?? error.message);
    }
    request.log.error({ error: describeError(error) }, 'request failed');
    request.log.debug({ err: error }, 'request failure details');
    return send(reply, 500, 'INTERNAL_ERROR', `internal error; quote request id ${request.id} when reporting it`);
  });

  const allowedMethods = trackAllowedMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const shown = path.length > 100 ? `${path.slice(0, 100)}…` : path;
    const allowed = allowedMethods(path);
    // HEAD's headers must be GET's (RFC 9110, 9.3.2), content-length too: the unsent body names GET.
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (allowed.length > 0) {
      const error = new MethodNotAllowedError(method, shown, allowed);
      return send(reply.header('allow', allowed.join(', ')), 405, error.code, error.message);
    }
    const error = new RouteNotFoundError(method, shown);
    return send(reply, 404, error.code, error.message);
  });
}

const REQUEST_PART: Record<ValidationContext, 'query' | 'params' | 'body' | 'headers'> = { querystring: 'query', params: 'params', body: 'body', headers: 'headers' };

/** "query parameter 'limit' must be an integer from 1 to 1000 (got "5000")": which input, what it takes, what was sent. */
function validationMessage(error: FastifyError, request: FastifyRequest): string {
  const context = (error.validationContext ?? 'querystring') as ValidationContext;
  const first = error.validation?.[0];
  if (!first) return error.message;
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'additionalProperties') {
    return `unknown ${WHERE[context]} '${String(params.additionalProperty)}'; see GET /openapi.json for what this route takes`;
  }
  const field = first.instancePath.replace(/^\//, '') || String(params.missingProperty ?? '');
  const sent = (request[REQUEST_PART[context]] as Record<string, unknown> | undefined)?.[field];
  const got = sent === undefined ? '' : ` (got ${JSON.stringify(clipped(String(sent), 40))})`;
  const schema = schemaProperties(request, context)?.[field];
  return `${WHERE[context]} '${field}' must be ${schema?.type === 'integer' ? expected(schema) : first.message?.replace(/^must be /, '')}${got}`;
}

export type IntegerSchema = { type?: string; minimum?: number; maximum?: number };

/** The properties the route's schema declares for one part of the request (query, params, ...). */
export function schemaProperties(request: FastifyRequest, part: ValidationContext): Record<string, IntegerSchema> | undefined {
  return (request.routeOptions.schema?.[part] as { properties?: Record<string, IntegerSchema> } | undefined)?.properties;
}

/** What an integer field of a schema takes, in words: "an integer from 1 to 1000". */
export function expected(schema: IntegerSchema): string {
  if (schema.minimum !== undefined && schema.maximum !== undefined) return `an integer from ${schema.minimum} to ${schema.maximum}`;
  if (schema.minimum !== undefined) return `an integer of at least ${schema.minimum}`;
  return 'an integer';
}
