import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { IngestDisabledError } from '../../errors.js';
import { ErrorSchema, IngestAccepted } from '../schemas.js';

export interface IngestRoutesOptions {
  /** Starts a run now; throws RunInProgressError when one is in flight on any replica. */
  readonly trigger: () => Promise<{ runId: string; replica: string }>;
  /** Without API keys nobody could be told apart from anybody, so the route refuses. */
  readonly enabled: boolean;
}

/** `POST /ingest`: run now instead of waiting for the schedule; the schedule then counts from this run. */
export const ingestRoutes: FastifyPluginAsyncTypebox<IngestRoutesOptions> = async (app, { trigger, enabled }) => {
  const error = Type.Ref(ErrorSchema);
  // 400, 413 and 415: a body is optional, but one that is sent must be a small JSON value. Without keys the
  // route only refuses (403); with them, the protection adds its 401 (protection.ts).
  const response: Record<number, TSchema> = enabled
    ? { 202: IngestAccepted, 400: error, 409: error, 413: error, 415: error, 503: error }
    : { 400: error, 403: error, 413: error, 415: error };
  app.post(
    '/ingest',
    {
      schema: {
        summary: 'Start a run now (needs an API key)',
        response,
      },
    },
    async (_request, reply) => {
      if (!enabled) throw new IngestDisabledError();
      const { runId, replica } = await trigger();
      return reply.code(202).send({ run_id: runId, replica });
    },
  );
};
