/**
 * The elements of a JSON array arriving as byte chunks, parsed as the chunks come. Only the array's own syntax
 * (brackets, commas, whitespace) is read here, byte by byte, tracking strings and nesting to find where each
 * element ends (string text is skipped with indexOf). The elements a chunk completes then go to JSON.parse
 * together, as one array text: it is native, checks them fully, and one call per chunk costs far less than
 * one per element. Memory holds one chunk and one unfinished element (at most the bound on an element's
 * size, past which its bytes are counted, not kept), whatever the size of the array. On
 * 250-byte records that is several times the rate of stream-json, a tokenizer written in JavaScript.
 */

import { isUtf8 } from 'node:buffer';

/** The body is not one JSON array of valid elements; the message says where and why, without the data. */
export class JsonArrayError extends Error {}

/**
 * Stands, in the yielded elements, for one whose JSON text is longer than the bound: it was skipped unread
 * (its bytes were not kept past the bound), and the run counts it as a rejected record.
 */
export class OversizedElement {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {}
}

/**
 * Stands, in the yielded elements, for one whose bytes are not UTF-8 (a body in Latin-1, a stray byte): decoding
 * would store U+FFFD in their place, a record other than the one sent, so the run counts it as rejected.
 */
export class NotUtf8Element {}

/** The UTF-8 byte order mark, which RFC 8259 (8.1) lets a parser ignore before the text. */
const BYTE_ORDER_MARK = [0xef, 0xbb, 0xbf];

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isWhitespace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** How many backslashes come just before `end`, counting back no further than `from`. */
function backslashesBefore(chunk: Buffer, end: number, from: number): number {
  let count = 0;
  while (end - count - 1 >= from && chunk[end - count - 1] === BACKSLASH) count += 1;
  return count;
}

type State = 'before-array' | 'before-first' | 'before-next' | 'in-element' | 'after-element' | 'after-array';

/**
 * Yields, for each chunk that completes at least one element, those elements in order; an element longer than
 * `maxElementBytes` as an OversizedElement, so that one huge record cannot hold the memory.
 */
