/**
 * Activities of the send workflows: the delivery itself (the same `deliverOrFail` every
 * sender uses, then the contact's follow-up where the tenant has them) and the bookkeeping
 * of schedule rows.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { getScheduleById, setScheduleTime, transitionSchedule } from '../db/queries/schedules';
import { FailureType } from '../domain/failures';
import type { DeliverRequest, DeliverResult } from '../services/delivery';
import { outboundFollowUps } from '../services/followUps';
import { scheduleSender, type ScheduledDelivery } from '../services/scheduledSends';
import { deliverOrFail } from './delivery';
import type { ActivityDeps } from './deps';
import { asFailures } from './failures';

/** What a dispatched schedule's workflow finds after its time (activity `settleScheduledSend`). */
export type ScheduleSettlement =
  | { state: 'sent'; messageId?: string }
  | { state: 'failed'; reason: string }
  | { state: 'cancelled' }
  | { state: 'deliver' }
  | { state: 'wait'; ms: number };

/**
 * Keeps a long activity visibly alive: a lost worker is noticed within the heartbeat
 * timeout. Local activities have no heartbeat (their workflow task is kept alive instead).
 */
async function withHeartbeat<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  if (ctx.info.isLocal) return fn();
  const timer = setInterval(() => ctx.heartbeat(), 1_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export function createSendingActivities(deps: ActivityDeps) {
  const { db } = deps;
  const followUps = outboundFollowUps(deps);
  const { sendSchedule, messageIdOf } = scheduleSender(deps);

  return {
    /** An immediate send (`send:<messageId>` workflow): the row exists already, created by the API. */
    async deliverMessage(req: DeliverRequest): Promise<DeliverResult> {
      return withHeartbeat(async () => {
        const result = await deliverOrFail(deps, req);
        await followUps.afterSend(req, result);
        return result;
      });
    },

    /** A schedule's send: marks the row sending, delivers at `sendAt`, records the outcome. */
    async deliverScheduledMessage(params: ScheduledDelivery): Promise<DeliverResult> {
      return withHeartbeat(() => asFailures(() => sendSchedule(params)));
    },

    /**
     * A dispatched schedule's workflow, after its time: what became of the send. `deliver`:
     * nobody sent it (no dispatcher ran, or one handed it back, or one died with it), so the
     * workflow delivers it itself; `wait`: a dispatcher is on it right now.
     */
    async settleScheduledSend(params: { scheduleId: string; claimTtlMs: number }): Promise<ScheduleSettlement> {
      const row = await getScheduleById(db, { scheduleId: params.scheduleId });
      if (!row) throw ApplicationFailure.nonRetryable(`schedule ${params.scheduleId} not found`, FailureType.NotFound);
      switch (row.status) {
        case 'sent':
          return { state: 'sent', messageId: row.messageId ?? undefined };
        case 'failed':
          return { state: 'failed', reason: typeof row.error?.reason === 'string' ? row.error.reason : 'Error' };
        case 'cancelled':
          return { state: 'cancelled' };
        case 'scheduled':
          return { state: 'deliver' };
        case 'sending': {
          const claimAge = row.claimedAt ? Date.now() - row.claimedAt.getTime() : Infinity;
          return claimAge < params.claimTtlMs ? { state: 'wait', ms: params.claimTtlMs - claimAge } : { state: 'deliver' };
        }
      }
    },

    /** Reschedule accepted by the workflow: the row follows. */
    async recordScheduleTime(params: { scheduleId: string; scheduledFor: number }): Promise<boolean> {
      return setScheduleTime(db, { scheduleId: params.scheduleId, scheduledFor: new Date(params.scheduledFor) });
    },

    /** Cancel accepted by the workflow: the row follows. */
    async recordScheduleCancelled(params: { scheduleId: string }): Promise<boolean> {
      return transitionSchedule(db, { scheduleId: params.scheduleId, from: ['scheduled'], to: 'cancelled' });
    },

    /** A schedule whose delivery ended without a recorded outcome (e.g. an unexpected failure). */
    async recordScheduleFailed(params: { scheduleId: string; reason: string; message: string }): Promise<void> {
      await transitionSchedule(db, {
        scheduleId: params.scheduleId,
        from: ['scheduled', 'sending'],
        to: 'failed',
        set: { messageId: await messageIdOf(params.scheduleId), error: { reason: params.reason, message: params.message } },
      });
    },
  };
}
