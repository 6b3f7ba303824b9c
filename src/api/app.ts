import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { logContext, type Logger } from '../log';
import { errorHandler, notFoundHandler } from './errors';
import { healthRouter } from './health';
import { providersHealth } from '../services/channelLifecycle';
import { httpRequests, registry } from '../metrics';
import { routeLabel } from './routeLabel';
import { openApiDocument } from './openapi';
import { metricsText } from './cluster';

export interface AppDeps {
  config: Config;
  db: Db;
  pingDb: () => Promise<void>;
  /** Resolves when Temporal answers (see createTemporalPinger). */
  pingTemporal: (timeoutMs: number) => Promise<void>;
  log: Logger;
  /** Extra routers mounted before the 404 handler (webhooks, REST resources). */
  routers?: express.Router[];
  /** Extra fields for /health (e.g. AI on/off). */
  healthInfo?: () => Record<string, unknown>;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.use((req, res, next) => {
    const incoming = req.header('x-request-id');
    const requestId = incoming && incoming.length <= 128 ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    res.once('finish', () => {
      // The matched route's pattern (or `unmatched`), never the raw path: a bounded set of series.
      const route = routeLabel(req);
      httpRequests.inc({ route, status: `${Math.floor(res.statusCode / 100)}xx` });
      // Webhook posts are counted in /metrics; logging each one at info would drown the rest.
      const level = res.statusCode >= 500 ? 'error' : req.path.startsWith('/webhooks') || req.path === '/health' || req.path === '/metrics' ? 'debug' : 'info';
      deps.log[level](
        {
          requestId: res.locals.requestId,
          tenantId: res.locals.tenantId,
          method: req.method,
          route,
          ...(route === 'unmatched' ? { path: req.path.slice(0, 200) } : {}),
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    logContext.run({ requestId }, next);
  });

  app.get('/metrics', async (_req, res, next) => {
    try {
      res.setHeader('Content-Type', registry.contentType);
      res.send(await metricsText());
    } catch (err) {
      next(err);
    }
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });

  app.use(
    healthRouter(
      [
        { name: 'database', run: deps.pingDb },
        { name: 'temporal', run: () => deps.pingTemporal(deps.config.HEALTH_TIMEOUT) },
      ],
      deps.config.HEALTH_TIMEOUT,
      // Channels' states are counted, never a failure: one tenant's disconnected number is not the service's.
      async () => ({ ...deps.healthInfo?.(), providers: await providersHealth(deps.db) }),
    ),
  );
  for (const router of deps.routers ?? []) app.use(router);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
