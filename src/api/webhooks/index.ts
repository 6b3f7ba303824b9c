import express, { Router, type RequestHandler } from 'express';
import type { Config } from '../../config';
import type { Ingest } from '../../ingest/service';
import { evolutionWebhookRouter } from './evolution';
import { lancePilotWebhookRouter } from './lancepilot';
import { metaSignatureHeaderGate, metaWebhookRouter } from './meta';
import { uazapiWebhookRouter } from './uazapi';
import { ingestLatency, webhooksReceived } from '../../metrics';
import { webhookFloodLimit } from '../rateLimit';

/** The provider label of /metrics: a fixed set, so `/webhooks/x1`, `/webhooks/x2`… make no new series. */
const PROVIDER_LABELS = new Set(['meta', 'evolution', 'lancepilot', 'uazapi']);
export function webhookProviderLabel(path: string): string {
  const segment = path.split('/')[1] ?? '';
  return PROVIDER_LABELS.has(segment) ? segment : 'other';
}

/** Counts every post by provider and outcome (the stored event's status, or the HTTP status). */
const measureWebhooks: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST') return next();
  const provider = webhookProviderLabel(req.path);
  const stop = ingestLatency.startTimer({ provider });
  res.once('finish', () => {
    stop();
    webhooksReceived.inc({ provider, outcome: (res.locals.webhookOutcome as string | undefined) ?? `http_${res.statusCode}` });
  });
  next();
};

/**
 * /webhooks/*: bodies read raw (Meta signs the exact bytes) up to WEBHOOK_BODY_LIMIT (413
 * above), then each provider's router. A Meta post without a well-formed signature header
 * is refused before its body is read.
 */
export function webhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  router.use('/webhooks', measureWebhooks, webhookFloodLimit({ windowMs: deps.config.RATE_LIMIT_WINDOW, limit: deps.config.WEBHOOK_RATE_LIMIT_MAX }));
  router.post('/webhooks/meta', metaSignatureHeaderGate);
  router.use('/webhooks', express.raw({ type: () => true, limit: deps.config.WEBHOOK_BODY_LIMIT }));
  router.use(metaWebhookRouter(deps));
  router.use(evolutionWebhookRouter(deps));
  router.use(lancePilotWebhookRouter(deps));
  router.use(uazapiWebhookRouter(deps));
  return router;
}
