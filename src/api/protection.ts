import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import { Type } from '@sinclair/typebox';
import { OverloadedError, RateLimitedError } from '../errors.js';
import { requireApiKeys } from './api-keys.js';
import { isPublicRoute } from './public-routes.js';
import { ErrorSchema } from './schemas.js';

export interface ProtectionOptions {
  readonly apiKeys: readonly string[];
  /** Requests per minute per client IP; 0 is off. */
  readonly rateLimit: number;
  readonly trustProxy: boolean | string;
  readonly corsOrigins: readonly string[];
  /** 0 is off. */
  readonly maxEventLoopDelayMs: number;
}

/**
 * Requests refused in bulk, shed for load (503 OVERLOADED) or over the rate limit (429 RATE_LIMITED): logged
 * at debug only, since a line each would add to the load being refused. http_requests_total counts them.
 */
const refusedInBulk = new WeakSet<FastifyRequest>();

/** Whether load shedding or the rate limit answered this request. */
export function wasRefusedInBulk(request: FastifyRequest): boolean {
  return refusedInBulk.has(request);
}

/** Seconds a shed request is told to wait: long enough for a lag spike to pass, short for a client. */
const OVERLOADED_RETRY_AFTER_S = 5;

/**
 * What stands between the network and the routes, in the order a request meets it: load shedding (cheapest,
 * so an overloaded process spends nothing on a request it cannot serve), CORS, the rate
 * limit (before the key check, so guessing keys is limited too), then the API key. Public routes (probes,
 * metrics) are never shed, limited or locked: an orchestrator must see a busy replica as alive.
 */
export async function registerProtection(app: FastifyInstance, options: ProtectionOptions): Promise<void> {
  documentRefusals(app, options);
  if (options.maxEventLoopDelayMs > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      // A rejection goes to the error handler, which answers in the API's error shape; nothing lets it through.
      pressureHandler: (request, reply) => {
        if (isPublicRoute(request)) return undefined;
        refusedInBulk.add(request);
        reply.header('retry-after', String(OVERLOADED_RETRY_AFTER_S));
        return Promise.reject(new OverloadedError());
      },
    });
  }
  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins.includes('*') ? '*' : [...options.corsOrigins],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['authorization', 'x-api-key', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
      // An OPTIONS without the preflight headers gets the CORS answer too, not a text/plain 400.
      strictPreflight: false,
    });
  }
  if (options.rateLimit > 0) {
    await app.register(rateLimit, {
      global: true,
      max: options.rateLimit,
      timeWindow: 60_000,
      allowList: isPublicRoute,
      errorResponseBuilder: (request, context) => {
        refusedInBulk.add(request);
        return new RateLimitedError(context.max, Math.ceil(context.ttl / 1000));
      },
    });
    // The plugin hooks each route, so a request no route takes (a 404, or a 405 for a known path) would go
    // unlimited, and with keys set its 401-or-404 would grade key guesses as fast as they come. It counts in
    // the same budget; the plugin's guard stops a request from counting twice.
    const limitUnrouted = app.rateLimit();
    // Callback style, as app.ts's hooks: it runs on every request, and an async hook costs each a promise.
    app.addHook('onRequest', (request, reply, done) => {
      if (!request.is404) return done();
      limitUnrouted.call(app, request, reply).then(() => done(), done);
    });
  }
  if (options.apiKeys.length > 0) requireApiKeys(app, options.apiKeys, { corsPreflights: options.corsOrigins.length > 0 });
}

/** The names /openapi.json gives the two ways to present an API key (see api-keys.ts). */
export const API_KEY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
} as const;

/**
 * Tells /openapi.json what the protection answers on each guarded route (401 without a key, 429 past the
 * rate limit) and how to present a key, so that a client generated from it expects those answers. Routes
 * registered after this, which is all of them.
 */
function documentRefusals(app: FastifyInstance, options: ProtectionOptions): void {
  const error = Type.Ref(ErrorSchema);
  const refusals = { ...(options.apiKeys.length > 0 && { 401: error }), ...(options.rateLimit > 0 && { 429: error }) };
  const security = options.apiKeys.length > 0 ? Object.keys(API_KEY_SCHEMES).map((scheme) => ({ [scheme]: [] })) : undefined;
  app.addHook('onRoute', (route) => {
    if (route.config?.public === true || route.schema?.hide === true) return;
    route.schema = { ...route.schema, response: { ...refusals, ...(route.schema?.response as object | undefined) }, ...(security && { security }) };
  });
}
