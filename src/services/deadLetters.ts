/**
 * Dead letters: inbound messages the dispatcher gave up on after DISPATCH_MAX_ATTEMPTS
 * refused dispatches (src/ingest/dispatcher.ts), found through their webhook events (status
 * `dead`). A retry only resets their counters: the dispatcher of whichever process runs one
 * takes them again on its next scan, so no Temporal connection is needed here.
 */
import type { Db } from '../db/client';
import { deadWebhookEventIds, webhookEventStatuses } from '../db/queries/events';
import { requeueDeadMessages } from '../db/queries/messages';
import type { Provider } from '../domain/records';

export type RetryDeadRequest =
  | { eventIds: number[]; dryRun?: boolean }
  | { allDead: true; provider?: Provider; since?: Date; dryRun?: boolean };

export interface RetryDeadOutcome {
  dryRun: boolean;
  /** Events whose dead messages were requeued (with --dry-run: would be). */
  requeued: Array<{ eventId: number; messages: number }>;
  /** Events asked for by id that could not be requeued, and why. */
  notRequeued: Array<{ eventId: number; reason: string }>;
}

/** Requeued per statement: each one a short transaction. */
const CHUNK = 1000;

export async function retryDeadEvents(db: Db, request: RetryDeadRequest): Promise<RetryDeadOutcome> {
  const dryRun = Boolean(request.dryRun);
  const notRequeued: RetryDeadOutcome['notRequeued'] = [];
  let candidates: number[];
  if ('eventIds' in request) {
    const ids = [...new Set(request.eventIds)];
    const statuses = await webhookEventStatuses(db, { ids });
    candidates = [];
    for (const id of ids) {
      const status = statuses.get(id);
      if (status === undefined) notRequeued.push({ eventId: id, reason: 'no such event' });
      else if (status !== 'dead') notRequeued.push({ eventId: id, reason: `status is ${status}, not dead` });
      else candidates.push(id);
    }
  } else {
    candidates = await deadWebhookEventIds(db, { provider: request.provider, since: request.since });
  }
  const requeued: RetryDeadOutcome['requeued'] = [];
  for (let i = 0; i < candidates.length; i += CHUNK) {
    requeued.push(...(await requeueDeadMessages(db, { eventIds: candidates.slice(i, i + CHUNK), dryRun })));
  }
  const done = new Set(requeued.map((r) => r.eventId));
  // Dead events without a dead message: requeued by someone else meanwhile.
  for (const id of candidates) if (!done.has(id)) notRequeued.push({ eventId: id, reason: 'no dead message left (requeued meanwhile?)' });
  return { dryRun, requeued, notRequeued };
}
