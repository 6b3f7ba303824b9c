import type { Request, Response } from 'express';
import { ApiError } from '../errors';
import type { IngestOutcome } from '../../ingest/record';

/** The raw body bytes (the webhook router reads bodies raw: Meta signs the exact bytes). */
export function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/**
 * PostgreSQL stores no U+0000 in text or jsonb: a webhook whose strings carry one (as the
 * JSON escape) has it removed from what is parsed, so the message is stored all the same
 * (the raw body keeps the escape, which is plain text).
 */
const withoutNul = (_key: string, value: unknown) => (typeof value === 'string' && value.includes('\u0000') ? value.replace(/\u0000/g, '') : value);

export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) throw new ApiError('malformed_json', 'body is empty; expected JSON');
  try {
    const text = raw.toString('utf8');
    // The reviver costs a little on every value: only bodies that have the escape pay it.
    return /\\u0000/i.test(text) ? (JSON.parse(text, withoutNul) as unknown) : (JSON.parse(text) as unknown);
  } catch {
    throw new ApiError('malformed_json', 'body is not valid JSON');
  }
}

export function unauthorized(what: string): ApiError {
  return new ApiError('unauthorized', what);
}

/**
 * 200 for everything stored, rejected ones included: the provider must not retry them.
 * Written directly rather than with res.json: on the hottest path, Express's send would
 * hash every body for an ETag no provider reads.
 */
export function acknowledge(res: Response, outcome: IngestOutcome): void {
  res.locals.webhookOutcome = outcome.status;
  const body = JSON.stringify({ received: true, eventId: outcome.eventId, status: outcome.status });
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
