import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NOT_FOUND_ROUTE, type Metrics } from '../metrics.js';
import { errorBody } from './error-handler.js';
import { loggedUrl } from './request-logger.js';

/**
 * Answers for what fails before any route or hook can run, in the API's error shape with an x-request-id,
 * as every other answer: the router's rejections (Fastify's `frameworkErrors`), the HTTP parser's
 * (`clientErrorHandler`, on the raw socket) and CONNECT, which Node would hang up on unanswered.
 */

interface ErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly message: string;
}

const ROUTER_ERRORS: Readonly<Record<string, ErrorBody>> = {
  FST_ERR_BAD_URL: { statusCode: 400, code: 'INVALID_REQUEST', message: 'the path is not valid percent-encoding; encode reserved and non-ASCII characters as %XX' },
  FST_ERR_MAX_PARAM_LENGTH: { statusCode: 414, code: 'INVALID_REQUEST', message: 'a path parameter is longer than 100 characters' },
};

const PARSER_ERRORS: Readonly<Record<string, ErrorBody>> = {
  HPE_HEADER_OVERFLOW: { statusCode: 431, code: 'INVALID_REQUEST', message: 'the request headers exceed 16 KiB' },
  ERR_HTTP_REQUEST_TIMEOUT: { statusCode: 408, code: 'INVALID_REQUEST', message: 'the request was not received in time' },
};
const MALFORMED: ErrorBody = { statusCode: 400, code: 'INVALID_REQUEST', message: 'the request is not valid HTTP/1.1 (request line, method or header)' };
const CONNECT_REFUSED: ErrorBody = { statusCode: 405, code: 'INVALID_REQUEST', message: 'CONNECT is not supported: this is not a proxy' };

const json = (body: ErrorBody) => JSON.stringify(errorBody(body.statusCode, body.code, body.message));

export interface RouterErrorOptions {
  readonly metrics: Metrics | undefined;
  /** The headers app.ts's onSend hook sets on every other answer (helmet's). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The router's refusals. No hook runs for a request the router refused, so what the hooks do for the others
 * is done here: the headers, the log line and the count; it matched no route (NOT_FOUND_ROUTE). No key is
 * checked, and none is needed: the answer is the same with a key, a wrong one or none, so it grades no key
 * guess, which no rate limit would slow here (the plugin's hooks do not run either).
 */
export function routerErrorAnswer({ metrics, headers }: RouterErrorOptions) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const body = ROUTER_ERRORS[error.code] ?? MALFORMED;
    request.log.info({ method: request.method, url: loggedUrl(request.url), statusCode: body.statusCode }, 'request');
    void reply.code(body.statusCode).headers(headers).header('x-request-id', request.id).type('application/json').send(json(body));
    metrics?.observeRequest(request.method, NOT_FOUND_ROUTE, body.statusCode, reply.elapsedTime / 1000);
  };
}

/** A whole HTTP response written to a socket the parser gave up on, then the socket closed. HEAD gets no body. */
function answerOnSocket(socket: Duplex, body: ErrorBody, requestId: string, head = false): void {
  if (!socket.writable) return void socket.destroy();
  const text = json(body);
  socket.end(
    `HTTP/1.1 ${body.statusCode} ${STATUS_CODES[body.statusCode]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${head ? '' : text}`,
  );
}

/** The method label of a request the parser gave up on: no method was read. */
const UNPARSED_METHOD = 'unknown';

/**
 * What the HTTP parser refused (`clientErrorHandler`) and CONNECT: no request object and no hook exists for
 * them, so each is logged at info and counted under NOT_FOUND_ROUTE here, as every other 4xx is. A slow or
 * stalled client (408) and oversized headers (431) are then seen in the log and in http_requests_total.
 */
export function socketErrorAnswers(logger: FastifyBaseLogger, metrics: Metrics | undefined) {
  const refused = (socket: Duplex, body: ErrorBody, method: string, head = false) => {
    // The id the answer carries is the line's, so a client's report finds it in the log.
    const reqId = randomUUID();
    answerOnSocket(socket, body, reqId, head);
    logger.info({ reqId, method, statusCode: body.statusCode }, 'request');
    metrics?.observeRequest(method, NOT_FOUND_ROUTE, body.statusCode, 0);
  };
  return {
    /** Node's clientError: `rawPacket` holds the bytes the parser choked on (a Buffer, though typed loosely). */
    answerClientError(error: { code?: string; rawPacket?: unknown }, socket: Duplex): void {
      // A reset connection has nobody left to answer.
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const head = Buffer.isBuffer(error.rawPacket) && error.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
      refused(socket, PARSER_ERRORS[error.code ?? ''] ?? MALFORMED, UNPARSED_METHOD, head);
    },
    refuseConnect(server: Server): void {
      server.on('connect', (_request, socket: Duplex) => refused(socket, CONNECT_REFUSED, 'CONNECT'));
    },
  };
}
