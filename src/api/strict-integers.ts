import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { clipped } from '../log-safe.js';
import { expected, schemaProperties, WHERE } from './error-handler.js';

type Part = 'querystring' | 'params';

/** Decimal digits only: what "an integer" means in a URL to a person, and what every client sends. No sign:
 * every integer input is 0 or more, and `-0` would pass a minimum of 0. */
const DECIMAL = /^\d+$/;

/**
 * Ajv's coercion takes any string JavaScript reads as a number: `limit=0x10` served 16 posts, `1e2` 100 and
 * `/posts/%201` post 1, and a value out of range was echoed back converted. This preValidation hook (on the
 * routes with integer inputs) holds the raw strings to decimal digits within the schema's range, and names
 * the value as it was sent; Ajv then only converts.
 */
export function strictIntegers(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
  // Callback style: it runs on every request of /posts/{id}, and an async hook costs a promise each time.
  try {
    check(request, 'querystring');
    check(request, 'params');
  } catch (error) {
    return done(error as Error);
  }
  done();
}

function check(request: FastifyRequest, part: Part): void {
  const properties = schemaProperties(request, part);
  if (!properties) return;
  const given = (part === 'params' ? request.params : request.query) as Record<string, unknown>;
  for (const [field, schema] of Object.entries(properties)) {
    const sent = given[field];
    if (Array.isArray(sent)) throw new AppError('INVALID_REQUEST', 400, `${WHERE[part]} '${field}' is given ${sent.length} times; send it once`);
    if (schema.type !== 'integer' || typeof sent !== 'string') continue;
    const value = DECIMAL.test(sent) ? Number(sent) : Number.NaN;
    const inRange = (schema.minimum === undefined || value >= schema.minimum) && (schema.maximum === undefined || value <= schema.maximum);
    if (!Number.isSafeInteger(value) || !inRange) {
      throw new AppError('INVALID_REQUEST', 400, `${WHERE[part]} '${field}' must be ${expected(schema)} (got ${JSON.stringify(clipped(sent, 40))})`);
    }
  }
}
