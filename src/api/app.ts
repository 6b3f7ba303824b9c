import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import { errorHandler, notFoundHandler } from './errors';
import { healthRouter } from './health';

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
  app.set('trust proxy', true);
  app.use((req, res, next) => {
    const incoming = req.header('x-request-id');
    res.locals.requestId = incoming && incoming.length <= 128 ? incoming : randomUUID();
    res.setHeader('X-Request-Id', res.locals.requestId);
    next();
  });

  app.use(
    healthRouter(
      [
        { name: 'database', run: deps.pingDb },
        { name: 'temporal', run: () => deps.pingTemporal(deps.config.HEALTH_TIMEOUT) },
      ],
      deps.config.HEALTH_TIMEOUT,
      deps.healthInfo,
    ),
  );
  for (const router of deps.routers ?? []) app.use(router);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
