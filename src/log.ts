import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/**
 * What is known about the work in progress (request id, tenant, contact, workflow id): set
 * by the API per request and by the worker per activity, added to every log line.
 */
export const logContext = new AsyncLocalStorage<Record<string, unknown>>();

/** One pino logger for the process; components take child loggers. Secrets are redacted. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'zapflow' },
  mixin: () => logContext.getStore() ?? {},
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
});

export type Logger = pino.Logger;
