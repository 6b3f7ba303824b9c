import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import { deliver, DeliveryRefused, type DeliverRequest, type DeliverResult, type ProviderRegistry } from '../services/delivery';
import { toFailure } from './errors';

export interface ActivityDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
  /** Optional: activities that need settings (quotas, AI) read them from here. */
  config?: Config;
  /** For activities that start or signal workflows (funnel runs). */
  temporal?: { client: Client; taskQueue: string };
}

/** Runs a delivery, translating refusals and provider errors into Temporal failures. */
export async function deliverOrFail(deps: ActivityDeps, req: DeliverRequest): Promise<DeliverResult> {
  try {
    return await deliver(deps, req);
  } catch (err) {
    if (err instanceof DeliveryRefused) throw ApplicationFailure.nonRetryable(err.message, err.reason);
    throw toFailure(err);
  }
}
