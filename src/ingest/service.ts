import type { Db } from '../db/client';
import type { Logger } from '../log';
import type { ChannelDirectory } from './channelDirectory';
import type { Dispatcher } from './dispatcher';
import { DispatchNotifier } from './notifier';
import { recordWebhook, type IngestInput, type IngestOutcome } from './record';
import { watchChannel, type WatchDeps } from '../services/channelWatch';

export interface Ingest {
  directory: ChannelDirectory;
  /** Stores the webhook durably, then hands new messages to their workflows without waiting. */
  accept(input: IngestInput): Promise<IngestOutcome>;
  /** Sends the announcements still queued (on shutdown, before the database closes). */
  flush(): Promise<void>;
}

/**
 * `dispatcher`: hand new messages to it in this process (the all-in-one `dev`, tests).
 * `notify`: announce them with NOTIFY instead (batched, src/ingest/notifier.ts), for the
 * dispatcher in the worker process, so the webhook process spends nothing on Temporal calls.
 */
export function createIngest(deps: {
  db: Db;
  directory: ChannelDirectory;
  dispatcher?: Dispatcher;
  notify?: boolean;
  log: Logger;
  /** Where connection and quality changes are signalled (the channel workflows); absent: nowhere. */
  watch?: WatchDeps;
}): Ingest {
  const notifier = deps.notify ? new DispatchNotifier(deps.db, deps.log) : undefined;
  return {
    directory: deps.directory,
    async accept(input) {
      const outcome = await recordWebhook(deps.db, input);
      deps.log.debug({ provider: input.provider, eventId: outcome.eventId, status: outcome.status, counts: outcome.counts }, 'webhook stored');
      if (outcome.toDispatch.length > 0) {
        // After the commit and off the response path: a failure here leaves the messages
        // pending, and the dispatcher's scan retries them.
        deps.dispatcher?.enqueue(outcome.toDispatch);
        notifier?.announce(outcome.toDispatch);
      }
      if (outcome.channelEvents.length > 0 && deps.watch) {
        // Rare (a number connecting or dropping), so signalled from here, after the commit and
        // off the response path. A lost signal is not lost state: the change is stored, and
        // the channel workflow's poll finds it.
        const watch = deps.watch;
        void Promise.all(
          outcome.channelEvents.map((s) =>
            watchChannel(watch, s).catch((err) =>
              deps.log.warn({ err: (err as Error).message, channelId: s.channelId }, 'channel event not signalled; the channel workflow polls'),
            ),
          ),
        );
      }
      return outcome;
    },
    async flush() {
      await notifier?.flush();
    },
  };
}
