import { METHODS } from 'node:http';
import fc from 'fast-check';
import type { RawRequest } from './raw-http.js';

/**
 * fast-check arbitraries for requests to this service's API, each named after what it produces. Most are near
 * misses of real requests (known routes, known query parameters, plausible headers), so that fuzzing reaches
 * validation, the handlers and the store rather than only the 404 handler; the rest is plain garbage.
 */

/** The routes the API serves; `{id}` stands for a post id. */
const KNOWN_ROUTES = ['/health', '/ready', '/metrics', '/posts', '/posts/{id}', '/status', '/runs', '/openapi.json'] as const;

/** Ids the fuzzed app stores, so that some generated requests find a post (the largest is the largest valid id). */
export const SEEDED_POST_IDS = [1, 2, 3, 500, 2_147_483_647] as const;

const TOKEN_PUNCTUATION = "!#$%&'*+-.^_`|~";
const LOWER_TOKEN_CHARS = [...`${TOKEN_PUNCTUATION}0123456789abcdefghijklmnopqrstuvwxyz`];
const ANY_CASE_TOKEN_CHARS = [...LOWER_TOKEN_CHARS, ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'];

/** Headers the clients set themselves or that change framing (body length, connection reuse): never fuzzed. */
const FRAMING_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'expect', 'upgrade', 'te', 'trailer', 'proxy-connection']);

const longRun = (character: string, minLength: number, maxLength: number) =>
  fc.integer({ min: minLength, max: maxLength }).map((length) => character.repeat(length));

/** Text a lenient parser might read as a number: every size and sign, floats, exponents, hex, padding, non-ASCII digits, past int64. */
const numberLikeText = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double().map(String),
  fc.constantFrom('0', '-0', '1e3', '1e400', '0x10', '0b1', ' 1', '1 ', '+1', '1.', '.5', '١', '2147483648', '9223372036854775808', '9007199254740993'),
);

/** A broken percent-encoding: a lone `%`, non-hex digits, truncated, overlong or surrogate UTF-8. */
const invalidPercentEncoding = fc.constantFrom('%', '%z', '%zz', '%0', '%ff', '%C0%AF', '%E0%A4%A', '%ED%A0%80', '%%');

/** A valid percent-encoding of something routing must treat as data: NUL, slash, backslash, dot, `?`, `#`, any unicode. */
const validPercentEncoding = fc.oneof(
  fc.constantFrom('%00', '%2F', '%2f', '%5C', '%2E', '%25', '%20', '%3F', '%23'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).map(encodeURIComponent),
);

/** A path segment: a route name, a number, dots, encodings good and bad, raw unicode, or 100 to 20,000 characters. */
const pathSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('health', 'ready', 'metrics', 'posts', 'status', 'runs', 'openapi.json') },
  { weight: 3, arbitrary: numberLikeText },
  fc.constantFrom('', '.', '..', '...', '%2e', '%2e%2e', '~', ';', ':id', '*'),
  validPercentEncoding,
  invalidPercentEncoding,
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  longRun('x', 100, 20_000),
);

const postIdText = fc.oneof(fc.constantFrom(...SEEDED_POST_IDS.map(String)), numberLikeText, validPercentEncoding, invalidPercentEncoding);

/** A known route, its `{id}` filled with any text. */
export const knownRoutePath = fc.tuple(fc.constantFrom(...KNOWN_ROUTES), postIdText).map(([route, id]) => route.replace('{id}', id));

