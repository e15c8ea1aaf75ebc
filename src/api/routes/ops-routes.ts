import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StoreUnavailableError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { Store } from '../../stores/store.js';
import { ErrorSchema } from '../schemas.js';

const ReadySchema = Type.Object({ status: Type.Literal('ready') });

/**
 * How long `/ready` waits for the store. A database that stops answering without closing its connections (a
 * frozen host) would otherwise hold the probe for ever; past this it answers 503, within the Kubernetes
 * manifest's 3 s probe timeout.
 */
const READY_TIMEOUT_MS = 2_000;

/**
 * For operators and orchestrators. `/ready` is readiness: the store answers, so the instance can serve
 * (`/health` stays liveness and never touches the store). `/metrics` is the Prometheus scrape target, served
 * only when the app was built with metrics.
 */
export const opsRoutes: FastifyPluginAsyncTypebox<{ store: Store; metrics?: Metrics | undefined }> = async (app, { store, metrics }) => {
  // Probes that come while a ping is unanswered share it, so a silent store holds one connection, not one a probe.
  let pending: Promise<void> | undefined;
  const ping = () => (pending ??= store.ping().finally(() => (pending = undefined)));
  app.get(
    '/ready',
    { config: { public: true }, schema: { summary: 'Readiness: the store answers', response: { 200: ReadySchema, 503: Type.Ref(ErrorSchema) } } },
    async () => {
      let timer: NodeJS.Timeout | undefined;
      const silence = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailableError(`ping: no answer within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([ping(), silence]);
      } catch (error) {
        throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('ping', { cause: error });
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' as const };
    },
  );

  if (metrics) {
    const { registry } = metrics;
    app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  }
};
