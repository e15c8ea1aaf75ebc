import { connect } from 'node:net';

/**
 * An HTTP/1.x request written byte for byte, so that it can hold what `inject()` and HTTP clients refuse or
 * repair: unknown methods, raw spaces and non-ASCII bytes in the target, control characters in headers.
 */
export interface RawRequest {
  readonly method: string;
  /** Sent as UTF-8, unencoded. */
  readonly target: string;
  readonly version: string;
  /** Whole header lines without CRLF, sent one byte per character (latin1) so obs-text and controls pass as they are. */
  readonly headerLines: readonly string[];
  readonly body?: string | undefined;
}

export interface RawAnswer {
  readonly statusCode: number;
  /** Lower-cased names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The request's bytes. `Connection: close` is always added, so the server hangs up after answering. */
function encodeRawRequest(request: RawRequest): Buffer {
  const framing = ['Connection: close'];
  if (request.body !== undefined) framing.push(`Content-Length: ${Buffer.byteLength(request.body)}`);
  return Buffer.concat([
    Buffer.from(`${request.method} ${request.target} ${request.version}\r\n`, 'utf8'),
    Buffer.from([...request.headerLines, ...framing].map((line) => `${line}\r\n`).join(''), 'latin1'),
    Buffer.from(`\r\n${request.body ?? ''}`, 'utf8'),
  ]);
}

/**
 * Sends the request on a fresh connection and reads until the server closes it. Resolves with the parsed
 * answer, or `undefined` when the server hung up without sending a byte; rejects when the connection is still
 * open after `timeoutMs`, which is what "the server hangs" looks like from outside.
 */
export function sendRawRequest(port: number, request: RawRequest, timeoutMs: number): Promise<RawAnswer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; received so far: ${JSON.stringify(Buffer.concat(received).toString('latin1').slice(0, 200))}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // A server rejecting a request may reset the connection while we still write: what it sent before counts.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(received);
      try {
        resolve(bytes.length === 0 ? undefined : parseAnswer(bytes));
      } catch (error) {
        reject(error);
      }
    });
    socket.end(encodeRawRequest(request));
  });
}

function parseAnswer(bytes: Buffer): RawAnswer {
  // latin1 maps each byte to one character, so string offsets are byte offsets.
  const text = bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error(`answer without a complete head: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = '', ...headerLines] = text.slice(0, headEnd).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine);
  if (!status) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const rawBody = bytes.subarray(headEnd + 4);
  const body = headers['transfer-encoding'] === 'chunked' ? decodeChunked(rawBody) : rawBody;
  return { statusCode: Number(status[1]), headers, body: body.toString('utf8') };
}

/** Joins the chunks of a chunked body (RFC 9112 §7.1); chunk extensions and trailers are ignored. */
function decodeChunked(bytes: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd === -1) throw new Error('truncated chunked body');
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error('malformed chunk size');
    if (size === 0) return Buffer.concat(chunks);
    chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}
