import express, { Router } from 'express';
import type { Config } from '../../config';
import type { Ingest } from '../../ingest/service';
import { evolutionWebhookRouter } from './evolution';
import { lancePilotWebhookRouter } from './lancepilot';
import { metaWebhookRouter } from './meta';

/** /webhooks/*: bodies read raw (Meta signs the exact bytes), then each provider's router. */
export function webhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  router.use('/webhooks', express.raw({ type: () => true, limit: deps.config.BODY_LIMIT }));
  router.use(metaWebhookRouter(deps));
  router.use(evolutionWebhookRouter(deps));
  router.use(lancePilotWebhookRouter(deps));
  return router;
}
