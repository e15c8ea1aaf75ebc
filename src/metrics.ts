import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The service's Prometheus metrics, in a registry of their own rather than prom-client's global one, so each
 * test can build its own app. Label values are bounded: run outcomes, the retry classifier's short reasons
 * ("status 503", "network"), HTTP methods, status codes, and route patterns (`/posts/:id`, never the raw URL).
 */
export interface Metrics {
  /** Default process metrics plus everything below; `GET /metrics` serves it. */
  readonly registry: Registry;
  readonly runs: Counter<'outcome'>;
  readonly recordsIngested: Counter;
  readonly recordsRejected: Counter;
  readonly runDuration: Histogram;
  readonly upstreamRetries: Counter<'reason'>;
  /**
   * Unix seconds, the Prometheus convention: alert on `time() - ingestion_last_success_timestamp_seconds`.
   * Set from the store's status at each scrape (ops-routes.ts).
   */
  readonly lastSuccess: Gauge;
  /** Counts and times one answered request: http_requests_total and http_request_duration_seconds. */
  readonly observeRequest: (method: string, route: string, statusCode: number, seconds: number) => void;
}

/** The route label of requests no route matched, so unknown URLs cannot grow the label set. */
export const NOT_FOUND_ROUTE = 'not_found';

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const observeRequest = (method: string, route: string, statusCode: number, seconds: number) => {
    httpRequests.inc({ method, route, status_code: statusCode });
    httpDuration.observe({ method, route }, seconds);
  };
  const runs = new Counter({ name: 'ingestion_runs_total', help: 'Ingestion runs finished, by outcome (success or failed).', labelNames: ['outcome'] as const, registers });
  // Both series exist from the start, so the first failure after a restart is an increase from 0 to rate() over.
  for (const outcome of ['success', 'failed']) runs.inc({ outcome }, 0);
  return {
    registry,
    runs,
    recordsIngested: new Counter({ name: 'ingestion_records_ingested_total', help: 'Valid records stored by successful runs.', registers }),
    recordsRejected: new Counter({ name: 'ingestion_records_rejected_total', help: 'Invalid records skipped, in successful and failed runs.', registers }),
    // A run fetches a whole upstream: from well under a second to minutes.
    runDuration: new Histogram({
      name: 'ingestion_run_duration_seconds',
      help: 'Duration of ingestion runs, retries and backoff included.',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    upstreamRetries: new Counter({ name: 'ingestion_upstream_retries_total', help: 'Upstream attempts retried, by reason.', labelNames: ['reason'], registers }),
    lastSuccess: new Gauge({ name: 'ingestion_last_success_timestamp_seconds', help: 'Start of the last successful run (GET /status last_successful_run), in Unix seconds; 0 before any.', registers }),
    observeRequest,
  };
}
