/**
 * One workflow per tenant + contact (`contact:{tenantId}:{contactKey}`), started or signalled
 * by the ingest with signalWithStart. It serialises everything that happens to a contact:
 * duplicate suppression, opt-out, human takeover, loop safety, replies routed to a waiting
 * funnel run, funnel triggers, AI replies (debounced: quick messages make one turn), the
 * follow-up's reset and message analysis. It ends when idle and continues as new when its
 * history grows, so idle contacts hold no open workflow; on a fresh start it reads the
 * contact's unfinished funnel runs from the database and the worker's conversation policy.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { selectFunnel } from '../domain/funnelMatch';
import { observeInbound, observeTrigger, type InboundKind } from '../domain/loopGuard';
import { activityPriority } from '../domain/priorities';
import { isOptOut } from '../domain/text';
import { contactControlSignal, contactResubscribedSignal, contactStateQuery, funnelReplySignal, funnelWaitingSignal, inboundMessageSignal } from './definitions';
import type {
  ActiveRun,
  ContactMessage,
  ContactState,
  ContactWorkflowInput,
  ConversationFlags,
  ConversationPolicy,
  InboundSignalPayload,
  SendRetryPolicy,
} from './types';

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

/**
 * AI calls retry per configuration (AI_MAX_ATTEMPTS…), then the turn is given up and recorded.
 * `priority`: for calls of another kind than the contact's own (analysis waits behind replies).
 */
function aiProxy(policy: ConversationPolicy, priority?: ReturnType<typeof activityPriority>) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '2m',
    ...(priority ? { priority } : {}),
    retry: {
      maximumAttempts: policy.aiRetry.maximumAttempts,
      initialInterval: policy.aiRetry.initialIntervalMs,
      maximumInterval: policy.aiRetry.maximumIntervalMs,
      backoffCoefficient: 2,
    },
  });
}

/** Sending an answer: "typing…" then each part; retried like funnel sends. */
function replyProxy(retry: SendRetryPolicy) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '3m',
    heartbeatTimeout: '30s',
    retry: {
      maximumAttempts: retry.maximumAttempts,
      initialInterval: retry.initialIntervalMs,
      maximumInterval: retry.maximumIntervalMs,
      backoffCoefficient: 2,
    },
  });
}

const SEEN_LIMIT = 500;
/** patched() id: the loop guard watches funnel triggers too, not only where AI answers. */
const LOOP_GUARD_EVERY_ANSWER = 'loop-guard-every-answer';
const DEFAULT_IDLE_MS = 10 * 60_000;

/** Quick messages waiting to become one AI turn. */
interface PendingTurn {
  messages: ContactMessage[];
  dueAt: number;
  sendRetry: SendRetryPolicy;
}

const BUTTON_TYPES = new Set(['button_reply', 'template_button_reply', 'list_reply', 'interactive_reply']);

function kindOf(message: ContactMessage): InboundKind {
  if (BUTTON_TYPES.has(message.type)) return 'button';
  if (message.type === 'text') return 'text';
  if (message.type === 'media') return 'media';
  return 'other';
}

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
  const ctx: HandlerContext = { input, state, runs, turn: undefined, analysis: [], background: [] };
  setHandler(contactControlSignal, ({ pausedUntil, reason }) => {
    if (pausedUntil > 0) {
      state.pausedUntil = pausedUntil;
      state.pauseReason = reason;
      ctx.turn = undefined; // a person leads now: drop the answer being prepared
    } else {
      state.pausedUntil = undefined;
      state.pauseReason = undefined;
    }
  });
  setHandler(contactResubscribedSignal, () => {
    state.optedOut = false;
  });
  setHandler(contactStateQuery, () => ({ ...state, seen: [...seen], activeRuns: [...runs.values()] }));

  const [loaded, policy] = await Promise.all([
    input.state ? Promise.resolve([] as ActiveRun[]) : local.loadContactRuns({ tenantId: input.tenantId, contactKey: input.contactKey }),
    local.conversationPolicy(),
  ]);
  for (const run of loaded) if (run.waiting) runs.set(run.runId, run);
  ctx.policy = policy;

  for (;;) {
    if (queue.length === 0) {
      if (ctx.turn) {
        // Debounce: the turn goes when the contact has been quiet for the debounce time.
        const left = ctx.turn.dueAt - Date.now();
        if (left > 0) await condition(() => queue.length > 0 || ctx.turn === undefined, left);
        if (queue.length === 0 && ctx.turn) await runAiTurn(ctx);
        if (queue.length === 0) continue;
      } else {
        const gotWork = await condition(() => queue.length > 0, idleTimeoutMs);
        if (!gotWork) break;
      }
    }
    while (queue.length > 0) {
      const payload = queue.shift()!;
      idleTimeoutMs = payload.policy.idleTimeoutMs;
      if (payload.contactOptedOut) state.optedOut = true;
      await handleMessage(ctx, payload);
      state.handled += 1;
    }
    flushAnalysis(ctx);
    if (!ctx.turn && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000)) {
      await Promise.all(ctx.background);
      await condition(allHandlersFinished);
      if (queue.length === 0) {
        await continueAsNew<typeof contactWorkflow>({ ...input, state: snapshot(state, seen, runs) });
      }
    }
  }
  await Promise.all(ctx.background);
  await condition(allHandlersFinished);
  return snapshot(state, seen, runs);
}

