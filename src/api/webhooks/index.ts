import express, { Router, type RequestHandler } from 'express';
import type { Config } from '../../config';
import type { Ingest } from '../../ingest/service';
import { evolutionWebhookRouter } from './evolution';
import { lancePilotWebhookRouter } from './lancepilot';
import { metaWebhookRouter } from './meta';
import { ingestLatency, webhooksReceived } from '../../metrics';
import { webhookFloodLimit } from '../rateLimit';

/** Counts every post by provider and outcome (the stored event's status, or the HTTP status). */
const measureWebhooks: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST') return next();
  const provider = req.path.split('/')[1] || 'unknown';
  const stop = ingestLatency.startTimer({ provider });
  res.once('finish', () => {
    stop();
    webhooksReceived.inc({ provider, outcome: (res.locals.webhookOutcome as string | undefined) ?? `http_${res.statusCode}` });
  });
  next();
};

/** /webhooks/*: bodies read raw (Meta signs the exact bytes), then each provider's router. */
export function webhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  router.use('/webhooks', measureWebhooks, webhookFloodLimit({ windowMs: deps.config.RATE_LIMIT_WINDOW, limit: deps.config.WEBHOOK_RATE_LIMIT_MAX }));
  router.use('/webhooks', express.raw({ type: () => true, limit: deps.config.BODY_LIMIT }));
  router.use(metaWebhookRouter(deps));
  router.use(evolutionWebhookRouter(deps));
  router.use(lancePilotWebhookRouter(deps));
  return router;
}
