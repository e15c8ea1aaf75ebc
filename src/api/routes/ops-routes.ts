import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StoreUnavailableError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { Store } from '../../stores/store.js';
import { ErrorSchema } from '../schemas.js';

const ReadySchema = Type.Object({ status: Type.Literal('ready') });

/**
 * How long `/ready` (and `/metrics`, for the last success) waits for the store. A database that stops
 * answering without closing its connections (a frozen host) would otherwise hold the probe for ever; past
 * this it answers 503, within the Kubernetes manifest's 3 s probe timeout.
 */
const READY_TIMEOUT_MS = 2_000;

/**
 * For operators and orchestrators. `/ready` is readiness: the store answers, so the instance can serve
 * (`/health` stays liveness and never touches the store). `/metrics` is the Prometheus scrape target, served
 * only when the app was built with metrics.
 */
export const opsRoutes: FastifyPluginAsyncTypebox<{ store: Store; metrics?: Metrics | undefined }> = async (app, { store, metrics }) => {
  const ping = sharedWhilePending(() => store.ping());
  app.get(
    '/ready',
    { config: { public: true }, schema: { summary: 'Readiness: the store answers', response: { 200: ReadySchema, 503: Type.Ref(ErrorSchema) } } },
    async () => {
      try {
        await within(READY_TIMEOUT_MS, ping(), () => new StoreUnavailableError(`ping: no answer within ${READY_TIMEOUT_MS / 1000} s`));
      } catch (error) {
        throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('ping', { cause: error });
      }
      return { status: 'ready' as const };
    },
  );

  if (metrics) {
    const { registry, lastSuccess } = metrics;
    // The last success is read from the store at each scrape, not remembered from this process's own runs: a
    // replica that did not run it, or that restarted since, reports it too (0 until a run has succeeded).
    const readLastSuccess = sharedWhilePending(async () => {
      const { last_successful_run: startedAt } = await store.getStatus();
      lastSuccess.set(startedAt === null ? 0 : Date.parse(startedAt) / 1000);
    });
    app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
      // A store that fails or stays silent leaves the last reading: the scrape still answers, and /ready tells.
      await within(READY_TIMEOUT_MS, readLastSuccess(), () => new StoreUnavailableError('status: no answer')).catch(() => undefined);
      reply.type(registry.contentType);
      return registry.metrics();
    });
  }
};

/**
 * `call`, shared by everyone who asks while it is unanswered: probes and scrapes that come while the store is
 * silent hold one of its connections, not one each.
 */
function sharedWhilePending<T>(call: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= call().finally(() => (pending = undefined)));
}

/** `work`'s answer, or `silence()`'s error once `ms` pass without one. */
async function within<T>(ms: number, work: Promise<T>, silence: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(silence()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
