import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn } from 'pino';
import { withoutQuerySecrets } from '../log-safe.js';

/** A request's URL as its log line shows it: secrets in the query hidden, and at most 200 characters. */
export function loggedUrl(url: string): string {
  const shown = withoutQuerySecrets(url);
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}

/**
 * A request's logger that becomes a pino child (bound to the request id) the first time it is used. Fastify
 * makes a child per request up front; at the default level a successful request logs nothing, and building
 * that child (its bindings serialised, the redaction applied to them) was about a tenth of the CPU a
 * `GET /posts/{id}` cost. Lines logged through it are the same as through the eager child.
 */
class LazyRequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #logger(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options);
    return this.#child;
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.#logger().level = level;
  }

  fatal(...args: Parameters<LogFn>): void {
    this.#logger().fatal(...args);
  }

  error(...args: Parameters<LogFn>): void {
    this.#logger().error(...args);
  }

  warn(...args: Parameters<LogFn>): void {
    this.#logger().warn(...args);
  }

  info(...args: Parameters<LogFn>): void {
    this.#logger().info(...args);
  }

  debug(...args: Parameters<LogFn>): void {
    this.#logger().debug(...args);
  }

  trace(...args: Parameters<LogFn>): void {
    this.#logger().trace(...args);
  }

  silent(...args: Parameters<LogFn>): void {
    this.#logger().silent(...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: the request logger, created lazily. */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options);
}
