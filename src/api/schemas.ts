import { Type, type Static } from '@sinclair/typebox';
import { MAX_ID } from '../ingest/validate-post.js';

/**
 * JSON schemas of every route: they validate requests, serialise responses (fast-json-stringify) and
 * generate /openapi.json, so the three never disagree.
 */
const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const PostSchema = Type.Object(
  {
    userId: Type.Integer(),
    id: Type.Integer(),
    title: Type.String(),
    body: Type.String(),
    ingested_at: Timestamp,
    source: Type.String(),
  },
  { $id: 'Post', description: 'A stored record: the upstream fields plus when and from where it was ingested' },
);

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'the HTTP reason phrase' }),
    code: Type.String({ description: 'a stable error code, listed in the README' }),
    message: Type.String({ description: 'what went wrong and what to do about it' }),
  },
  { $id: 'Error' },
);

export const MAX_PAGE = 1000;

export const PostsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 10, description: `posts per page, 1 to ${MAX_PAGE}` })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ID, default: 0, description: `posts to skip, in id order, 0 to ${MAX_ID}` })),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ID, description: 'keyset paging: only posts with an id greater than this; use the previous page’s next_after' })),
  },
  { additionalProperties: false },
);
/**
 * A query as a handler sees it: validation (ajv's useDefaults) has filled each parameter that has a default,
 * which the schema leaves optional so that /openapi.json does not tell clients to send it.
 */
export type Defaulted<T, K extends keyof T> = T & Required<Pick<T, K>>;

export type PostsQuery = Defaulted<Static<typeof PostsQuery>, 'limit' | 'offset'>;

export const PostsPage = Type.Object({
  posts: Type.Array(Type.Ref(PostSchema)),
  count: Type.Integer({ description: 'posts in this page' }),
  limit: Type.Integer(),
  offset: Type.Integer(),
  next_after: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as ?after= for the next page; null once a page holds fewer than limit posts' }),
});

export const PostParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: `a post id, 1 to ${MAX_ID}` }),
});

export const HealthSchema = Type.Object({ status: Type.Literal('healthy'), time: Timestamp });

export const StatusSchema = Type.Object({
  last_successful_run: Type.Union([Timestamp, Type.Null()], { description: 'start of the last successful run (the ingested_at it stamped)' }),
  last_attempt: NullableTimestamp,
  status: Type.Union([Type.Literal('never_run'), Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')]),
  records_ingested: Type.Integer({ description: 'valid records the last successful run received and upserted, changed or not' }),
  records_rejected: Type.Integer({ description: 'invalid records the last successful run skipped' }),
  last_error: Type.Union([Type.String(), Type.Null()], { description: 'why the last attempt failed; null after a success' }),
  last_duration_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: "duration of the last finished attempt; null before any, and for a run whose end was not recorded",
  }),
  last_run_replica: Type.Union([Type.String(), Type.Null()], { description: 'REPLICA_ID of the replica that ran the last attempt' }),
});

export const RunSchema = Type.Object(
  {
    run_id: Type.String(),
    source: Type.String(),
    status: Type.Union([Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')]),
    started_at: Timestamp,
    finished_at: NullableTimestamp,
    duration_ms: Type.Union([Type.Integer(), Type.Null()], { description: 'null while running, and for a run whose end was not recorded' }),
    records_ingested: Type.Integer(),
    records_rejected: Type.Integer(),
    records_changed: Type.Union([Type.Integer(), Type.Null()], {
      description:
        'records the run inserted or updated that stay stored: a failed run leaves none on SQLite and PostgreSQL, and keeps what it wrote on MongoDB and DynamoDB; null while running, and for a run whose replica died on MongoDB and DynamoDB',
    }),
    error: Type.Union([Type.String(), Type.Null()]),
    replica: Type.Union([Type.String(), Type.Null()], { description: 'REPLICA_ID of the replica that ran it' }),
  },
  { $id: 'Run' },
);

export const RunsQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 20, description: `runs to return, newest first, 1 to ${MAX_PAGE}` })) },
  { additionalProperties: false },
);

export type RunsQuery = Defaulted<Static<typeof RunsQuery>, 'limit'>;

export const RunsPage = Type.Object({ runs: Type.Array(Type.Ref(RunSchema)), count: Type.Integer() });

export const IngestAccepted = Type.Object({
  run_id: Type.String({ description: 'the run started; it shows in GET /runs and GET /status' }),
  replica: Type.String({ description: 'REPLICA_ID of the replica running it' }),
});

/** Error responses every route can give, for the OpenAPI document. */
export const COMMON_ERRORS = {
  400: Type.Ref(ErrorSchema),
  503: Type.Ref(ErrorSchema),
} as const;
