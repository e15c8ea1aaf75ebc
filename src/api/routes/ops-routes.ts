import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StoreUnavailableError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { Store } from '../../stores/store.js';
import { ErrorSchema } from '../schemas.js';

const ReadySchema = Type.Object({ status: Type.Literal('ready') });

/**
 * For operators and orchestrators. `/ready` is readiness: the store answers, so the instance can serve
 * (`/health` stays liveness and never touches the store). `/metrics` is the Prometheus scrape target, served
 * only when the app was built with metrics.
 */
export const opsRoutes: FastifyPluginAsyncTypebox<{ store: Store; metrics?: Metrics | undefined }> = async (app, { store, metrics }) => {
  app.get(
    '/ready',
    { config: { public: true }, schema: { summary: 'Readiness: the store answers', response: { 200: ReadySchema, 503: Type.Ref(ErrorSchema) } } },
    async () => {
      try {
        await store.ping();
      } catch (error) {
        throw new StoreUnavailableError('ping', { cause: error });
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
