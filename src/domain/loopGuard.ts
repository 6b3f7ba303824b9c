/**
 * Loop safety: is the other side of this chat a bot? Pure and deterministic (the contact
 * workflow calls it with workflow time), its state small and bounded.
 *
 * An inbound message is *bot-like* when it answers our last message faster than a person
 * reads and types: within `fastReplyMs` of it (button taps excepted: people tap fast), or at
 * more than `botCharsPerSec` characters per second since it, or when it mirrors our last text.
 * More than `maxFastReplies` bot-like messages within `windowMs`, or the same text
 * `repeatCount` times within it, is a bot.
 *
 * Why these defaults stop two zapflow numbers wired to each other within 5 exchanges: each
 * side's AI answer arrives about debounce (3 s) + model (1–3 s) + typing (35 ms/char, ≤ 4 s)
 * after the other's message, i.e. 5–9 s for 40–200 characters: every answer is bot-like by
 * time (≤ 8 s) or by speed (≥ 6 chars/s, which no one reading and typing on a phone sustains).
 * The 4th bot-like message trips the guard, so each side sends at most 4 messages; a fixed
 * auto-reply trips the repeat rule at its 3rd copy.
 *
 * Without AI the answers come from funnels, and a person may well type a few keywords in a
 * row: there a message is bot-like only when it fires the *same* funnel trigger again, fast
 * (within `fastReplyMs` of our last message). A peer bot that answers "oi" to everything
 * fires a keyword funnel on "oi" over and over: more than `maxFastReplies` such repeats of
 * one trigger within `windowMs` trip the guard (`observeTrigger`), within 5 exchanges.
 */
export interface LoopGuardPolicy {
  fastReplyMs: number;
  botCharsPerSec: number;
  maxFastReplies: number;
  windowMs: number;
  repeatCount: number;
  repeatMinChars: number;
  cooldownMs: number;
}

export const DEFAULT_LOOP_GUARD: LoopGuardPolicy = {
  fastReplyMs: 8_000,
  botCharsPerSec: 6,
  maxFastReplies: 3,
  windowMs: 5 * 60_000,
  repeatCount: 3,
  repeatMinChars: 12,
  cooldownMs: 6 * 3_600_000,
};

export interface LoopEvent {
  at: number;
  botLike: boolean;
  /** Normalised text (bounded), for the repeat rule. */
  text?: string;
}

export interface LoopGuardState {
  events: LoopEvent[];
  /** Funnel triggers a message fired (observeTrigger): when, which, and whether fast. */
  triggers?: Array<{ at: number; trigger: string; fast: boolean }>;
}

export type InboundKind = 'text' | 'button' | 'media' | 'other';

export interface InboundObservation {
  /** When the contact sent it (provider time), epoch ms. */
  at: number;
  kind: InboundKind;
  /**
   * It answers a question zapflow asked (a funnel run waits for it): people answer those
   * fast, so timing alone does not make it bot-like; mirroring and repeats still do.
   */
  expected?: boolean;
  text?: string;
  /** When zapflow last sent to this contact, epoch ms. */
  lastOutboundAt?: number;
  /** What zapflow last sent (its text), when known. */
  lastOutboundText?: string;
}

export interface LoopVerdict {
  botLike: boolean;
  /** Set when the guard trips: why, in words for the tenant. */
  trip?: string;
}

const MAX_EVENTS = 40;
const MAX_TEXT = 120;
/** Provider timestamps have second resolution: a reply "before" our send by this much is still after it. */
const CLOCK_SLACK_MS = 2_000;
/** The speed rule needs some text: "ok" in a second proves nothing. */
const SPEED_MIN_CHARS = 20;

export function normaliseLoopText(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const t = text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
  return t ? t.slice(0, MAX_TEXT) : undefined;
}

/** Classifies one inbound message, records it, and says whether the guard trips. */
export function observeInbound(state: LoopGuardState, obs: InboundObservation, policy: LoopGuardPolicy): { state: LoopGuardState; verdict: LoopVerdict } {
  const text = normaliseLoopText(obs.text);
  const chars = obs.text?.trim().length ?? 0;
  let botLike = false;
  if (obs.kind !== 'button' && !obs.expected && obs.lastOutboundAt !== undefined) {
    const gap = obs.at - obs.lastOutboundAt;
    if (gap >= -CLOCK_SLACK_MS) {
      const seconds = Math.max(gap, 1_000) / 1_000;
      if (gap <= policy.fastReplyMs) botLike = true;
      else if (chars >= SPEED_MIN_CHARS && chars / seconds >= policy.botCharsPerSec) botLike = true;
    }
  }
  const mirrored = text !== undefined && text.length >= policy.repeatMinChars && text === normaliseLoopText(obs.lastOutboundText);
  if (mirrored) botLike = true;

  const since = obs.at - policy.windowMs;
  const events = [...state.events.filter((e) => e.at >= since), { at: obs.at, botLike, ...(text ? { text } : {}) }].slice(-MAX_EVENTS);
  const fast = events.filter((e) => e.botLike).length;
  if (fast > policy.maxFastReplies) {
    return {
      state: { events: [] },
      verdict: {
        botLike,
        trip: `${fast} messages within ${Math.round(policy.windowMs / 1000)}s answered ours faster than a person types`,
      },
    };
  }
  if (text !== undefined && text.length >= policy.repeatMinChars) {
    const same = events.filter((e) => e.text === text).length;
    if (same >= policy.repeatCount) {
      return { state: { events: [] }, verdict: { botLike, trip: `the same text arrived ${same} times within ${Math.round(policy.windowMs / 1000)}s` } };
    }
  }
  return { state: { events }, verdict: { botLike } };
}

export interface TriggerObservation {
  /** When the contact sent it (provider time), epoch ms. */
  at: number;
  /** Which automated answer it fires (a funnel id). */
  trigger: string;
  /** When zapflow last sent to this contact, epoch ms. */
  lastOutboundAt?: number;
}

/**
 * A message that fires a funnel trigger where no AI answers: bot-like when it fires the same
 * trigger again within `fastReplyMs` of our last message. More than `maxFastReplies` of those
 * for one trigger within `windowMs` trips the guard.
 */
export function observeTrigger(state: LoopGuardState, obs: TriggerObservation, policy: LoopGuardPolicy): { state: LoopGuardState; verdict: LoopVerdict } {
  const since = obs.at - policy.windowMs;
  const earlier = (state.triggers ?? []).filter((t) => t.at >= since);
  const gap = obs.lastOutboundAt === undefined ? Infinity : obs.at - obs.lastOutboundAt;
  const fast = gap >= -CLOCK_SLACK_MS && gap <= policy.fastReplyMs && earlier.some((t) => t.trigger === obs.trigger);
  const triggers = [...earlier, { at: obs.at, trigger: obs.trigger, fast }].slice(-MAX_EVENTS);
  const repeats = triggers.filter((t) => t.trigger === obs.trigger && t.fast).length;
  if (repeats > policy.maxFastReplies) {
    return {
      state: { ...state, triggers: [] },
      verdict: { botLike: fast, trip: `the same automated answer was asked for ${repeats + 1} times within ${Math.round(policy.windowMs / 1000)}s, each right after ours` },
    };
  }
  return { state: { ...state, triggers }, verdict: { botLike: fast } };
}