export async function* jsonArrayElements(chunks: AsyncIterable<Uint8Array>, maxElementBytes = Number.POSITIVE_INFINITY): AsyncGenerator<unknown[]> {
  let state = 'before-array' as State;
  /** Nesting of objects and arrays inside the current element. */
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** Bytes of the current element that came in earlier chunks, unless it is over the bound (`skipping`). */
  let carried: Buffer[] = [];
  /** How many bytes of the current element came in earlier chunks, kept or not. */
  let carriedBytes = 0;
  let skipping = false;
  /** Whether an element this chunk completes is over the bound. */
  let oversized = false;
  /** Bytes read before the current chunk, for error positions. */
  let consumed = 0;
  let index = 0;
  /** How many bytes of a UTF-8 byte order mark opened the body. */
  let markBytes = 0;

  /** Where the chunk's complete elements begin and end: [start, end) pairs, the first one after `carried`. */
  let spans: number[] = [];

  const complete = (start: number, end: number) => {
    spans.push(start, end);
    if (end - start + (spans.length === 2 ? carriedBytes : 0) > maxElementBytes) oversized = true;
  };
  /** Parses the chunk's complete elements in one JSON.parse; only when that fails, one by one to name the culprit. */
  const parseComplete = (chunk: Buffer): unknown[] => {
    if (oversized) return parseEach(chunk);
    const first = spans[0] as number;
    const last = spans[spans.length - 1] as number;
    const piece = chunk.subarray(first, last);
    const text = carried.length === 0 ? piece : Buffer.concat([...carried, piece]);
    // Native and vectorised: a check per chunk costs next to nothing, and only a failing chunk is read per element.
    if (!isUtf8(text)) return parseEach(chunk);
    try {
      return JSON.parse(`[${text.toString('utf8')}]`) as unknown[];
    } catch {
      parseEach(chunk);
      // Every element parsed alone, so their array should have too; if it did not, say so rather than guess.
      throw new JsonArrayError(`elements ${index} to ${index + spans.length / 2 - 1} are not valid JSON`);
    }
  };
  /** One JSON.parse per element: to name the one that is not JSON, or to leave out those over the bound. */
  const parseEach = (chunk: Buffer): unknown[] => {
    const elements: unknown[] = [];
    for (let k = 0; k < spans.length; k += 2) {
      const own = chunk.subarray(spans[k] as number, spans[k + 1] as number);
      const bytes = own.length + (k === 0 ? carriedBytes : 0);
      if (bytes > maxElementBytes) {
        elements.push(new OversizedElement(bytes, maxElementBytes));
        continue;
      }
      const text = k === 0 && carried.length > 0 ? Buffer.concat([...carried, own]) : own;
      try {
        // Parsed even when not UTF-8: bytes outside strings (decoded as U+FFFD) make it no JSON at all.
        const element: unknown = JSON.parse(text.toString('utf8'));
        elements.push(isUtf8(text) ? element : new NotUtf8Element());
      } catch {
        throw new JsonArrayError(`element ${index + k / 2} is not valid JSON`);
      }
    }
    return elements;
  };
  const fail = (reason: string, at: number): never => {
    throw new JsonArrayError(`${reason} at byte ${consumed + at}`);
  };

  for await (const bytes of chunks) {
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (state === 'in-element') {
        if (inString) {
          if (escaped) {
            escaped = false;
            continue;
          }
          // Most of a record is string text: jump to the next quote that no backslash escapes.
          let quote = chunk.indexOf(QUOTE, i);
          while (quote !== -1 && backslashesBefore(chunk, quote, i) % 2 === 1) quote = chunk.indexOf(QUOTE, quote + 1);
          if (quote === -1) {
            escaped = backslashesBefore(chunk, chunk.length, i) % 2 === 1;
            i = chunk.length;
            continue;
          }
          i = quote;
          inString = false;
          if (depth === 0) {
            complete(start, i + 1);
            state = 'after-element';
          }
          continue;
        }
        if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth += 1;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          if (depth > 0) {
            depth -= 1;
            if (depth === 0) {
              complete(start, i + 1);
              state = 'after-element';
            }
            continue;
          }
          // A bare number, true, false or null ends where the array closes.
          complete(start, i);
          state = 'after-element';
        } else if (depth === 0 && (byte === COMMA || isWhitespace(byte))) {
          complete(start, i);
          state = 'after-element';
        } else {
          continue;
        }
        if (state === 'in-element') continue;
        // The byte that ended a bare value is the array's own: read it again below.
      }
      if (isWhitespace(byte)) continue;
      switch (state) {
        case 'before-array':
          if (consumed + i === markBytes && byte === BYTE_ORDER_MARK[markBytes]) {
            markBytes += 1;
            break;
          }
          if (markBytes % BYTE_ORDER_MARK.length !== 0) fail('a byte order mark cut short', i);
          if (consumed + i === 0 && (byte === 0xff || byte === 0xfe)) fail('a UTF-16 byte order mark (JSON between systems is UTF-8)', i);
          if (byte !== OPEN_BRACKET) fail('expected a JSON array', i);
          state = 'before-first';
          break;
        case 'before-first':
        case 'before-next':
          if (byte === CLOSE_BRACKET && state === 'before-first') {
            state = 'after-array';
          } else if (byte === COMMA || byte === CLOSE_BRACKET) {
            fail('expected a value', i);
          } else {
            state = 'in-element';
            start = i;
            depth = 0;
            i -= 1;
          }
          break;
        case 'after-element':
          if (byte === COMMA) state = 'before-next';
          else if (byte === CLOSE_BRACKET) state = 'after-array';
          else fail("expected ',' or ']'", i);
          break;
        case 'after-array':
          fail('unexpected data after the array', i);
      }
    }
    if (spans.length > 0) {
      const elements = parseComplete(chunk);
      index += elements.length;
      carried = [];
      carriedBytes = 0;
      skipping = false;
      oversized = false;
      spans = [];
      yield elements;
    }
    if (state === 'in-element') {
      carriedBytes += chunk.length - start;
      skipping ||= carriedBytes > maxElementBytes;
      if (skipping) carried = [];
      else carried.push(Buffer.from(chunk.subarray(start)));
    }
    consumed += chunk.length;
  }
  if (state !== 'after-array') throw new JsonArrayError(`the body ended before the array closed (after ${consumed} bytes)`);
}
