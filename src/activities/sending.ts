/**
 * Activities of the send workflows: the delivery itself (the same `deliverOrFail` every
 * sender uses, then the contact's follow-up where the tenant has them) and the bookkeeping
 * of schedule rows.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { setScheduleTime, transitionSchedule } from '../db/queries/sending';
import { messages, scheduledMessages } from '../db/schema';
import type { DeliverRequest, DeliverResult } from '../services/delivery';
import { deliverOrFail, type ActivityDeps } from './deps';
import { outboundFollowUps } from './followUps';
import type { OutboundMessage } from './providers/types';

export interface ScheduledDelivery {
  scheduleId: string;
  tenantId: string;
  channelId: string;
  contactKey: string;
  message: OutboundMessage;
  /** The schedule's time (epoch ms): the provider is called at this moment, not before. */
  sendAt: number;
  /** Longest in-process wait for sendAt (the workflow wakes this much early). */
  maxWaitMs: number;
}

/** The idempotency key of a schedule's one message. */
export const scheduleMessageKey = (scheduleId: string) => `schedule:${scheduleId}`;

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

function failureOf(err: unknown): { type: string; message: string } | undefined {
  const f = err as { name?: string; type?: string; nonRetryable?: boolean; message?: string };
  if (f?.name === 'ApplicationFailure' && f.nonRetryable) return { type: f.type ?? 'Error', message: f.message ?? '' };
  return undefined;
}

/** What a dispatched schedule's workflow finds after its time (activity `settleScheduledSend`). */
export type ScheduleSettlement =
  | { state: 'sent'; messageId?: string }
  | { state: 'failed'; reason: string }
  | { state: 'cancelled' }
  | { state: 'deliver' }
  | { state: 'wait'; ms: number };

/**
 * A schedule's one send, for its workflow's activity and for the worker's dispatcher alike:
 * marks the row sending, delivers at `sendAt` (idempotent by the schedule's key: whoever
 * comes second finds it sent), records the outcome on the row, then the follow-up.
 */
export function scheduleSender(deps: ActivityDeps) {
  const { db } = deps;
  const followUps = outboundFollowUps(deps);

  async function messageIdOf(scheduleId: string): Promise<string | undefined> {
    const [row] = await db.select({ id: messages.id }).from(messages).where(eq(messages.idempotencyKey, scheduleMessageKey(scheduleId)));
    return row?.id;
  }

  async function sendSchedule(params: ScheduledDelivery): Promise<DeliverResult> {
    const moved = await transitionSchedule(db, { scheduleId: params.scheduleId, from: ['scheduled', 'sending'], to: 'sending' });
    if (!moved) {
      const [row] = await db.select().from(scheduledMessages).where(eq(scheduledMessages.id, params.scheduleId));
      if (!row) throw ApplicationFailure.nonRetryable(`schedule ${params.scheduleId} not found`, 'NotFound');
      if (row.status === 'cancelled') throw ApplicationFailure.nonRetryable('schedule was cancelled', 'ScheduleCancelled');
      // sent or failed by an earlier attempt: deliver() below answers from the message row.
    }
    try {
      const result = await deliverOrFail(deps, {
        tenantId: params.tenantId,
        channelId: params.channelId,
        contactKey: params.contactKey,
        message: params.message,
        idempotencyKey: scheduleMessageKey(params.scheduleId),
        notBefore: params.sendAt,
        maxWaitMs: params.maxWaitMs,
      });
      await transitionSchedule(db, {
        scheduleId: params.scheduleId,
        from: ['scheduled', 'sending'],
        to: 'sent',
        set: { messageId: result.messageId, error: null },
      });
      await followUps.afterSend(params, result);
      return result;
    } catch (err) {
      const failure = failureOf(err);
      if (failure) {
        await transitionSchedule(db, {
          scheduleId: params.scheduleId,
          from: ['scheduled', 'sending'],
          to: 'failed',
          set: { messageId: await messageIdOf(params.scheduleId), error: { reason: failure.type, message: failure.message } },
        });
      }
      throw err;
    }
  }

  return { sendSchedule, messageIdOf };
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
      return withHeartbeat(() => sendSchedule(params));
    },

    /**
     * A dispatched schedule's workflow, after its time: what became of the send. `deliver`:
     * nobody sent it (no dispatcher ran, or one handed it back, or one died with it), so the
     * workflow delivers it itself; `wait`: a dispatcher is on it right now.
     */
    async settleScheduledSend(params: { scheduleId: string; claimTtlMs: number }): Promise<ScheduleSettlement> {
      const [row] = await db
        .select({ status: scheduledMessages.status, claimedAt: scheduledMessages.claimedAt, messageId: scheduledMessages.messageId, error: scheduledMessages.error })
        .from(scheduledMessages)
        .where(eq(scheduledMessages.id, params.scheduleId));
      if (!row) throw ApplicationFailure.nonRetryable(`schedule ${params.scheduleId} not found`, 'NotFound');
      switch (row.status) {
        case 'sent':
          return { state: 'sent', messageId: row.messageId ?? undefined };
        case 'failed':
          return { state: 'failed', reason: String(row.error?.reason ?? 'Error') };
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
