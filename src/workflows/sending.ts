/**
 * Sends through the API: one workflow per immediate send (`send:<messageId>`) and one per
 * schedule (`schedule:<scheduleId>`). Both hand the message to the one delivery activity
 * every sender in zapflow uses. A schedule is started with a start delay that ends
 * SCHEDULE_PREFIRE before its time (so until then it costs the server nothing and sits in
 * no worker's cache), takes cancel and reschedule as updates (the caller learns the
 * outcome; an update during the delay wakes it at once), sleeps on a durable timer when
 * rescheduled, and survives worker and server restarts like any timer.
 *
 * Each delivery is tried first as a local activity (run inside the workflow task: no
 * activity round trip through the server, the bulk of a send's cost on the server when
 * thousands fall due in the same minute), then, if that attempt fails in a way that may
 * pass, as a regular activity with durable, visible retries. Both run the same idempotent
 * delivery, so the switch can never send twice.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createSendingActivities } from '../activities/sending';
import { FailureType } from '../domain/failures';
import { cancelScheduleUpdate, dispatchReleasedUpdate, rescheduleUpdate, scheduleStateQuery, scheduleWakeAt } from './definitions';
import type { ScheduledSendInput, ScheduleState, ScheduleView } from './types';
import type { DeliverRequest } from '../services/delivery';

type SendingActivities = ReturnType<typeof createSendingActivities>;

/**
 * The delivery. No maximumAttempts on purpose: a RateLimited failure (quota window full,
 * pacing, provider 429) carries its own nextRetryDelay and must never drop the message;
 * transient provider failures back off exponentially up to a minute, and the activity
 * gives up by itself after SEND_MAX_ATTEMPTS of those (non-retryable ProviderUnavailable).
 * The activity heartbeats every second, so a lost worker is noticed within the heartbeat
 * timeout; startToClose covers the early-start wait, a pacing wait and a provider timeout.
 */
const delivery = proxyActivities<SendingActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * The first attempt of every delivery, as a local activity. One attempt only: anything
 * retryable continues in `delivery` above. startToClose covers the early-start wait
 * (SCHEDULE_PREFIRE) and a provider timeout.
 */
const deliveryNow = proxyLocalActivities<SendingActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 1 },
});

/** Schedule row bookkeeping: short database writes. */
const bookkeeping = proxyActivities<SendingActivities>({
  startToCloseTimeout: '15s',
});

/** A dispatched schedule's check after its time: one quick read, inside the workflow task. */
const settling = proxyLocalActivities<SendingActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

export interface SendOutcome {
  status: 'sent' | 'failed';
  messageId?: string;
  providerMessageId?: string;
  /** Failure type (OptedOut, WindowClosed, RecipientInvalid…). */
  reason?: string;
  error?: string;
}

/** A refusal the delivery will not retry (the message row says why); undefined for anything else. */
function refusalOf(err: unknown): { reason: string; error: string } | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    return { reason: err.cause.type ?? 'Error', error: err.cause.message };
  }
  return undefined;
}

/** Runs one delivery: local first, then durable retries; a refusal is thrown as is. */
async function deliverOnce<T>(now: () => Promise<T>, retried: () => Promise<T>): Promise<T> {
  try {
    return await now();
  } catch (err) {
    if (refusalOf(err)) throw err;
    return retried();
  }
}

/** An immediate send. A refusal is an outcome, not a workflow failure. */
export async function sendMessageWorkflow(req: DeliverRequest): Promise<SendOutcome> {
  try {
    const result = await deliverOnce(
      () => deliveryNow.deliverMessage(req),
      () => delivery.deliverMessage(req),
    );
    return { status: 'sent', messageId: result.messageId, providerMessageId: result.providerMessageId };
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) return { status: 'failed', ...refusal };
    throw err;
  }
}

