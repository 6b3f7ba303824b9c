import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import type { ProviderRegistry } from '../providers/types';

/**
 * The clients of the services that run in the worker (delivery, scheduled sends, follow-ups,
 * funnel runs…): built once by src/worker.ts's caller and handed to the activities, or
 * built by a test with fakes.
 */
export interface ServiceDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
  /** Settings (quotas, AI…); absent: read once from the environment. */
  config?: Config;
  /** For work that starts or signals workflows (funnel runs, follow-ups). */
  temporal?: { client: Client; taskQueue: string };
}
