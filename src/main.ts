import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.js';
import { loadConfig, type Config } from './config.js';
import { AppError } from './errors.js';
import { runIngestion } from './ingest/run-ingestion.js';
import { IngestionScheduler } from './ingest/scheduler.js';
import { createLogger } from './logger.js';
import { describeError } from './log-safe.js';
import { createMetrics } from './metrics.js';
import { createStore } from './stores/create-store.js';
import type { Store } from './stores/store.js';
import { streamRecords } from './upstream/stream-records.js';

/** Start-up failures end here: one line naming what to fix, no stack trace, a non-zero exit. */
function exitWithLine(line: string, code = 1): never {
  process.stderr.write(`${line}\n`);
  process.exit(code);
}

/** The line to exit with; the whole error, which may hold paths and driver text, goes to the log at debug only. */
function cannotStart(error: unknown, config: Config, logger: Logger): string {
  logger.debug({ err: error }, 'the store failed to open');
  logger.flush();
  return `cannot start: ${error instanceof AppError ? error.message : 'the store failed to open'} (STORAGE_TYPE=${config.storageType})`;
}

/**
 * On Node.js before 22 the AWS SDK writes an eight-line warning to stderr as the DynamoDB client is made,
 * breaking the one-line rule of a failed start and the JSON lines of a running one. Said once in the log instead.
 */
function sayAwsSdkNodeSupportInOneLine(config: Config, logger: Logger): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (config.storageType !== 'dynamodb' || major >= 22 || process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  logger.warn({ node: process.version }, 'AWS SDK releases after the first week of January 2027 need Node.js 22 or later; the image runs 24');
}

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    exitWithLine(error instanceof AppError ? error.message : 'invalid configuration', 2);
  }
  const logger = createLogger(config);
  sayAwsSdkNodeSupportInOneLine(config, logger);
  // Until the service has started, no run can be in flight and no request is served: a signal then ends the
  // process at once, and 0 says it was asked to (a store left mid-migration rolls back at the next start).
  const stopBeforeStart = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopped before start-up finished');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', stopBeforeStart);
  process.on('SIGINT', stopBeforeStart);

  let store: Store;
  try {
    store = await createStore(config);
  } catch (error) {
    exitWithLine(cannotStart(error, config, logger));
  }
  // The store connects and migrates while the API is built below, so start-up waits for the slower of the
  // two rather than both. Runs a dead process left `running` are recovered by whichever replica next takes
  // the run lease.
  const initialised = store.init().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );

  const metrics = createMetrics();
  const scheduler = new IngestionScheduler({
    intervalMs: config.ingestionIntervalMs,
    runTimeoutMs: config.runTimeoutMs,
    leaseTtlMs: config.leaseTtlMs,
    replica: config.replicaId,
    store,
    logger,
    metrics,
    runOnce: (run) =>
      runIngestion(
        {
          store,
          logger,
          metrics,
          retry: config.retry,
          batchSize: config.batchSize,
          source: config.sourceName,
          replica: config.replicaId,
          fetchRecords: (attemptSignal) =>
            streamRecords({
              url: config.apiEndpoint,
              timeoutMs: config.apiTimeoutMs,
              maxBytes: config.maxResponseBytes,
              maxRecordBytes: config.maxRecordBytes,
              signal: attemptSignal,
            }),
        },
        run,
      ),
  });
  const app = await buildApp({
    store,
    logger,
    version,
    metrics,
    trigger: () => scheduler.trigger(),
    protection: {
      apiKeys: config.apiKeys,
      rateLimit: config.rateLimit,
      trustProxy: config.trustProxy,
      corsOrigins: config.corsOrigins,
      maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    },
  });

  const failed = await initialised;
  if (failed) exitWithLine(cannotStart(failed.error, config, logger));
  // Listening starts after init() has migrated the store: from then on /ready fails only when the store does.
  try {
    await app.listen({ port: config.serverPort, host: '0.0.0.0' });
  } catch (error) {
    exitWithLine(`cannot listen on SERVER_PORT=${config.serverPort}: ${(error as { code?: string }).code ?? 'failed'}`);
  }
  // The port bound, which differs from SERVER_PORT when that is 0 (the OS picks one).
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.serverPort;
  logger.info(
    { storage: config.storageType, source: config.sourceName, intervalMs: config.ingestionIntervalMs, replica: config.replicaId, port, version },
    'service started',
  );
  process.off('SIGTERM', stopBeforeStart);
  process.off('SIGINT', stopBeforeStart);
  installShutdown({ app, scheduler, store, logger, timeoutMs: config.shutdownTimeoutMs });
  // Asks for the run lease now, in the background: the API is already serving.
  scheduler.start();
}

interface ShutdownDeps {
  readonly app: FastifyInstance;
  readonly scheduler: IngestionScheduler;
  readonly store: Store;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

/** The longest requests in flight get to finish at shutdown before the connections left are cut. */
const MAX_DRAIN_MS = 5_000;

/**
 * SIGTERM/SIGINT: stop accepting connections and drain requests (Fastify answers 503 to new ones meanwhile),
 * cancel the run in flight (it records itself as failed, its staged records dropped), close the store, exit 0.
 * Past SHUTDOWN_TIMEOUT, or on a second signal, exit at once.
 */
function installShutdown({ app, scheduler, store, logger, timeoutMs }: ShutdownDeps): void {
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown took longer than SHUTDOWN_TIMEOUT: exiting now');
      process.exit(1);
    }, timeoutMs).unref();
    // The server closes once every connection has ended, and a client still sending its request (a slow or
    // stalled one), or one kept alive after an answer given during shutdown, would hold it until the forced
    // exit. Requests in flight get half of SHUTDOWN_TIMEOUT, at most MAX_DRAIN_MS; then what is left is cut.
    const drain = setTimeout(() => app.server.closeAllConnections(), Math.min(timeoutMs / 2, MAX_DRAIN_MS)).unref();
    const results = await Promise.allSettled([app.close().finally(() => clearTimeout(drain)), scheduler.stop()]);
    for (const result of results) if (result.status === 'rejected') logger.error({ error: describeError(result.reason) }, 'shutdown step failed');
    await store.close().catch((error: unknown) => logger.error({ error: describeError(error) }, 'closing the store failed'));
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

await main();