interface HandlerContext {
  input: ContactWorkflowInput;
  state: ContactState;
  runs: Map<string, ActiveRun>;
  policy?: ConversationPolicy;
  /** The tenant's conversation switches, from the latest message. */
  flags?: ConversationFlags;
  turn: PendingTurn | undefined;
  /** Inbound texts to score, sent off in one background activity per batch. */
  analysis: string[];
  background: Promise<unknown>[];
}

function snapshot(state: ContactState, seen: Set<string>, runs: Map<string, ActiveRun>): ContactState {
  return { ...state, seen: [...seen].slice(-SEEN_LIMIT), activeRuns: [...runs.values()] };
}

function isPaused(state: ContactState, payload: InboundSignalPayload | undefined, at: number): boolean {
  const pausedUntil = Math.max(state.pausedUntil ?? 0, payload?.contactPausedUntil ?? 0);
  return pausedUntil > 0 && at < pausedUntil;
}

async function handleMessage(ctx: HandlerContext, payload: InboundSignalPayload): Promise<void> {
  const { input, state, runs } = ctx;
  const { message, policy } = payload;
  const conversation = payload.conversation;
  ctx.flags = conversation;
  const ids = { tenantId: input.tenantId, contactKey: input.contactKey };
  if (message.author === 'human') {
    // The provider's echo of our own send is not a person typing.
    if (await local.checkOwnEcho({ ...ids, providerMessageId: message.providerMessageId, text: message.text })) return;
    // Someone typed on the business phone: a human took over this conversation.
    state.pausedUntil = Math.max(state.pausedUntil ?? 0, message.timestamp + policy.humanPauseMs);
    state.pauseReason = 'a person replied from the business phone';
    ctx.turn = undefined;
    await local.recordHumanPause({ ...ids, until: state.pausedUntil });
    return;
  }
  if (message.author !== 'contact') return; // echoes of our own sends trigger nothing
  state.lastInboundAt = message.timestamp;

  if (isOptOut(message.text, policy.optOutKeywords)) {
    ctx.turn = undefined;
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
      if (conversation?.followUps) await local.touchFollowUp({ ...ids, channelId: message.channelId, event: 'stop', at: message.timestamp, reason: 'contact opted out' });
    }
    return;
  }
  if (state.optedOut) return;
  // Paused by a person (typing on the phone, or a handover) or by the loop guard: no automation at all.
  if (isPaused(state, payload, message.timestamp)) return;

  // Loop safety before any automated answer: a bot on the other side pauses it all. Where AI
  // answers, every message is observed (a reply to a funnel's question is expected, not fast);
  // elsewhere, messages that fire a keyword funnel trigger: one answering a peer bot that
  // answers everything loops as well. (Histories recorded before the funnel rule guarded AI
  // replies only: patched() keeps them replaying.)
  const waiting = [...runs.values()].some((r) => r.waiting);
  const funnel = payload.funnels?.length ? selectFunnel(payload.funnels, message) : undefined;
  const guardTriggers = !conversation?.aiReplies && funnel !== undefined && !waiting && kindOf(message) !== 'button';
  const everyAnswer = (conversation?.aiReplies || guardTriggers) && patched(LOOP_GUARD_EVERY_ANSWER);
  if (ctx.policy && (conversation?.aiReplies || (guardTriggers && everyAnswer))) {
    const lastOutboundAt = Math.max(state.lastOutboundAt ?? 0, payload.contactLastOutboundAt ?? 0) || undefined;
    const current = state.loop ?? { events: [] };
    const { state: loop, verdict } = conversation?.aiReplies
      ? observeInbound(
          current,
          {
            at: message.timestamp,
            kind: kindOf(message),
            text: message.text,
            lastOutboundAt,
            lastOutboundText: state.lastOutboundText,
            expected: everyAnswer && waiting,
          },
          ctx.policy.loop,
        )
      : observeTrigger(current, { at: message.timestamp, trigger: funnel!.funnelId, lastOutboundAt }, ctx.policy.loop);
    state.loop = loop;
    if (verdict.trip) {
      const until = Date.now() + ctx.policy.loop.cooldownMs;
      state.pausedUntil = Math.max(state.pausedUntil ?? 0, until);
      state.pauseReason = `bot suspected: ${verdict.trip}`;
      ctx.turn = undefined;
      await contactActivities.pauseForLoop({ ...ids, until, reason: verdict.trip, triggerMessageId: message.messageId });
      return;
    }
  }

  if (conversation?.followUps) await local.touchFollowUp({ ...ids, channelId: message.channelId, event: 'inbound', at: message.timestamp });
  if (conversation?.analysis && ctx.policy?.aiAvailable && message.text) ctx.analysis.push(message.messageId);

  // A run waiting for a reply gets it, instead of it starting anything new.
  for (const run of [...runs.values()]) {
    runs.delete(run.runId); // one reply per wait; the run says when it waits again
    try {
      await getExternalWorkflowHandle(run.runId).signal(funnelReplySignal, replyOf(message));
      ctx.turn = undefined; // the funnel answers: earlier quick messages are part of its exchange
      return;
    } catch {
      // finished meanwhile: try the next, or the triggers
    }
  }

  if (!funnel) {
    queueAiTurn(ctx, payload);
    return;
  }
  ctx.turn = undefined;
  const started = await local.startFunnelRun({
    tenantId: input.tenantId,
    contactKey: input.contactKey,
    channelId: message.channelId,
    triggerMessageId: message.messageId,
    funnel,
    sendRetry: policy.sendRetry,
    // Without conversation features the dispatcher routes replies by the database, not this workflow.
    notifyContact: conversation !== undefined,
  });
  if (started.outcome === 'started' && funnel.reentry === 'restart') {
    for (const [id, run] of runs) if (run.funnelId === funnel.funnelId && id !== started.runId) runs.delete(id);
  }
}

