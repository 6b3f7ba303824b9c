/**
 * One workflow per tenant + contact (`contact:{tenantId}:{contactKey}`), started or signalled
 * by the ingest with signalWithStart. It serialises everything that happens to a contact:
 * duplicate suppression, opt-out, human takeover, and the hook where funnels plug in.
 * It ends when idle and continues as new when its history grows, so idle contacts hold
 * no open workflow.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { isOptOut } from '../domain/text';
import type { ContactMessage, ContactPolicy, ContactState, ContactWorkflowInput, InboundSignalPayload } from './types';

type Activities = ReturnType<typeof createActivities>;

/** Short database/provider calls: opt-out bookkeeping and the confirmation send. */
const contactActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export const inboundMessageSignal = defineSignal<[InboundSignalPayload]>('inbound');
export const contactStateQuery = defineQuery<ContactState>('state');

const SEEN_LIMIT = 500;
const DEFAULT_IDLE_MS = 10 * 60_000;

export async function contactWorkflow(input: ContactWorkflowInput): Promise<ContactState> {
  const state: ContactState = input.state ?? { seen: [], optedOut: false, handled: 0 };
  const seen = new Set(state.seen);
  const queue: InboundSignalPayload[] = [];
  let idleTimeoutMs = DEFAULT_IDLE_MS;

  setHandler(inboundMessageSignal, (payload) => {
    if (seen.has(payload.message.messageId)) return; // re-delivered: already queued or handled
    seen.add(payload.message.messageId);
    queue.push(payload);
  });
  setHandler(contactStateQuery, () => ({ ...state, seen: [...seen] }));

  for (;;) {
    const gotWork = await condition(() => queue.length > 0, idleTimeoutMs);
    if (!gotWork) break;
    while (queue.length > 0) {
      const { message, policy, contactOptedOut } = queue.shift()!;
      idleTimeoutMs = policy.idleTimeoutMs;
      if (contactOptedOut) state.optedOut = true;
      await handleMessage(input, state, message, policy);
      state.handled += 1;
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await condition(allHandlersFinished);
      if (queue.length === 0) {
        await continueAsNew<typeof contactWorkflow>({ ...input, state: snapshot(state, seen) });
      }
    }
  }
  await condition(allHandlersFinished);
  return snapshot(state, seen);
}

function snapshot(state: ContactState, seen: Set<string>): ContactState {
  return { ...state, seen: [...seen].slice(-SEEN_LIMIT) };
}

async function handleMessage(
  input: ContactWorkflowInput,
  state: ContactState,
  message: ContactMessage,
  policy: ContactPolicy,
): Promise<void> {
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
  if (state.pausedUntil && message.timestamp < state.pausedUntil) return;
  // Funnel trigger matching and AI replies plug in here.
}
