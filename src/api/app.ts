import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { MissingHostError, ShuttingDownError } from '../errors.js';
import { NOT_FOUND_ROUTE, type Metrics } from '../metrics.js';
import type { Store } from '../stores/store.js';
import { installErrorHandlers } from './error-handler.js';
import { routerErrorAnswer, socketErrorAnswers } from './framework-errors.js';
import { API_KEY_SCHEMES, registerProtection, wasRefusedInBulk, type ProtectionOptions } from './protection.js';
import { lazyRequestLogger, loggedUrl } from './request-logger.js';
import { securityHeaders } from './security-headers.js';
import { healthRoutes } from './routes/health-routes.js';
import { ingestRoutes } from './routes/ingest-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { postsRoutes } from './routes/posts-routes.js';
import { statusRoutes } from './routes/status-routes.js';
import { ErrorSchema, PostSchema, RunSchema } from './schemas.js';

export interface AppDeps {
  readonly store: Store;
  readonly logger: Logger;
  readonly version: string;
  /** When given, every response is counted and timed, and `GET /metrics` serves the registry. */
  readonly metrics?: Metrics | undefined;
  /** Starts a run now, for `POST /ingest`; without it the route does not exist. */
  readonly trigger?: (() => Promise<{ runId: string; replica: string }>) | undefined;
  /** API keys, rate limit, CORS, load shedding; without it (unit tests) the API is open. */
  readonly protection?: ProtectionOptions | undefined;
}

const REQUEST_ID = /^[\w.-]{1,64}$/;
const SECURITY_HEADERS = securityHeaders();

/** Builds the HTTP API; never listens, so tests call `inject()` and main calls `listen()`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const socketErrors = socketErrorAnswers(deps.logger as FastifyBaseLogger, deps.metrics);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // A caller's X-Request-Id is kept when it is sane, so one id follows a request across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // One line per request (below) instead of Fastify's two: logging is most of a request's cost.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: 64 * 1024,
    frameworkErrors: routerErrorAnswer({ metrics: deps.metrics, headers: SECURITY_HEADERS }),
    clientErrorHandler: socketErrors.answerClientError,
    // Node would answer a request without Host with an empty 400; the hook below answers it in the API's shape.
    // Node checks the timeouts below every connectionsCheckingInterval (30 s by default), so a client trickling
    // its request was cut off after 30 to 90 s; checked every second, it is cut off after 30 to 31 s.
    http: { requireHostHeader: false, connectionsCheckingInterval: 1_000, headersTimeout: 30_000 },
    // Headers are capped by Node at 16 KiB (431 above); a client that trickles a request is cut off.
    requestTimeout: 30_000,
    trustProxy: deps.protection?.trustProxy ?? false,
    // Fastify's own 503 during shutdown has a fixed body outside the API's shape; the hook below answers instead.
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  socketErrors.refuseConnect(app.server);
  // No route reads text, and Fastify parses text/plain by default: POST /ingest would take `hi` as its body.
  // Without the parser such a body is a 415 like any other type but JSON.
  app.removeContentTypeParser('text/plain');
  // Set as close() begins, when Fastify also starts answering `Connection: close`.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // Callback-style hooks, one per stage: they run on every request, and each async hook costs a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing) return done(new ShuttingDownError());
    done(request.raw.httpVersion === '1.1' && request.headers.host === undefined ? new MissingHostError() : undefined);
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
  const metrics = deps.metrics;
  const logsSuccesses = deps.logger.isLevelEnabled('debug');
  app.addHook('onResponse', (request, reply, done) => {
    // Successes at debug, refusals at info: a line per request costs a quarter of the throughput, and access
    // logs of successes usually come from the load balancer. LOG_LEVEL=debug logs every request here.
    const refused = reply.statusCode >= 400 && !wasRefusedInBulk(request);
    if (refused || logsSuccesses) {
      request.log[refused ? 'info' : 'debug']({ method: request.method, url: loggedUrl(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    }
    if (metrics) {
      // The route pattern, never the raw URL, so /posts/5 and /posts/6 are one series.
      metrics.observeRequest(request.method, request.routeOptions.url ?? NOT_FOUND_ROUTE, reply.statusCode, reply.elapsedTime / 1000);
    }
    done();
  });
  installErrorHandlers(app);

  await app.register(swagger, {
    // Shared schemas under their own names (Post, Run, Error), so generated clients name their types well.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Ingestion service', version: deps.version, description: 'Records ingested from an HTTP API, with run status and history.' },
      ...((deps.protection?.apiKeys.length ?? 0) > 0 && { components: { securitySchemes: API_KEY_SCHEMES } }),
    },
  });
  app.addSchema(PostSchema);
  app.addSchema(RunSchema);
  app.addSchema(ErrorSchema);
  if (deps.protection) await registerProtection(app, deps.protection);

  await app.register(healthRoutes);
  await app.register(opsRoutes, { store: deps.store, metrics: deps.metrics });
  await app.register(postsRoutes, { store: deps.store });
  await app.register(statusRoutes, { store: deps.store });
  if (deps.trigger) await app.register(ingestRoutes, { trigger: deps.trigger, enabled: (deps.protection?.apiKeys.length ?? 0) > 0 });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