/** A path: a known route, a known route with more segments (`/posts/1/x`, `/health//`), or segments of anything. */
export const requestPath = fc.oneof(
  { weight: 2, arbitrary: knownRoutePath },
  fc.tuple(knownRoutePath, fc.array(pathSegment, { minLength: 1, maxLength: 3 })).map(([route, extra]) => [route, ...extra].join('/')),
  fc.array(pathSegment, { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`),
);

/** A query parameter name: mostly the API's own, else typos, prototype keys, bracket syntax, anything encoded. */
const queryKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('limit', 'offset', 'after') },
  fc.constantFrom('limit[]', 'limit[0]', 'LIMIT', 'limt', '__proto__', 'constructor', 'hasOwnProperty', ''),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map(encodeURIComponent),
  invalidPercentEncoding,
);

/** A query parameter value: numbers of every shape, empties, lists, bad encodings, unicode, up to ten thousand digits. */
const queryValue = fc.oneof(
  { weight: 4, arbitrary: numberLikeText },
  fc.constantFrom('', '[]', '1,2', 'true', 'null', '{}', '%zz', '%00', '%'),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent),
  longRun('9', 20, 10_000),
);

const queryParameter = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(queryKey, queryValue).map(([key, value]) => `${key}=${value}`) },
  queryKey,
);

/** A query string with its `?`: none, a bare `?`, a few parameters, or one parameter twice (`limit=1&limit=2`). */
export const queryString = fc.oneof(
  fc.constantFrom('', '?', '?&&'),
  { weight: 4, arbitrary: fc.array(queryParameter, { minLength: 1, maxLength: 4 }).map((parameters) => `?${parameters.join('&')}`) },
  fc.tuple(fc.constantFrom('limit', 'offset', 'after'), numberLikeText, numberLikeText).map(([key, first, second]) => `?${key}=${first}&${key}=${second}`),
);

/** A header name HTTP allows (a lower-case token), other than the framing headers. */
const headerName = fc.string({ unit: fc.constantFrom(...LOWER_TOKEN_CHARS), minLength: 1, maxLength: 24 }).filter((name) => !FRAMING_HEADERS.has(name));

/** A header value HTTP allows: visible ASCII with inner spaces. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 64 }).map((value) => value.trim());

const acceptHeader = fc.oneof(fc.constantFrom('application/json', '*/*', 'text/plain', 'text/html, */*;q=0.8', 'application/openmetrics-text; version=1.0.0'), headerValue);
const contentTypeHeader = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json;;', ';', 'json'),
  headerValue,
);
const requestIdHeader = fc.oneof(fc.stringMatching(/^[\w.-]{1,64}$/), headerValue, longRun('a', 65, 200));
const authorizationHeader = fc.oneof(fc.base64String({ maxLength: 40 }).map((token) => `Bearer ${token}`), fc.base64String({ maxLength: 40 }).map((pair) => `Basic ${pair}`), headerValue);

/** Headers: any of accept, content-type, x-request-id, authorization and x-api-key, plus a few random ones. */
export const requestHeaders = fc
  .tuple(
    fc.record({ accept: acceptHeader, 'content-type': contentTypeHeader, 'x-request-id': requestIdHeader, authorization: authorizationHeader, 'x-api-key': headerValue }, { requiredKeys: [] }),
    fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
  )
  .map(([known, random]): Record<string, string> => ({ ...random, ...known }));

/** A body, or none: JSON of any shape, text, broken JSON, or more than the app's 64 KiB body limit. */
export const requestBody = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom('{', '[1,', '{"__proto__":{"polluted":true}}', 'null', ''),
  longRun('x', 65 * 1024, 70 * 1024),
);

/** The methods clients send, GET most often so that the routes, not only the 404 handler, are exercised. */
export const commonMethod = fc.oneof({ weight: 6, arbitrary: fc.constant('GET') }, fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'));

/** Any method Node knows; `inject()` refuses others. */
export const injectableMethod = fc.oneof({ weight: 4, arbitrary: commonMethod }, fc.constantFrom(...METHODS));

// Below: what only a raw socket can send.

/** Any method token, in any case: mostly known methods, else ones no server implements. */
const rawMethod = fc.oneof({ weight: 9, arbitrary: injectableMethod }, fc.string({ unit: fc.constantFrom(...ANY_CASE_TOKEN_CHARS), minLength: 1, maxLength: 12 }));

/** The request line's version: HTTP/1.1 mostly, else versions and spellings a server must refuse. */
const httpVersion = fc.oneof({ weight: 15, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'http/1.1', 'HTTP/1'));

/**
 * A request target as sent, unencoded: a path and query (raw unicode, `%zz` and all), other request-target
 * forms (`*`, absolute URLs), bytes a URL parser would repair (spaces, NUL, backslash), or past 16 KiB.
 */
const rawRequestTarget = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(requestPath, queryString).map(([path, query]) => path + query) },
  fc.constantFrom('*', 'posts', 'http://example.com/posts?limit=2', 'http://[::1]/health', '/posts#top', '/health?#', '/pos ts', '/\\health', '/posts/\x00', '/posts/\x7f', '/é'),
  longRun('1', 16 * 1024, 64 * 1024).map((digits) => `/posts?limit=${digits}`),
);

const anyByteExceptLineBreaks = fc
  .integer({ min: 0, max: 0xff })
  .filter((code) => code !== 0x0a && code !== 0x0d)
  .map((code) => String.fromCharCode(code));

/**
 * A header line: usually valid, else with obs-text or control bytes in the value, a space before the colon,
 * no colon, no name, or a 20 KiB value (past Node's 16 KiB header limit). Never a line break: that would be
 * another line.
 */
const rawHeaderLine = fc.oneof(
  { weight: 30, arbitrary: fc.tuple(headerName, headerValue).map(([name, value]) => `${name}: ${value}`) },
  fc.tuple(headerName, fc.string({ unit: anyByteExceptLineBreaks, maxLength: 32 })).map(([name, value]) => `${name}: ${value}`),
  headerName.map((name) => `${name} : value`),
  headerName,
  headerValue.map((value) => `: ${value}`),
  headerName.chain((name) => longRun('v', 17 * 1024, 24 * 1024).map((value) => `${name}: ${value}`)),
);

/** A whole raw request: any method, target and version, a Host header, random header lines, and a body for non-GETs. */
export const rawRequest: fc.Arbitrary<RawRequest> = fc
  .record({ method: rawMethod, target: rawRequestTarget, version: httpVersion, headerLines: fc.array(rawHeaderLine, { maxLength: 4 }), body: requestBody })
  .map(({ method, target, version, headerLines, body }) => ({
    method,
    target,
    version,
    headerLines: ['Host: localhost', ...headerLines],
    body: method === 'GET' || method === 'HEAD' ? undefined : body,
  }));
