import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db, DbHandle } from '../db/client';
import type { Logger } from '../log';
import { ChannelDirectory } from './channelDirectory';
import { Dispatcher } from './dispatcher';
import { DISPATCH_CHANNEL, parseDispatchPayload } from './notifier';
import { createIngest, type Ingest } from './service';
import { FunnelTriggerCache } from '../services/funnels';
import { funnelRunLimits } from '../services/funnelRuns';
import { createProviderClients } from '../providers';
import { createSandboxClient } from '../providers/sandbox';
import type { ProviderRegistry } from '../providers/types';

export interface IngestRuntime {
  ingest: Ingest;
  /** Present when this process dispatches (mode `inline`): call start(). */
  dispatcher?: Dispatcher;
  funnelTriggers: FunnelTriggerCache;
}

/**
 * Where new messages are handed to Temporal:
 * - `inline`: by a dispatcher in the webhook process itself (the all-in-one `dev`, tests);
 * - `notify`: the webhook process only stores them and NOTIFYs (in batches); the worker process runs the
 *   dispatcher (`startDispatcher`). A signalWithStart costs the caller about 2.5 ms of CPU
 *   (gRPC, protobuf), more than the webhook itself, so this keeps the webhook answering fast.
 */
export type DispatchMode = 'inline' | 'notify';

export function createDispatcher(deps: {
  config: Config;
  db: Db;
  client: Client;
  log: Logger;
  funnelTriggers: FunnelTriggerCache;
  /** The clients the eager first sends go through (default: the real providers, as the worker builds them). */
  providers?: ProviderRegistry;
}): Dispatcher {
  const { config } = deps;
  const providers = deps.providers ?? { ...createProviderClients({ timeoutMs: config.PROVIDER_TIMEOUT }), sandbox: createSandboxClient(deps.db, deps.log) };
  return new Dispatcher({
    db: deps.db,
    client: deps.client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    log: deps.log.child({ component: 'dispatcher' }),
    concurrency: config.DISPATCH_CONCURRENCY,
    retryIntervalMs: config.DISPATCH_RETRY_INTERVAL,
    idleTimeoutMs: config.CONTACT_IDLE_TIMEOUT,
    humanPauseMs: config.HUMAN_TAKEOVER_PAUSE,
    maxAttempts: config.DISPATCH_MAX_ATTEMPTS,
    sendRetry: {
      maximumAttempts: config.FUNNEL_SEND_MAX_ATTEMPTS,
      initialIntervalMs: config.FUNNEL_SEND_RETRY_INITIAL,
      maximumIntervalMs: config.FUNNEL_SEND_RETRY_MAX,
    },
    funnelTriggers: deps.funnelTriggers,
    funnelLimits: funnelRunLimits(config),
    delivery: { providers, config },
  });
}

/** The webhook ingest, configured from the environment. With `inline`, call dispatcher.start(). */
export function buildIngest(deps: { config: Config; db: Db; client: Client; log: Logger; mode?: DispatchMode; providers?: ProviderRegistry }): IngestRuntime {
  const { config } = deps;
  const mode = deps.mode ?? 'inline';
  const funnelTriggers = new FunnelTriggerCache(deps.db, config.FUNNEL_TRIGGER_CACHE);
  const dispatcher = mode === 'inline' ? createDispatcher({ ...deps, funnelTriggers }) : undefined;
  const ingest = createIngest({
    db: deps.db,
    directory: new ChannelDirectory(deps.db),
    dispatcher,
    notify: mode === 'notify',
    log: deps.log,
    watch: { client: deps.client, taskQueue: config.TEMPORAL_TASK_QUEUE, config },
  });
  return { ingest, dispatcher, funnelTriggers };
}

/**
 * The dispatcher of a worker process: it LISTENs for the ids the API announces and scans
 * for anything pending (missed notifications, Temporal down, a restart).
 */
export async function startDispatcher(deps: {
  config: Config;
  db: DbHandle;
  client: Client;
  log: Logger;
  providers?: ProviderRegistry;
}): Promise<{ dispatcher: Dispatcher; stop(): Promise<void> }> {
  const funnelTriggers = new FunnelTriggerCache(deps.db.db, deps.config.FUNNEL_TRIGGER_CACHE);
  const dispatcher = createDispatcher({ config: deps.config, db: deps.db.db, client: deps.client, log: deps.log, funnelTriggers, providers: deps.providers });
  const unlisten = await deps.db.listen(DISPATCH_CHANNEL, (payload) => {
    if (payload) dispatcher.enqueue(parseDispatchPayload(payload));
  });
  dispatcher.start();
  void dispatcher.scan().catch((err) => deps.log.warn({ err: (err as Error).message }, 'first dispatch scan failed'));
  return {
    dispatcher,
    async stop() {
      await unlisten().catch(() => undefined);
      await dispatcher.stop();
    },
  };
}
