import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/**
 * What is known about the work in progress (request id, tenant, contact, workflow id): set
 * by the API per request and by the worker per activity, added to every log line.
 */
export const logContext = new AsyncLocalStorage<Record<string, unknown>>();

/**
 * Error properties that carry values rather than a description: drizzle's query parameters
 * (a failed insert's token, phone, message text), PostgreSQL's `detail` and `where` (a
 * unique violation quotes the duplicate key's value).
 */
const VALUE_PROPERTIES = ['params', 'parameters', 'detail', 'where'];

/** drizzle writes the parameters into the message too: `Failed query: …\nparams: …`. */
function withoutParams(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/g, '\nparams: [redacted]');
}

/**
 * The one error serializer (pino's, then values removed), for `err` and `error` fields
 * whether they hold an error, its cause chain, or just its message.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return withoutParams(value);
  if (typeof value !== 'object' || value === null || depth > 5) return value;
  const out = { ...(pino.stdSerializers.err(value as Error) as unknown as Record<string, unknown>) };
  for (const key of VALUE_PROPERTIES) delete out[key];
  if (typeof out.message === 'string') out.message = withoutParams(out.message);
  if (typeof out.stack === 'string') out.stack = withoutParams(out.stack);
  const cause = (value as { cause?: unknown }).cause;
  if (cause !== undefined) out.cause = serializeError(cause, depth + 1);
  return out;
}

/** A logger with zapflow's options; `destination` for tests that read what was logged. */
export function createLogger(destination?: pino.DestinationStream): pino.Logger {
  const options: pino.LoggerOptions = {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service: 'zapflow' },
    mixin: () => logContext.getStore() ?? {},
    serializers: { err: (v: unknown) => serializeError(v), error: (v: unknown) => serializeError(v) },
    redact: {
      paths: [
        'apiKey',
        'accessToken',
        'appSecret',
        'webhookSecret',
        'verifyToken',
        'credentials',
        '*.apiKey',
        '*.accessToken',
        '*.credentials',
        'headers.authorization',
        'headers.apikey',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** One pino logger for the process; components take child loggers. Secrets are redacted. */
export const logger = createLogger();

export type Logger = pino.Logger;
