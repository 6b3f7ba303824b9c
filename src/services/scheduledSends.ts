/**
 * A schedule's one send, shared by its workflow's activity and by the worker's schedule
 * dispatcher (services/scheduleDispatcher.ts): whoever comes second finds it sent.
 */
import { messageIdByIdempotencyKey } from '../db/queries/sends';
import { getScheduleById, transitionSchedule } from '../db/queries/schedules';
import { FailureType } from '../domain/failures';
import type { OutboundMessage } from '../providers/types';
import { deliverCounted, finalSendFailure, type DeliverResult } from './delivery';
import type { ServiceDeps } from './deps';
import { outboundFollowUps } from './followUps';

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

/** The schedule cannot be sent any more: gone, or cancelled before its time. Final. */
export class ScheduleNotSendable extends Error {
  override name = 'ScheduleNotSendable';
  constructor(
    message: string,
    readonly failure: typeof FailureType.NotFound | typeof FailureType.ScheduleCancelled,
  ) {
    super(message);
  }
}

/** The idempotency key of a schedule's one message. */
export const scheduleMessageKey = (scheduleId: string) => `schedule:${scheduleId}`;

/**
 * A schedule's one send, for its workflow's activity and for the worker's dispatcher alike:
 * marks the row sending, delivers at `sendAt` (idempotent by the schedule's key: whoever
 * comes second finds it sent), records the outcome on the row, then the follow-up.
 */
export function scheduleSender(deps: ServiceDeps) {
  const { db } = deps;
  const followUps = outboundFollowUps(deps);

  function messageIdOf(scheduleId: string): Promise<string | undefined> {
    return messageIdByIdempotencyKey(db, { idempotencyKey: scheduleMessageKey(scheduleId) });
  }

  async function sendSchedule(params: ScheduledDelivery): Promise<DeliverResult> {
    const moved = await transitionSchedule(db, { scheduleId: params.scheduleId, from: ['scheduled', 'sending'], to: 'sending' });
    if (!moved) {
      const row = await getScheduleById(db, { scheduleId: params.scheduleId });
      if (!row) throw new ScheduleNotSendable(`schedule ${params.scheduleId} not found`, FailureType.NotFound);
      if (row.status === 'cancelled') throw new ScheduleNotSendable('schedule was cancelled', FailureType.ScheduleCancelled);
      // sent or failed by an earlier attempt: deliver() below answers from the message row.
    }
    try {
      const result = await deliverCounted(deps, {
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
      const failure = finalSendFailure(err);
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

