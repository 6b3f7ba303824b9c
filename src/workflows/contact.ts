/**
 * One workflow per tenant + contact (`contact:{tenantId}:{contactKey}`), started or signalled
 * by the ingest with signalWithStart. It serialises everything that happens to a contact:
 * duplicate suppression, opt-out, human takeover, replies routed to a waiting funnel run,
 * and funnel triggers. It ends when idle and continues as new when its history grows, so
 * idle contacts hold no open workflow; on a fresh start it reads the contact's unfinished
 * funnel runs from the database.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { selectFunnel } from '../domain/funnelMatch';
import { isOptOut } from '../domain/text';
import { funnelReplySignal, funnelWaitingSignal } from './funnel';
import type { ActiveRun, ContactMessage, ContactState, ContactWorkflowInput, InboundSignalPayload } from './types';

type Activities = ReturnType<typeof createActivities>;

/** Opt-out bookkeeping and its confirmation send (a provider call: a regular activity). */
const contactActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Quick database work and workflow starts: local, so a click costs no extra round trip. */
const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
});

export const inboundMessageSignal = defineSignal<[InboundSignalPayload]>('inbound');
export const contactStateQuery = defineQuery<ContactState>('state');

const SEEN_LIMIT = 500;
const DEFAULT_IDLE_MS = 10 * 60_000;

export async function contactWorkflow(input: ContactWorkflowInput): Promise<ContactState> {
  const state: ContactState = input.state ?? { seen: [], optedOut: false, handled: 0 };
  const seen = new Set(state.seen);
  const queue: InboundSignalPayload[] = [];
  const runs = new Map<string, ActiveRun>((state.activeRuns ?? []).map((r) => [r.runId, r]));
  let idleTimeoutMs = DEFAULT_IDLE_MS;

  setHandler(inboundMessageSignal, (payload) => {
    if (seen.has(payload.message.messageId)) return; // re-delivered: already queued or handled
    seen.add(payload.message.messageId);
    queue.push(payload);
  });
  // Only runs waiting for a reply matter here: the database decides re-entry and cooldown.
  setHandler(funnelWaitingSignal, ({ runId, funnelId, waiting }) => {
    if (waiting) runs.set(runId, { runId, funnelId, waiting });
    else runs.delete(runId);
  });
  setHandler(contactStateQuery, () => ({ ...state, seen: [...seen], activeRuns: [...runs.values()] }));

  if (!input.state) {
    for (const run of await local.loadContactRuns({ tenantId: input.tenantId, contactKey: input.contactKey })) {
      if (run.waiting) runs.set(run.runId, run);
    }
  }

  const ctx: HandlerContext = { input, state, runs };
  for (;;) {
    const gotWork = await condition(() => queue.length > 0, idleTimeoutMs);
    if (!gotWork) break;
    while (queue.length > 0) {
      const payload = queue.shift()!;
      idleTimeoutMs = payload.policy.idleTimeoutMs;
      if (payload.contactOptedOut) state.optedOut = true;
      await handleMessage(ctx, payload);
      state.handled += 1;
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await condition(allHandlersFinished);
      if (queue.length === 0) {
        await continueAsNew<typeof contactWorkflow>({ ...input, state: snapshot(state, seen, runs) });
      }
    }
  }
  await condition(allHandlersFinished);
  return snapshot(state, seen, runs);
}

interface HandlerContext {
  input: ContactWorkflowInput;
  state: ContactState;
  runs: Map<string, ActiveRun>;
}

function snapshot(state: ContactState, seen: Set<string>, runs: Map<string, ActiveRun>): ContactState {
  return { ...state, seen: [...seen].slice(-SEEN_LIMIT), activeRuns: [...runs.values()] };
}

async function handleMessage(ctx: HandlerContext, payload: InboundSignalPayload): Promise<void> {
  const { input, state, runs } = ctx;
  const { message, policy } = payload;
  if (message.author === 'human') {
    // Someone typed on the business phone: a human took over this conversation.
    state.pausedUntil = message.timestamp + policy.humanPauseMs;
    return;
  }
  if (message.author !== 'contact') return; // echoes of our own sends trigger nothing
  state.lastInboundAt = message.timestamp;

  if (isOptOut(message.text, policy.optOutKeywords)) {
    if (!state.optedOut) {
      state.optedOut = true;
      await local.cancelContactRuns({ tenantId: input.tenantId, contactKey: input.contactKey, reason: 'contact opted out' });
      runs.clear();
      await contactActivities.optOutContact({
        tenantId: input.tenantId,
        contactKey: input.contactKey,
        channelId: message.channelId,
        triggerMessageId: message.messageId,
      });
    }
    return;
  }
  if (state.optedOut) return;
  // Paused by a person (typing on the phone, or a handover): no automation at all.
  const pausedUntil = Math.max(state.pausedUntil ?? 0, payload.contactPausedUntil ?? 0);
  if (pausedUntil && message.timestamp < pausedUntil) return;

  // A run waiting for a reply gets it, instead of it starting anything new.
  for (const run of [...runs.values()]) {
    runs.delete(run.runId); // one reply per wait; the run says when it waits again
    try {
      await getExternalWorkflowHandle(run.runId).signal(funnelReplySignal, replyOf(message));
      return;
    } catch {
      // finished meanwhile: try the next, or the triggers
    }
  }

  const funnel = payload.funnels?.length ? selectFunnel(payload.funnels, message) : undefined;
  if (!funnel) return; // AI replies plug in here
  const started = await local.startFunnelRun({
    tenantId: input.tenantId,
    contactKey: input.contactKey,
    channelId: message.channelId,
    triggerMessageId: message.messageId,
    funnel,
    sendRetry: policy.sendRetry,
  });
  if (started.outcome === 'started' && funnel.reentry === 'restart') {
    for (const [id, run] of runs) if (run.funnelId === funnel.funnelId && id !== started.runId) runs.delete(id);
  }
}

function replyOf(message: ContactMessage) {
  return { messageId: message.messageId, type: message.type, text: message.text, button: message.button };
}
