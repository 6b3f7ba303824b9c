/**
 * Trigger matching: pure and deterministic, run inside the contact workflow.
 * Case, accents and repeated or surrounding spaces are ignored. Only the first
 * MAX_MATCH_INPUT (4,096) characters of a text are looked at, and regexes run on a
 * linear-time engine (src/domain/safeRegex.ts): one long message or one tenant's pattern
 * cannot stall the worker every tenant shares.
 */
import type { FunnelTriggerSpec, MatchMode } from './funnelTypes';
import { matchInput, safeRegexTest } from './safeRegex';
import { normaliseForMatch } from './text';

export function matchesPhrase(candidate: string | undefined, phrase: string, mode: MatchMode): boolean {
  if (!candidate) return false;
  const raw = matchInput(candidate);
  const text = normaliseForMatch(raw);
  if (!text) return false;
  if (mode === 'regex') {
    // Unusable patterns are refused at save time; one stored before simply never matches.
    return safeRegexTest(phrase, text) || safeRegexTest(phrase, raw);
  }
  const wanted = normaliseForMatch(phrase);
  if (!wanted) return false;
  if (mode === 'contains') return text.includes(wanted);
  if (mode === 'startsWith') return text.startsWith(wanted);
  return text === wanted;
}

export interface MatchableMessage {
  type: string;
  text?: string;
  button?: { id?: string; text?: string };
  channelId?: string;
}

const BUTTON_TYPES = new Set(['button_reply', 'template_button_reply', 'list_reply', 'interactive_reply']);

/** Does this message fire this trigger? Buttons: payload/id first, then the display text. */
export function triggerMatches(spec: FunnelTriggerSpec, message: MatchableMessage): boolean {
  if (spec.channelId && message.channelId && spec.channelId !== message.channelId) return false;
  const { trigger } = spec;
  if (trigger.type === 'button') {
    if (!BUTTON_TYPES.has(message.type)) return false;
    return matchesPhrase(message.button?.id, trigger.phrase, trigger.match) || matchesPhrase(message.button?.text, trigger.phrase, trigger.match);
  }
  // Keyword: what the contact typed, or the label of what they tapped (a typed reply and a
  // tapped button say the same thing: buttons over Baileys are unreliable).
  return matchesPhrase(message.text, trigger.phrase, trigger.match) || matchesPhrase(message.button?.text, trigger.phrase, trigger.match);
}

/** The funnel a message starts: highest priority, then the oldest. */
export function selectFunnel(specs: FunnelTriggerSpec[], message: MatchableMessage): FunnelTriggerSpec | undefined {
  let best: FunnelTriggerSpec | undefined;
  for (const spec of specs) {
    if (!triggerMatches(spec, message)) continue;
    if (!best || spec.priority > best.priority || (spec.priority === best.priority && spec.createdAt < best.createdAt)) best = spec;
  }
  return best;
}

/** A reply branch's match against a reply (button id/label, or keyword in the text). */
export function branchMatches(
  branch: { button?: string; keyword?: string; match?: MatchMode },
  reply: MatchableMessage,
): boolean {
  const mode = branch.match ?? 'equals';
  if (branch.button !== undefined) {
    if (matchesPhrase(reply.button?.id, branch.button, mode) || matchesPhrase(reply.button?.text, branch.button, mode)) return true;
    // A typed reply equal to the button's label counts as the tap.
    if (matchesPhrase(reply.text, branch.button, mode)) return true;
  }
  if (branch.keyword !== undefined) {
    return matchesPhrase(reply.text, branch.keyword, mode) || matchesPhrase(reply.button?.text, branch.keyword, mode);
  }
  return false;
}
