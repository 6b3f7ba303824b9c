import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db, DbHandle } from '../db/client';
import type { Logger } from '../log';
import { ChannelDirectory } from './channelDirectory';
import { Dispatcher } from './dispatcher';
import { DISPATCH_CHANNEL, parseDispatchPayload } from './notifier';
import { createIngest, type Ingest } from './service';
import { FunnelTriggerCache } from '../services/funnels';

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

export function createDispatcher(deps: { config: Config; db: Db; client: Client; log: Logger; funnelTriggers: FunnelTriggerCache }): Dispatcher {
  const { config } = deps;
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
  });
}

/** The webhook ingest, configured from the environment. With `inline`, call dispatcher.start(). */
export function buildIngest(deps: { config: Config; db: Db; client: Client; log: Logger; mode?: DispatchMode }): IngestRuntime {
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
export async function startDispatcher(deps: { config: Config; db: DbHandle; client: Client; log: Logger }): Promise<{ dispatcher: Dispatcher; stop(): Promise<void> }> {
  const funnelTriggers = new FunnelTriggerCache(deps.db.db, deps.config.FUNNEL_TRIGGER_CACHE);
  const dispatcher = createDispatcher({ config: deps.config, db: deps.db.db, client: deps.client, log: deps.log, funnelTriggers });
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
