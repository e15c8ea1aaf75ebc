import { pipeline, Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { getGlobalDispatcher, interceptors, request, type Dispatcher } from 'undici';
import { errorCode, UpstreamInvalidJsonError, UpstreamNetworkError, UpstreamRedirectLoopError, UpstreamStatusError, UpstreamTooLargeError } from '../errors.js';
import { jsonArrayElements } from './json-array-elements.js';

export interface StreamRecordsOptions {
  readonly url: string;
  /** The longest wait for the response headers, and the longest silence while the body streams. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Elements with a longer JSON text come out as OversizedElement, their bytes not kept. */
  readonly maxRecordBytes?: number | undefined;
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
    // MAX_RESPONSE_BYTES bounds what the body decompresses to, so a small archive of a huge text is refused too.
    yield* jsonArrayElements(limitBytes(decoded(response), options.maxBytes), options.maxRecordBytes);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw classifyBodyError(error);
  } finally {
    discard(response.body);
  }
}

/**
 * JSON shrinks five to ten times compressed, so the request offers what node:zlib decodes, as curl --compressed
 * and Python's requests do. A body in an encoding not offered is read as it came, and fails as invalid JSON.
 */
const ACCEPT_ENCODING = 'gzip, deflate, br';

type Body = AsyncIterable<Buffer>;

/**
 * pipeline() destroys the decoder when the body fails (a cut connection, an abort), so reading it fails too;
 * the error comes out of the reading, so the callback has nothing left to do.
 */
const through = (decoder: () => Transform) => (body: Body): Body => pipeline(body, decoder(), () => undefined);

const DECODERS: Readonly<Record<string, (body: Body) => Body>> = {
  gzip: through(createGunzip),
  'x-gzip': through(createGunzip),
  deflate: inflated,
  br: through(createBrotliDecompress),
};

function decoded(response: Dispatcher.ResponseData): Body {
  const encoding = String(response.headers['content-encoding'] ?? '').trim().toLowerCase();
  return DECODERS[encoding]?.(response.body) ?? response.body;
}

/**
 * RFC 9110's `deflate` is zlib's format, yet some servers send bare DEFLATE, which browsers and curl read as
 * well. A zlib stream opens with two bytes whose compression method is 8 and whose value is a multiple of 31
 * (RFC 1950); anything else is read as bare DEFLATE.
 */
async function* inflated(body: Body): AsyncGenerator<Buffer> {
  const chunks = body[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 2 && !ended) {
    const next = await chunks.next();
    if (next.done) ended = true;
    else head = Buffer.concat([head, next.value]);
  }
  const zlib = head.length >= 2 && ((head[0] as number) & 0x0f) === 8 && ((head[0] as number) * 256 + (head[1] as number)) % 31 === 0;
  async function* whole(): AsyncGenerator<Buffer> {
    yield head;
    if (!ended) yield* { [Symbol.asyncIterator]: () => chunks };
  }
  yield* through(zlib ? createInflate : createInflateRaw)(Readable.from(whole()));
}

/** As browsers and curl -L do: an endpoint that moved (http to https, a new path) keeps working. */
const MAX_REDIRECTIONS = 5;

async function send(options: StreamRecordsOptions): Promise<Dispatcher.ResponseData> {
  const { url, authorization } = splitCredentials(options.url);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'accept-encoding': ACCEPT_ENCODING, ...(authorization === undefined ? {} : { authorization }) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
      // undici's redirect handler drops Authorization when a redirect leaves the endpoint's origin.
      dispatcher: (options.dispatcher ?? getGlobalDispatcher()).compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS })),
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    // undici's redirect handler refuses a loop with an argument error, which is no network failure.
    if (errorCode(error) === 'UND_ERR_INVALID_ARG' && /redirect loop/i.test((error as Error).message)) throw new UpstreamRedirectLoopError({ cause: error });
    throw new UpstreamNetworkError(networkReason(error), { cause: error });
  }
  if (response.statusCode < 200 || response.statusCode > 299) {
    discard(response.body);
    const retryAfter = response.headers['retry-after'];
    // A redirect still, once MAX_REDIRECTIONS were followed: undici hands the last one on as the answer.
    const detail = response.statusCode >= 300 && response.statusCode < 400 && response.headers.location !== undefined ? `a redirect, after the ${MAX_REDIRECTIONS} followed` : undefined;
    throw new UpstreamStatusError(response.statusCode, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, detail);
  }
  return response;
}

/**
 * undici ignores a URL's `user:password@` without a word, so an upstream behind Basic auth would answer 401.
 * As curl does, they go in an Authorization header instead, and out of the URL undici sees.
 */
function splitCredentials(endpoint: string): { url: string; authorization?: string } {
  const url = new URL(endpoint);
  if (url.username === '' && url.password === '') return { url: endpoint };
  const credentials = `${decodeOrKeep(url.username)}:${decodeOrKeep(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.href, authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}

/** A `%` that starts no escape (`p%zz`) is taken as written, as curl does, rather than failing the run. */
function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
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
  const code = errorCode(error);
  if (code?.startsWith('Z_')) return new UpstreamInvalidJsonError(`the compressed body does not decompress (${code})`, { cause: error });
  const reason = error instanceof Error ? error.message.replace(/\s+/g, ' ').slice(0, 120) : 'unreadable body';
  return new UpstreamInvalidJsonError(reason, { cause: error });
}

function isNetworkError(error: unknown): boolean {
  const code = errorCode(error);
  // System errors (ECONNRESET, EAI_AGAIN, ...) and undici's; Node's own ERR_* codes are bugs or limits, not the network.
  return code !== undefined && (code.startsWith('UND_ERR') || (code.startsWith('E') && !code.startsWith('ERR_')) || code === 'ERR_STREAM_PREMATURE_CLOSE');
}

/** A short reason without addresses or paths: the error code tells an operator what happened. */
function networkReason(error: unknown): string {
  const code = errorCode(error);
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