/** Adds the message to the pending AI turn (when the tenant wants AI replies and the worker has AI). */
function queueAiTurn(ctx: HandlerContext, payload: InboundSignalPayload): void {
  const { message } = payload;
  const conversation = payload.conversation;
  if (!conversation?.aiReplies || !ctx.policy?.aiAvailable) return;
  const convertible = message.type === 'media' && conversation.mediaToText && ['audio', 'image'].includes(message.media?.kind ?? '');
  if (!message.text?.trim() && !convertible) return; // a sticker or a reaction needs no answer
  const debounceMs = conversation.debounceMs ?? ctx.policy.debounceMs;
  const turn = ctx.turn ?? { messages: [], dueAt: 0, sendRetry: payload.policy.sendRetry };
  turn.messages.push(message);
  turn.dueAt = Date.now() + debounceMs;
  ctx.turn = turn;
}

/** One AI turn: generate (retried per policy; a failure is recorded and the turn dropped), then send. */
async function runAiTurn(ctx: HandlerContext): Promise<void> {
  const turn = ctx.turn!;
  ctx.turn = undefined;
  const { input, state } = ctx;
  const policy = ctx.policy!;
  if (state.optedOut || isPaused(state, undefined, Date.now())) return;
  if ([...ctx.runs.values()].some((r) => r.waiting)) return; // a funnel asked something meanwhile: it answers
  const last = turn.messages[turn.messages.length - 1];
  const turnKey = `${input.tenantId}:${input.contactKey}:${last.messageId}`;
  const params = { tenantId: input.tenantId, contactKey: input.contactKey, channelId: last.channelId, turnKey };
  state.aiTurns = (state.aiTurns ?? 0) + 1;
  try {
    const generated = await aiProxy(policy).aiGenerateReply({ ...params, messageIds: turn.messages.map((m) => m.messageId) });
    if (generated.outcome !== 'reply') {
      log.info('AI turn skipped', { reason: generated.reason });
      return;
    }
    if (state.optedOut || isPaused(state, undefined, Date.now())) return;
    const sent = await replyProxy(turn.sendRetry).aiSendReply({ ...params, parts: generated.parts });
    if (!('lastText' in sent)) return;
    state.lastOutboundAt = sent.at;
    state.lastOutboundText = sent.lastText;
    if (ctx.flags?.followUps) {
      await local.touchFollowUp({ tenantId: input.tenantId, contactKey: input.contactKey, channelId: last.channelId, event: 'outbound', at: sent.at });
    }
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Recorded by the activity (ai_interactions); the contact simply gets no AI answer this turn.
    log.warn('AI turn given up', { error: (err as Error)?.message });
  }
}

function flushAnalysis(ctx: HandlerContext): void {
  if (ctx.analysis.length === 0 || !ctx.policy) return;
  const messageIds = ctx.analysis.splice(0);
  // Scored in the background: the contact's messages are not held up by it, nor (at the
  // lowest priority) anyone's replies or clicks waiting in the task queue.
  ctx.background.push(aiProxy(ctx.policy, activityPriority('analysis')).analyseMessages({ tenantId: ctx.input.tenantId, messageIds }).catch(() => 0));
}

function replyOf(message: ContactMessage) {
  return { messageId: message.messageId, type: message.type, text: message.text, button: message.button };
}
