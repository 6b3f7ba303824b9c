/**
 * One follow-up workflow per contact conversation (`followup:{tenantId}:{contactKey}`): when
 * the contact goes quiet after zapflow's last message, it waits the tenant's quiet period
 * (moved into the allowed hours of the tenant's timezone), asks the AI whether and what to
 * follow up, and sends it; at most N times, then it ends. No polling: each follow-up is one
 * durable timer, visible in the Temporal UI with the contact and the due time.
 *
 * The contact workflow starts it (signalWithStart `inbound`) when the contact writes and
 * resets it with every later message; it also says `outbound` after its AI replies. API
 * sends, schedules and funnel steps say `outbound` from their delivery activity when the
 * tenant has follow-ups on, so a contact who never wrote (outreach) is followed up too.
 * The times themselves come from the database (every send records its own): when the timer
 * fires and zapflow wrote since, it re-arms for that time plus the quiet period. A funnel
 * still running is left alone: its own steps are its follow-ups. On Meta, a follow-up due
 * after the contact's 24-hour window closes would have to be a template: the workflow ends
 * there and says so, without asking the AI.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { nextAllowedTime } from '../domain/followUpWindow';
import { ZapflowStatusKey } from '../domain/searchAttributes';
import { followUpInboundSignal, followUpOutboundSignal, followUpStateQuery, followUpStopSignal } from './definitions';
import type { FollowUpInput, FollowUpLogEntry, FollowUpState } from './types';

type Activities = ReturnType<typeof createActivities>;

const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/** The AI's decision: a few patient attempts (429/5xx); then the follow-up is given up and recorded. */
const ai = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 4 },
});

/** The send: like any delivery (rate limits carry their own delay; refusals are final). */
const sends = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 8 },
});

const max = (...values: Array<number | undefined>): number | undefined => {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.max(...defined) : undefined;
};

function failureText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return `${err.cause.type ?? 'failure'}: ${err.cause.message}`;
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return (err as Error)?.message ?? String(err);
}

