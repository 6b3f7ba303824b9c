/**
 * Rate limits: per tenant and route on the API (429 with X-RateLimit-Limit/-Remaining/-Reset
 * and Retry-After), per source address on webhooks (providers post from a few addresses, so
 * that limit is generous: it stops floods, not traffic).
 *
 * With API_PROCESSES > 1 the tenant counters live in the cluster's primary, shared by all HTTP
 * processes, so a tenant gets exactly its limit. The webhook flood guard counts in each
 * process: sharing it costs an IPC round trip per webhook, measured at 11% of an HTTP
 * process's CPU under load, and a coarse guard may allow up to N× its limit over N processes.
 */
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import { ClusterMemoryStoreWorker } from '@express-rate-limit/cluster-memory-store';
import { isApiClusterWorker } from './cluster';
import { ApiError } from './errors';

/** `/api/funnels/3f2c…/activate` → `/api/funnels/:id/activate`: one bucket per route, not per id. */
export function routeKey(req: Request): string {
  const path = `${req.baseUrl}${req.path}`
    .split('/')
    .map((segment) => (/^[0-9a-f-]{16,}$/i.test(segment) || /^\d+$/.test(segment) || segment.includes(':') ? ':id' : segment))
    .join('/');
  return `${req.method} ${path}`;
}

function limiter(opts: {
  name: string;
  windowMs: number;
  limit: number;
  key: (req: Request, res: Response) => string;
  what: string;
  /** Count in the cluster's primary when there is one (exact over all HTTP processes). */
  shared: boolean;
}): RequestHandler {
  return rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    // If the primary does not answer, serve rather than fail.
    ...(opts.shared && isApiClusterWorker() ? { store: new ClusterMemoryStoreWorker({ prefix: opts.name }), passOnStoreError: true } : {}),
    legacyHeaders: true, // X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (+ Retry-After on 429)
    standardHeaders: false,
    keyGenerator: opts.key,
    handler: (_req, res, next) => {
      const retryAfter = String(res.getHeader('Retry-After') ?? '?');
      next(new ApiError('rate_limited', `${opts.what}: too many requests, retry in ${retryAfter} s`));
    },
  });
}

export function tenantRateLimit(opts: { windowMs: number; limit: number }): RequestHandler {
  return limiter({ ...opts, name: 'tenant', shared: true, what: 'rate limit for this API key and route', key: (req, res) => `${res.locals.tenantId}|${routeKey(req)}` });
}

export function webhookFloodLimit(opts: { windowMs: number; limit: number }): RequestHandler {
  return limiter({ ...opts, name: 'webhook', shared: false, what: 'webhook flood protection', key: (req) => ipKeyGenerator(req.ip ?? 'unknown') });
}
