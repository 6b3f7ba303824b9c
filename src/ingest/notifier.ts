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
  private waiting: string[] = [];
  private flushing?: Promise<void>;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Queues ids for the next statement; one runs at a time, and ids arriving meanwhile go in the next. */
  announce(messageIds: string[]): void {
    if (messageIds.length === 0) return;
    this.waiting.push(...messageIds);
    this.schedule();
  }

  private schedule(): void {
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.send())
      .finally(() => {
        this.flushing = undefined;
        if (this.waiting.length > 0) this.schedule();
      });
  }

  /** Sends whatever is queued (on shutdown, before the database closes). */
  async flush(): Promise<void> {
    while (this.flushing || this.waiting.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.send();
    }
  }

  private async send(): Promise<void> {
    const ids = this.waiting;
    this.waiting = [];
    const payloads: string[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) payloads.push(ids.slice(i, i + IDS_PER_NOTIFICATION).join(','));
    try {
      // A text[] literal: the payloads hold only uuids and commas, so quoting each is enough.
      await queryPrepared(this.db, NOTIFY, [`{${payloads.map((p) => `"${p}"`).join(',')}}`]);
    } catch (err) {
      // Stored and pending: the dispatcher's scan finds them.
      this.log.warn({ err: (err as Error).message, count: ids.length }, 'announcing new messages failed; the dispatch scan will find them');
    }
  }
}
