import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import { ChannelDirectory } from './channelDirectory';
import { Dispatcher } from './dispatcher';
import { createIngest, type Ingest } from './service';
import { FunnelTriggerCache } from '../services/funnels';

export interface IngestRuntime {
  ingest: Ingest;
  dispatcher: Dispatcher;
  funnelTriggers: FunnelTriggerCache;
}

/** The webhook ingest with its dispatcher, configured from the environment. Call dispatcher.start(). */
export function buildIngest(deps: { config: Config; db: Db; client: Client; log: Logger }): IngestRuntime {
  const { config } = deps;
  const funnelTriggers = new FunnelTriggerCache(deps.db, config.FUNNEL_TRIGGER_CACHE);
  const dispatcher = new Dispatcher({
    db: deps.db,
    client: deps.client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    log: deps.log.child({ component: 'dispatcher' }),
    concurrency: config.DISPATCH_CONCURRENCY,
    retryIntervalMs: config.DISPATCH_RETRY_INTERVAL,
    idleTimeoutMs: config.CONTACT_IDLE_TIMEOUT,
    humanPauseMs: config.HUMAN_TAKEOVER_PAUSE,
    sendRetry: {
      maximumAttempts: config.FUNNEL_SEND_MAX_ATTEMPTS,
      initialIntervalMs: config.FUNNEL_SEND_RETRY_INITIAL,
      maximumIntervalMs: config.FUNNEL_SEND_RETRY_MAX,
    },
    funnelTriggers,
  });
  const ingest = createIngest({ db: deps.db, directory: new ChannelDirectory(deps.db), dispatcher, log: deps.log });
  return { ingest, dispatcher, funnelTriggers };
}
