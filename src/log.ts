import pino from 'pino';

/** One pino logger for the process; components take child loggers. Secrets are redacted. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'zapflow' },
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
