import type { Request, Response } from 'express';
import { ApiError } from '../errors';
import type { IngestOutcome } from '../../ingest/record';

/** The raw body bytes (the webhook router reads bodies raw: Meta signs the exact bytes). */
export function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) throw new ApiError('malformed_json', 'body is empty; expected JSON');
  try {
    return JSON.parse(raw.toString('utf8'));
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
