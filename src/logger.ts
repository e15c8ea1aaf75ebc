import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

/**
 * One JSON line per event with level, time and the request or run id that child loggers add. Headers that
 * carry credentials and any field named like a secret are redacted wherever they appear.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  return pino({
    level: config.logLevel,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', '*.password', '*.uri', '*.postgresUri', '*.mongodbUri'],
      censor: '[redacted]',
    },
    ...(config.logFormat === 'pretty' ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } } : {}),
  });
}