export async function scheduledSendWorkflow(input: ScheduledSendInput): Promise<ScheduleView> {
  let scheduledFor = input.scheduledFor;
  // Widened on purpose: handlers change it between awaits, so no narrowing by the compiler.
  let status = 'scheduled' as ScheduleState;
  let generation = 0;
  let messageId: string | undefined;
  let reason: string | undefined;
  const view = (): ScheduleView => ({ scheduleId: input.scheduleId, status, scheduledFor, messageId, reason });
  const mustBePending = () => {
    if (status !== 'scheduled') throw ApplicationFailure.nonRetryable(`schedule is ${status}`, FailureType.ScheduleNotPending);
  };
  // Dispatched: the row decides (a dispatcher may have taken the send a moment ago), so the
  // workflow changes only once the row has. Otherwise the workflow alone sends: it decides.
  const dispatched = input.settleAfterMs !== undefined;
  const tooLate = () => ApplicationFailure.nonRetryable('the send has begun', FailureType.ScheduleNotPending);
  let handedBack = false;

  setHandler(
    cancelScheduleUpdate,
    async () => {
      if (dispatched) {
        if (!(await bookkeeping.recordScheduleCancelled({ scheduleId: input.scheduleId }))) {
          if (status === 'cancelled') return view(); // a concurrent cancel won: same answer
          throw tooLate();
        }
        status = 'cancelled';
        generation++;
        return view();
      }
      status = 'cancelled';
      generation++;
      await bookkeeping.recordScheduleCancelled({ scheduleId: input.scheduleId });
      return view();
    },
    { validator: mustBePending },
  );
  setHandler(
    rescheduleUpdate,
    async ({ scheduledFor: next }) => {
      if (dispatched) {
        if (!(await bookkeeping.recordScheduleTime({ scheduleId: input.scheduleId, scheduledFor: next }))) throw tooLate();
        scheduledFor = next;
        generation++;
        return view();
      }
      scheduledFor = next;
      generation++;
      await bookkeeping.recordScheduleTime({ scheduleId: input.scheduleId, scheduledFor: next });
      return view();
    },
    {
      validator: ({ scheduledFor: next }) => {
        mustBePending();
        if (!Number.isFinite(next)) throw ApplicationFailure.nonRetryable('scheduledFor must be a time', FailureType.InvalidSchedule);
      },
    },
  );
  setHandler(scheduleStateQuery, view);
  setHandler(dispatchReleasedUpdate, () => {
    handedBack = true;
    generation++;
  });

  // Sleep until the wake-up time; a reschedule or cancel wakes the loop to look again.
  for (;;) {
    if (status === 'cancelled' || handedBack) break;
    const wait = scheduleWakeAt(input, scheduledFor) - Date.now();
    if (wait <= 0) break;
    const seen = generation;
    await condition(() => generation !== seen, wait);
    if (status === 'scheduled' && generation === seen && workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      if (status === 'scheduled') await continueAsNew<typeof scheduledSendWorkflow>({ ...input, scheduledFor });
    }
  }

  let deliverHere = status === 'scheduled';
  if (deliverHere && dispatched) {
    status = 'sending';
    // What did the dispatcher do? Deliver here only what nobody sent.
    const settle = () => settling.settleScheduledSend({ scheduleId: input.scheduleId, claimTtlMs: input.claimTtlMs ?? 120_000 });
    let found = await settle();
    while (found.state === 'wait') {
      await condition(() => handedBack, found.ms);
      found = await settle();
    }
    deliverHere = found.state === 'deliver';
    if (found.state === 'sent') {
      status = 'sent';
      messageId = found.messageId;
    } else if (found.state === 'failed') {
      status = 'failed';
      reason = found.reason;
    } else if (found.state === 'cancelled') status = 'cancelled';
  }

  if (deliverHere) {
    status = 'sending';
    const params = {
      scheduleId: input.scheduleId,
      tenantId: input.tenantId,
      channelId: input.channelId,
      contactKey: input.contactKey,
      message: input.message,
      sendAt: scheduledFor,
      maxWaitMs: input.prefireMs + 1_000,
    };
    try {
      const result = await deliverOnce(
        () => deliveryNow.deliverScheduledMessage(params),
        () => delivery.deliverScheduledMessage(params),
      );
      status = 'sent';
      messageId = result.messageId;
    } catch (err) {
      status = 'failed';
      const refusal = refusalOf(err);
      reason = refusal?.reason ?? 'Error';
      // Refusals are recorded by the activity; anything else is recorded here.
      if (!refusal) {
        await bookkeeping.recordScheduleFailed({ scheduleId: input.scheduleId, reason, message: String((err as Error).message) });
      }
    }
  }
  await condition(allHandlersFinished);
  return view();
}
