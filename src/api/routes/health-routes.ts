import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HealthSchema } from '../schemas.js';

/** Liveness, as the seed answers it: the process serves HTTP. It never touches the store. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', { config: { public: true }, schema: { summary: 'Liveness', response: { 200: HealthSchema } } }, async () => ({
    status: 'healthy' as const,
    time: new Date().toISOString(),
  }));
};
