/**
 * Announces newly stored messages to the dispatcher in the worker process (PostgreSQL
 * NOTIFY on DISPATCH_CHANNEL), after their webhook's commit and in batches.
 *
 * Why not NOTIFY inside the webhook's own statement: PostgreSQL serialises every committing
 * transaction that has sent a notification on one global lock, held until its commit is
 * flushed to disk. Under 500 webhooks/s with the workflows' own writes filling the WAL, the
 * webhooks queued on that lock (pg_stat_activity: Lock "object" in almost every sample) and
 * their p99 reached 200+ ms. Here one statement announces every id stored meanwhile, from
 * outside the webhook's transaction.
 *
 * The announcement is only a hint: a message is committed before it is announced, and one
 * whose announcement is lost (a crash right after the commit, a failed statement) is found
 * by the dispatcher's scan within DISPATCH_RETRY_INTERVAL.
 */
import type { Db } from '../db/client';
import { queryPrepared } from '../db/prepared';
import type { Logger } from '../log';
import { TickBatcher } from './tickBatcher';

/** Channel the API notifies with new message ids, for a dispatcher in another process. */
export const DISPATCH_CHANNEL = 'zapflow_dispatch';

/** Ids per notification: 200 uuids and their commas stay under PostgreSQL's 8,000-byte payload limit. */
const IDS_PER_NOTIFICATION = 200;

/** Payloads are comma-separated message ids. */
export function parseDispatchPayload(payload: string): string[] {
  return payload.split(',').filter((id) => id.length > 0);
}

const NOTIFY = `select pg_notify('${DISPATCH_CHANNEL}', payload) from unnest($1::text[]) as payload`;

export class DispatchNotifier {
  /** One statement for every id stored meanwhile. */
  private readonly batches: TickBatcher<string>;

  constructor(db: Db, log: Logger) {
    this.batches = new TickBatcher(
      async (ids) => {
        const payloads: string[] = [];
        for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) payloads.push(ids.slice(i, i + IDS_PER_NOTIFICATION).join(','));
        // A text[] literal: the payloads hold only uuids and commas, so quoting each is enough.
        await queryPrepared(db, NOTIFY, [`{${payloads.map((p) => `"${p}"`).join(',')}}`]);
      },
      // Stored and pending: the dispatcher's scan finds them.
      (err, ids) => log.warn({ err: (err as Error).message, count: ids.length }, 'announcing new messages failed; the dispatch scan will find them'),
    );
  }

  announce(messageIds: string[]): void {
    this.batches.add(messageIds);
  }

  /** Sends whatever is queued (on shutdown, before the database closes). */
  flush(): Promise<void> {
    return this.batches.flush();
  }
}
