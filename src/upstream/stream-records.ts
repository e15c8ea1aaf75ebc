import { request, type Dispatcher } from 'undici';
import { UpstreamInvalidJsonError, UpstreamNetworkError, UpstreamStatusError, UpstreamTooLargeError } from '../errors.js';
import { jsonArrayElements } from './json-array-elements.js';

export interface StreamRecordsOptions {
  readonly url: string;
  /** The longest wait for the response headers, and the longest silence while the body streams. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
  readonly dispatcher?: Dispatcher | undefined;
}

/**
 * Streams the elements of the JSON array an upstream answers, in groups as the body's chunks complete them,
 * so memory stays flat whatever the response size. Throws the catalog's upstream errors: UpstreamStatusError for a non-2xx answer,
 * UpstreamNetworkError for a failed, reset or silent connection, UpstreamTooLargeError past `maxBytes`, and
 * UpstreamInvalidJsonError when the body is not a JSON array. An abort of `signal` ends it at once.
 */
export async function* streamRecords(options: StreamRecordsOptions): AsyncGenerator<unknown[]> {
  const response = await send(options);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    discard(response.body);
    throw new UpstreamTooLargeError(options.maxBytes);
  }
  try {
    yield* jsonArrayElements(limitBytes(response.body, options.maxBytes));
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw classifyBodyError(error);
  } finally {
    discard(response.body);
  }
}

async function send(options: StreamRecordsOptions): Promise<Dispatcher.ResponseData> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(options.url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
      dispatcher: options.dispatcher,
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new UpstreamNetworkError(networkReason(error), { cause: error });
  }
  if (response.statusCode < 200 || response.statusCode > 299) {
    discard(response.body);
    const retryAfter = response.headers['retry-after'];
    throw new UpstreamStatusError(response.statusCode, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }
  return response;
}

/** Drops a body we will not read. undici's body emits an 'error' when destroyed, which must not go unheard. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Counts bytes as they arrive and fails as soon as the bound is passed, before the excess is parsed. */
async function* limitBytes(body: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (seen > maxBytes) throw new UpstreamTooLargeError(maxBytes);
    yield chunk;
  }
}

function classifyBodyError(error: unknown): Error {
  if (error instanceof UpstreamTooLargeError) return error;
  if (isNetworkError(error)) return new UpstreamNetworkError(networkReason(error), { cause: error });
  const reason = error instanceof Error ? error.message.replace(/\s+/g, ' ').slice(0, 120) : 'unreadable body';
  return new UpstreamInvalidJsonError(reason, { cause: error });
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('UND_ERR') || code.startsWith('E') || code === 'ERR_STREAM_PREMATURE_CLOSE');
}

/** A short reason without addresses or paths: the error code tells an operator what happened. */
function networkReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'no response headers within API_TIMEOUT';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'the body stalled for longer than API_TIMEOUT';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'UND_ERR_SOCKET':
      return 'connection closed before the response was complete';
    case undefined:
      return 'request failed';
    default:
      return `connection error ${String(code)}`;
  }
}
