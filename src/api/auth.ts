import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Db } from '../db/client';
import { tenantForApiKey } from '../services/tenants';
import { logContext } from '../log';
import { ApiError } from './errors';

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

/**
 * Tenant-scoped routes: `Authorization: Bearer <key>` or `X-Api-Key: <key>`. Keys are
 * looked up by their hash; a positive answer is cached a few seconds (revocation takes
 * effect within `cacheMs`).
 */
export function requireTenant(db: Db, cacheMs = 5_000): RequestHandler {
  const cache = new Map<string, { tenantId: string; expires: number }>();
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const key = presentedKey(req);
      if (!key) throw new ApiError('unauthorized', 'API key required: Authorization: Bearer <key> or X-Api-Key');
      const hit = cache.get(key);
      let tenantId = hit && hit.expires > Date.now() ? hit.tenantId : undefined;
      if (!tenantId) {
        tenantId = (await tenantForApiKey(db, key))?.tenantId;
        if (!tenantId) throw new ApiError('unauthorized', 'invalid or revoked API key');
        if (cache.size > 10_000) cache.clear();
        cache.set(key, { tenantId, expires: Date.now() + cacheMs });
      }
      res.locals.tenantId = tenantId;
      const context = logContext.getStore();
      if (context) context.tenantId = tenantId;
      next();
    } catch (err) {
      next(err);
    }
  };
}