export async function followUpWorkflow(input: FollowUpInput): Promise<FollowUpState & { log: FollowUpLogEntry[] }> {
  const state: FollowUpState = input.state ?? { sent: 0, seq: 0, status: 'waiting' };
  const history: FollowUpLogEntry[] = [];
  let channelId = input.channelId;
  let changed = false;
  let stopReason: string | undefined;
  let outboundSignalAt: number | undefined;

  setHandler(followUpInboundSignal, ({ at, channelId: ch }) => {
    // Provider times have second resolution: the signal's own (workflow) time orders it after our sends.
    state.lastInboundAt = Math.max(state.lastInboundAt ?? 0, at, Date.now());
    state.sent = 0; // the contact wrote: a new stretch of conversation
    if (ch) channelId = ch;
    changed = true;
  });
  setHandler(followUpOutboundSignal, ({ at, channelId: ch }) => {
    outboundSignalAt = Math.max(outboundSignalAt ?? 0, at);
    if (ch) channelId = ch;
    changed = true;
  });
  setHandler(followUpStopSignal, ({ reason }) => {
    stopReason ??= reason;
    changed = true;
  });
  setHandler(followUpStateQuery, () => ({ ...state, log: [...history] }));

  const visible = workflowInfo().typedSearchAttributes.get(ZapflowStatusKey) !== undefined;
  const setStatus = (status: string) => {
    if (visible) upsertSearchAttributes([{ key: ZapflowStatusKey, value: status }]);
  };
  const note = (entry: FollowUpLogEntry) => {
    history.push(entry);
    if (history.length > 20) history.shift();
  };
  const finish = (reason: string) => {
    state.status = 'finished';
    state.reason = reason;
    state.dueAt = undefined;
    note({ at: Date.now(), event: 'finished', detail: reason });
    setCurrentDetails(`Follow-up → ${input.contactKey}: finished (${reason}); ${state.sent} sent`);
    setStatus('completed');
    return { ...state, log: [...history] };
  };

  // After a provisional wait (the contact spoke last), one more check, then nothing to do.
  let provisionalWaits = 0;
  for (;;) {
    if (stopReason) return finish(stopReason);
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof followUpWorkflow>({ ...input, channelId, state });
    }
    changed = false;
    const ctx = await local.followUpContext({ tenantId: input.tenantId, contactKey: input.contactKey, channelId });
    if (stopReason) return finish(stopReason);
    if (ctx.blocked !== undefined) return finish(ctx.blocked);
    const { policy } = ctx;
    if (state.sent >= policy.max) return finish(`cap reached: ${state.sent} follow-up(s) sent`);

    const now = Date.now();
    const lastOut = max(ctx.lastOutboundAt, state.lastSentAt, outboundSignalAt);
    const lastIn = max(ctx.lastInboundAt, state.lastInboundAt);
    let due: number;
    let provisional = false;
    if (lastOut === undefined || (lastIn !== undefined && lastIn > lastOut)) {
      // The contact spoke last: zapflow (a funnel, an AI reply, a person) answers first.
      if (provisionalWaits >= 1 && ctx.activeRuns === 0) return finish('the contact spoke last and nothing was sent since: nothing to follow up');
      due = now + policy.quietMs;
      provisional = true;
    } else {
      due = lastOut + policy.quietMs;
      if (ctx.activeRuns > 0) {
        // A funnel run is still going: its steps are the follow-up. Look again later.
        due = Math.max(due, now + policy.quietMs);
        provisional = true;
      }
    }
    due = nextAllowedTime(Math.max(due, now), policy.windows, policy.timezone, policy.days);
    // No patched() needed: histories from before this check carry no freeTextUntil and take the old path.
    if (!provisional && ctx.freeTextUntil !== undefined && due > ctx.freeTextUntil) {
      return finish(
        ctx.freeTextUntil === 0
          ? 'Meta 24-hour window: the contact never wrote to this number, so only a template may go out'
          : `Meta 24-hour window: it closes at ${new Date(ctx.freeTextUntil).toISOString()}, before the follow-up is due (${new Date(due).toISOString()}); only a template may go out then`,
      );
    }
    state.dueAt = due;
    state.status = 'waiting';
    setStatus('waiting');
    setCurrentDetails(
      provisional
        ? `Follow-up → ${input.contactKey}: waiting for zapflow's next message; checking again at ${new Date(due).toISOString()}`
        : `Follow-up ${state.sent + 1}/${policy.max} → ${input.contactKey}: due ${new Date(due).toISOString()} (${policy.timezone})`,
    );
    const wait = due - Date.now();
    const interrupted = wait > 0 ? await condition(() => changed, wait) : changed;
    if (interrupted) {
      provisionalWaits = 0;
      continue;
    }
    if (provisional) {
      provisionalWaits++;
      continue;
    }
    provisionalWaits = 0;

    // Due: ask, then send (each step re-checks the contact).
    state.seq += 1;
    state.status = 'sending';
    setStatus('running');
    const key = `${workflowInfo().firstExecutionRunId}:${state.seq}`;
    let decision: { send: boolean; text?: string; reason: string };
    try {
      decision = await ai.followUpCompose({
        tenantId: input.tenantId,
        contactKey: input.contactKey,
        key,
        number: state.sent + 1,
        max: policy.max,
        quietMs: policy.quietMs,
      });
    } catch (err) {
      const reason = `AI failed: ${failureText(err)}`;
      note({ at: Date.now(), event: 'failed', detail: reason });
      log.warn('follow-up given up: the AI call kept failing', { contactKey: input.contactKey });
      return finish(reason);
    }
    if (changed) continue; // the contact wrote (or we did) while the AI thought: reconsider
    if (!decision.send || !decision.text) {
      note({ at: Date.now(), event: 'declined', detail: decision.reason });
      return finish(`no follow-up: ${decision.reason}`);
    }
    let result: { sent: true; at: number } | { sent: false; reason: string };
    try {
      result = await sends.followUpSend({ tenantId: input.tenantId, contactKey: input.contactKey, channelId, text: decision.text, key });
    } catch (err) {
      const reason = `send failed: ${failureText(err)}`;
      note({ at: Date.now(), event: 'failed', detail: reason });
      return finish(reason);
    }
    if (!result.sent) return finish(result.reason);
    state.sent += 1;
    state.lastSentAt = Date.now();
    note({ at: state.lastSentAt, event: 'sent', detail: decision.text });
  }
}
