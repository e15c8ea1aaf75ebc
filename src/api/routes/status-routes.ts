import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Store } from '../../stores/store.js';
import { COMMON_ERRORS, RunsPage, RunsQuery, StatusSchema } from '../schemas.js';
import { strictIntegers } from '../strict-integers.js';

export const statusRoutes: FastifyPluginAsyncTypebox<{ store: Store }> = async (app, { store }) => {
  app.get(
    '/status',
    { schema: { summary: 'What the last runs ingested', response: { 200: StatusSchema, 503: COMMON_ERRORS[503] } } },
    async () => store.getStatus(),
  );

  app.get(
    '/runs',
    { preValidation: strictIntegers, schema: { summary: 'The run history, newest first', querystring: RunsQuery, response: { 200: RunsPage, ...COMMON_ERRORS } } },
    async (request) => {
      const runs = await store.listRuns((request.query as RunsQuery).limit);
      return { runs, count: runs.length };
    },
  );
};
