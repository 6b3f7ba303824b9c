import type { Db } from '../db/client';
import type { Logger } from '../log';
import type { ChannelDirectory } from './channelDirectory';
import type { Dispatcher } from './dispatcher';
import { recordWebhook, type IngestInput, type IngestOutcome } from './record';

export interface Ingest {
  directory: ChannelDirectory;
  /** Stores the webhook durably, then hands new messages to their workflows without waiting. */
  accept(input: IngestInput): Promise<IngestOutcome>;
}

export function createIngest(deps: { db: Db; directory: ChannelDirectory; dispatcher: Dispatcher; log: Logger }): Ingest {
  return {
    directory: deps.directory,
    async accept(input) {
      const outcome = await recordWebhook(deps.db, input);
      deps.log.debug({ provider: input.provider, eventId: outcome.eventId, status: outcome.status, counts: outcome.counts }, 'webhook stored');
      if (outcome.toDispatch.length > 0) {
        // After the commit and off the response path: a failure here leaves the messages
        // pending, and the dispatcher's scan retries them.
        void deps.dispatcher.enqueue(outcome.toDispatch).catch((err) =>
          deps.log.warn({ err: (err as Error).message, eventId: outcome.eventId }, 'dispatch deferred to the scan'),
        );
      }
      return outcome;
    },
  };
}
