import { Router } from 'express';
import { jsonBody } from './jsonBody';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Ingest } from '../ingest/service';
import type { Logger } from '../log';
import { ApiKeyCache, requireTenant } from './auth';
import { adminRouter } from './admin';
import { authFailureLimit, tenantRateLimit } from './rateLimit';
import { webhookRouter } from './webhooks';
import { funnelsRouter } from './funnels';
import { sendingRouter } from './sending';
import { contactsRouter } from './contacts';
import { settingsRouter } from './settings';
import { metricsRouter } from './metrics';
import { audienceRouter } from './audience';
import { campaignsRouter } from './campaigns';
import { channelsRouter } from './channels';
import { warmupsRouter } from './warmups';
import type { FunnelTriggerCache } from '../services/funnels';

export interface RouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
  ingest: Ingest;
  log: Logger;
  /** Cleared on funnel writes so new triggers apply at once. */
  funnelTriggers?: FunnelTriggerCache;
}

/** Tenant-scoped resources under /api: JSON bodies, an API key on every route. */
function tenantRouters(deps: RouteDeps): Router[] {
  return [funnelsRouter(deps), sendingRouter(deps), contactsRouter(deps), settingsRouter(deps), audienceRouter(deps), metricsRouter(deps), campaignsRouter(deps), warmupsRouter(deps), channelsRouter(deps)];
}

/**
 * Every router of the public API, in mount order. /api and /admin authenticate before any
 * body is read, and share one count of failed authentications per address.
 */
export function buildRouters(deps: RouteDeps): Router[] {
  const { config } = deps;
  const keyCache = new ApiKeyCache(config.API_KEY_CACHE);
  const failures = authFailureLimit({ windowMs: config.AUTH_FAILURE_WINDOW, limit: config.AUTH_FAILURE_LIMIT });
  const api = Router();
  api.use(
    '/api',
    requireTenant({ db: deps.db, cache: keyCache, failures }),
    tenantRateLimit({ windowMs: config.RATE_LIMIT_WINDOW, limit: config.RATE_LIMIT_MAX }),
    ...jsonBody(config.BODY_LIMIT),
  );
  for (const router of tenantRouters(deps)) api.use('/api', router);
  const admin = adminRouter({
    db: deps.db,
    adminKey: config.ADMIN_API_KEY,
    bodyLimit: config.BODY_LIMIT,
    failures,
    keyCache,
    onChannelsChanged: () => deps.ingest.directory.invalidate(),
  });
  return [webhookRouter(deps), api, admin];
}
