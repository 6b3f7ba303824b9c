import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Db } from '../db/client';
import { hashApiKey, tenantForApiKeyHash } from '../services/tenants';
import { logContext } from '../log';
import { apiKeyLookups } from '../metrics';
import { ApiError } from './errors';

/** The id of the API key that authenticated the request (set by requireTenant): who asked, for records such as a re-subscription. */
export function apiKeyOf(res: Response): string {
  const keyId = res.locals.apiKeyId as string | undefined;
  if (!keyId) throw new ApiError('unauthorized', 'no API key on this request');
  return keyId;
}

/** The authenticated tenant of a request (set by requireTenant). */
export function tenantOf(res: Response): string {
  const tenantId = res.locals.tenantId as string | undefined;
  if (!tenantId) throw new ApiError('unauthorized', 'no tenant on this request');
  return tenantId;
}

function presentedKey(req: Request): string | undefined {
  const bearer = req.header('authorization')?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  return bearer || req.header('x-api-key')?.trim() || undefined;
}

/** Keys kept before expired entries are dropped (and, if that is not enough, all). */
const MAX_CACHED_KEYS = 10_000;

/**
 * API keys that authenticated, by their hash, for API_KEY_CACHE: such a key costs no query
 * and is never counted against its address's failed authentications. A key revoked through
 * this process's API leaves the cache at once (forgetKey); revoked elsewhere (the CLI,
 * another HTTP process), within the TTL.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { tenantId: string; keyId: string; expires: number }>();
  constructor(private readonly ttlMs: number) {}

  get(hash: string): { tenantId: string; keyId: string } | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (entry.expires > Date.now()) return entry;
    this.entries.delete(hash);
    return undefined;
  }

  set(hash: string, value: { tenantId: string; keyId: string }): void {
    if (this.ttlMs <= 0) return;
    const now = Date.now();
    if (this.entries.size >= MAX_CACHED_KEYS) {
      for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
      if (this.entries.size >= MAX_CACHED_KEYS) this.entries.clear();
    }
    this.entries.set(hash, { ...value, expires: now + this.ttlMs });
  }

  forgetKey(keyId: string): void {
    for (const [hash, entry] of this.entries) if (entry.keyId === keyId) this.entries.delete(hash);
  }
}

/**
 * Tenant-scoped routes: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, checked before
 * the body is read. Keys are looked up by their hash; one known valid (`cache`) passes at
 * once. Any other request goes through `failures` (authFailureLimit) first: an address that
 * failed too often gets 429 there, before any query.
 */
export function requireTenant(deps: { db: Db; cache: ApiKeyCache; failures: RequestHandler }): RequestHandler {
  const { db, cache, failures } = deps;
  const authenticated = (res: Response, found: { tenantId: string; keyId: string }, next: NextFunction) => {
    const { tenantId } = found;
    res.locals.tenantId = tenantId;
    res.locals.apiKeyId = found.keyId;
    const context = logContext.getStore();
    if (context) context.tenantId = tenantId;
    next();
  };
  return (req: Request, res: Response, next: NextFunction) => {
    const key = presentedKey(req);
    const hash = key ? hashApiKey(key) : undefined;
    const known = hash ? cache.get(hash) : undefined;
    if (known) return authenticated(res, known, next);
    void failures(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (!hash) return next(new ApiError('unauthorized', 'API key required: Authorization: Bearer <key> or X-Api-Key'));
      apiKeyLookups.inc();
      tenantForApiKeyHash(db, hash).then(
        (found) => {
          if (!found) return next(new ApiError('unauthorized', 'invalid or revoked API key'));
          cache.set(hash, found);
          authenticated(res, found, next);
        },
        (error: unknown) => next(error),
      );
    });
  };
}
