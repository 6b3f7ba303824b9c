import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import { deliver, DeliveryRefused, type DeliverRequest, type DeliverResult, type ProviderRegistry } from '../services/delivery';
import { toFailure } from './errors';
import { ProviderError } from './providers/types';
import { sendsTotal } from '../metrics';

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
    const result = await deliver(deps, req);
    sendsTotal.inc({ outcome: result.alreadySent ? 'already_sent' : 'sent' });
    return result;
  } catch (err) {
    if (err instanceof DeliveryRefused) {
      sendsTotal.inc({ outcome: 'refused' });
      throw ApplicationFailure.nonRetryable(err.message, err.reason);
    }
    if (err instanceof ProviderError) {
      sendsTotal.inc({ outcome: err.kind === 'rate_limited' ? 'waiting' : err.retryable ? 'retrying' : 'failed' });
    } else sendsTotal.inc({ outcome: 'retrying' });
    throw toFailure(err);
  }
}
