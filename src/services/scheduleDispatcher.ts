/**
 * The worker's schedule dispatcher: sends dispatched schedules (scheduled_messages.dispatch)
 * at their exact millisecond. Every SCHEDULE_DISPATCH_POLL it claims the ones due within
 * SCHEDULE_DISPATCH_LOOKAHEAD (SKIP LOCKED: several workers share the work), and delivers
 * each at once with `notBefore` its time: the checks, the quota and the attempt row are done
 * early, and the provider is called at the moment itself.
 *
 * Why not the workflow's own timer: thousands of schedules in one minute would each need a
 * workflow task inside that minute, and the dev server completes about 40 a second on two
 * cores (bench:scheduled: p99 lateness 93 s for 5,000 in a minute). Here a send costs a few
 * statements and one HTTP call; the workflows wake SCHEDULE_SETTLE_AFTER later, outside the
 * rush, to confirm each outcome.
 *
 * The workflow stays the durable owner. A send that fails in a way worth retrying is handed
 * back (claim released, workflow woken by an update) and retried there with backoff; a worker that
 * dies mid-send leaves a claim that the workflow takes over after SCHEDULE_CLAIM_TTL. A
 * refusal (opt-out, bad number…) is final and recorded like the workflow would.
 */
import { claimDueSchedules, releaseScheduleClaim, type ScheduleRow } from '../db/queries/schedules';
import { scheduleWorkflowId } from '../domain/workflowIds';
import type { OutboundMessage } from '../providers/types';
import { dispatchReleasedUpdate } from '../workflows/definitions';
import { finalSendFailure } from './delivery';
import type { ServiceDeps } from './deps';
import { scheduleSender, ScheduleNotSendable } from './scheduledSends';

export interface ScheduleDispatcherOptions {
  pollMs: number;
  lookaheadMs: number;
  /**
   * Sends in progress at most: after an outage, a backlog of overdue schedules goes out in
   * waves of this size rather than all at once.
   */
  maxInFlight?: number;
}

export interface ScheduleDispatcher {
  /** Stops claiming and waits for the sends in progress. */
  stop(): Promise<void>;
}

export function startScheduleDispatcher(deps: ServiceDeps, opts: ScheduleDispatcherOptions): ScheduleDispatcher {
  const { sendSchedule } = scheduleSender(deps);
  const maxInFlight = opts.maxInFlight ?? 1_000;
  const sends = new Set<Promise<void>>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const handBack = async (row: ScheduleRow, err: unknown) => {
    deps.log.warn({ scheduleId: row.id, err: (err as Error)?.message }, 'dispatched send failed; its workflow retries it');
    await releaseScheduleClaim(deps.db, { scheduleId: row.id });
    // Wake the workflow now rather than at its settle time; if this fails, it wakes then anyway.
    await deps.temporal?.client.workflow
      .getHandle(scheduleWorkflowId(row.id))
      .executeUpdate(dispatchReleasedUpdate)
      .catch((e) => deps.log.warn({ scheduleId: row.id, err: (e as Error)?.message }, 'could not wake the schedule workflow'));
  };

  const send = async (row: ScheduleRow) => {
    try {
      await sendSchedule({
        scheduleId: row.id,
        tenantId: row.tenantId,
        channelId: row.channelId,
        contactKey: row.contactKey,
        message: row.message as unknown as OutboundMessage,
        sendAt: row.scheduledFor.getTime(),
        maxWaitMs: opts.lookaheadMs + opts.pollMs + 1_000,
      });
    } catch (err) {
      // A refusal is final and already on the row (sendSchedule recorded it).
      if (err instanceof ScheduleNotSendable || finalSendFailure(err)) return;
      await handBack(row, err).catch((e) => deps.log.error({ scheduleId: row.id, err: e }, 'could not hand a send back; its workflow takes it over after the claim TTL'));
    }
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const room = maxInFlight - sends.size;
      if (room > 0) {
        const rows = await claimDueSchedules(deps.db, { until: new Date(Date.now() + opts.lookaheadMs), limit: room });
        for (const row of rows) {
          const p = send(row).finally(() => sends.delete(p));
          sends.add(p);
        }
      }
    } catch (err) {
      deps.log.warn({ err: (err as Error)?.message }, 'schedule dispatcher poll failed; trying again');
    }
    if (!stopped) {
      timer = setTimeout(() => {
        polling = poll();
      }, opts.pollMs);
    }
  };
  polling = poll();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      await Promise.allSettled([...sends]);
    },
  };
}
