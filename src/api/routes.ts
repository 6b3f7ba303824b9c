import type { Router } from 'express';
import type { Config } from '../config';
import type { Ingest } from '../ingest/service';
import { webhookRouter } from './webhooks';

export interface RouteDeps {
  config: Config;
  ingest: Ingest;
}

/** Every router of the public API, in mount order. */
export function buildRouters(deps: RouteDeps): Router[] {
  return [webhookRouter(deps)];
}
