/**
 * Rate limits: per tenant and route on the API (429 with X-RateLimit-Limit/-Remaining/-Reset
 * and Retry-After), per source address on webhooks (providers post from a few addresses, so
 * that limit is generous: it stops floods, not traffic).
 *
 * Failed authentications (/api and /admin) are counted per source address: over
 * AUTH_FAILURE_LIMIT in AUTH_FAILURE_WINDOW, that address gets 429 for the rest of the window
 * before any key is looked up. Only 401s count, and a key already known valid never reaches
 * this counter (src/api/auth.ts), so authenticated traffic is limited by the tenant limit only.
 *
 * With API_PROCESSES > 1 the tenant and failed-authentication counters live in the cluster's
 * primary, shared by all HTTP processes, so a tenant (or an address) gets exactly its limit.
 * The webhook flood guard counts in each process: sharing it costs an IPC round trip per
 * webhook, measured at 11% of an HTTP process's CPU under load, and a coarse guard may allow
 * up to N× its limit over N processes.
 */
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import { ClusterMemoryStoreWorker } from '@express-rate-limit/cluster-memory-store';
import { isApiClusterWorker } from './cluster';
import { ApiError } from './errors';

/**
 * The tenant limit's bucket, before any route matched: `/api/funnels/3f2c…/activate` →
 * `/api/funnels/:id/activate`, one bucket per route, not per id. (/metrics labels by the
 * matched route pattern instead: routeLabel in ./routeLabel.ts.)
 */
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
  /** Count only the requests answered 401 (failed authentications); no X-RateLimit headers. */
  onlyUnauthorized?: boolean;
}): RequestHandler {
  return rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    // If the primary does not answer, serve rather than fail.
    ...(opts.shared && isApiClusterWorker() ? { store: new ClusterMemoryStoreWorker({ prefix: opts.name }), passOnStoreError: true } : {}),
    ...(opts.onlyUnauthorized
      ? // Every request counts, and is taken back when it was not answered 401.
        { skipSuccessfulRequests: true, requestWasSuccessful: (_req: Request, res: Response) => res.statusCode !== 401, legacyHeaders: false }
      : // X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (+ Retry-After on 429)
        { legacyHeaders: true }),
    standardHeaders: false,
    keyGenerator: opts.key,
    handler: (req, res, next) => {
      // Without the legacy headers express-rate-limit sets no Retry-After: from the window's reset.
      const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      if (!res.getHeader('Retry-After') && resetTime) res.setHeader('Retry-After', String(Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000))));
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

/**
 * Failed authentications per source address (AUTH_FAILURE_LIMIT per AUTH_FAILURE_WINDOW),
 * shared by /api and /admin. Run it only for requests not already known to be authentic;
 * over the limit it answers 429 before the key is looked up.
 */
export function authFailureLimit(opts: { windowMs: number; limit: number }): RequestHandler {
  return limiter({
    ...opts,
    name: 'auth',
    shared: true,
    onlyUnauthorized: true,
    what: 'failed authentications from this address',
    key: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
  });
}
