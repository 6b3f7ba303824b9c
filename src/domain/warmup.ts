/**
 * Warming up numbers: the rules of a plan, pure so the warm-up workflow runs them with
 * workflow time. A plan has windows (weekday × time ranges in the tenant's timezone), a ramp
 * of rounds per local day (start × (1 + growth)^day, capped), a delay between rounds, and
 * what the numbers talk about. Its workflow asks `nextWarmupStep` what to do now: run a
 * round, or sleep until a window opens, the delay has passed, or tomorrow's quota.
 */
import { nextAllowedTime } from './followUpWindow';
import type { TimeWindow } from './followUpWindow';
import { nextTimeOfDay } from './timeOfDay';

export const WARMUP_STATUSES = ['running', 'paused', 'cancelled'] as const;
export type WarmupStatus = (typeof WARMUP_STATUSES)[number];

export const WARMUP_ROUND_STATUSES = ['done', 'failed', 'skipped'] as const;
export type WarmupRoundStatus = (typeof WARMUP_ROUND_STATUSES)[number];

/** Rounds per local day: `start` on the plan's first day, growing `growthPercent` a day, at most `cap`. */
export interface WarmupRamp {
  start: number;
  growthPercent: number;
  cap: number;
}

export interface WarmupSchedule {
  /** None: any time of day. */
  windows: TimeWindow[];
  /** Days of the week (0 = Sunday); absent: every day. */
  days?: number[];
  timezone: string;
}

/** What the workflow needs of a plan (its definition, snapshotted when the plan is created). */
export interface WarmupPlan {
  schedule: WarmupSchedule;
  ramp: WarmupRamp;
  delayMs: number;
  /** The plan's first local day (YYYY-MM-DD): day 0 of the ramp. */
  startDay: string;
}

/** The rounds a plan runs on day `dayNumber` (0: its first day). */
export function roundsForDay(ramp: WarmupRamp, dayNumber: number): number {
  const grown = Math.floor(ramp.start * (1 + ramp.growthPercent / 100) ** Math.max(0, dayNumber) + 1e-9);
  return Math.max(0, Math.min(ramp.cap, grown));
}

/** `YYYY-MM-DD` of `ms` in `timeZone`. */
export function localDay(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** Whole days from local day `from` to local day `to` (both YYYY-MM-DD). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

export type WarmupStep =
  | { kind: 'round'; day: string; dayNumber: number; planned: number }
  /** `window`: outside the windows (or days); `quota`: today's rounds are done; `delay`: too soon after the last round. */
  | { kind: 'sleep'; until: number; waitingFor: 'window' | 'quota' | 'delay' };

/**
 * What a plan's workflow does at `now`: a round when inside a window, today's rounds not all
 * run (`doneToday` counts the rounds of `today`), and the last round at least the delay ago;
 * else until when it sleeps.
 */
export function nextWarmupStep(p: { now: number; plan: WarmupPlan; today?: { day: string; done: number }; lastRoundAt?: number }): WarmupStep {
  const { now, plan } = p;
  const { windows, days, timezone } = plan.schedule;
  const allowed = nextAllowedTime(now, windows, timezone, days);
  if (allowed > now) return { kind: 'sleep', until: allowed, waitingFor: 'window' };
  const day = localDay(now, timezone);
  const dayNumber = daysBetween(plan.startDay, day);
  const planned = roundsForDay(plan.ramp, dayNumber);
  const done = p.today?.day === day ? p.today.done : 0;
  if (done >= planned) {
    const tomorrow = nextTimeOfDay(now, '00:00', timezone);
    return { kind: 'sleep', until: nextAllowedTime(tomorrow, windows, timezone, days), waitingFor: 'quota' };
  }
  if (p.lastRoundAt !== undefined && now - p.lastRoundAt < plan.delayMs) {
    return { kind: 'sleep', until: p.lastRoundAt + plan.delayMs, waitingFor: 'delay' };
  }
  return { kind: 'round', day, dayNumber, planned };
}

/**
 * The initiator and responder of round `round` among `n` numbers: every ordered pair in turn
 * (with two numbers they take turns opening). Deterministic, so a retried round talks between
 * the same two numbers.
 */
export function roundPair(round: number, n: number): { initiator: number; responder: number } {
  if (n < 2) return { initiator: 0, responder: 0 };
  const initiator = round % n;
  const step = 1 + (Math.floor(round / n) % (n - 1));
  return { initiator, responder: (initiator + step) % n };
}

const OPENERS = ['Oi, tudo bem?', 'Olá! Como vai?', 'E aí, tudo certo?', 'Bom dia! Tudo tranquilo?', 'Oi! Sumido(a), como estão as coisas?'];
const REPLIES = ['Tudo ótimo, e com você?', 'Por aqui tudo bem, graças a Deus!', 'Opa, tudo certo sim!', 'Verdade! Concordo.', 'Que legal, me conta mais.', 'Haha, pois é!', 'Boa! Depois a gente combina.'];
const ABOUT = ['O que você acha de {topic}?', 'Viu as novidades sobre {topic}?', 'Tava pensando em {topic} hoje.', 'Me fala de {topic}, como anda?'];

/**
 * A message of turn `turn` without AI: a phrase of the plan's list when it has one; else a
 * greeting or an answer, mentioning one of the topics now and then. `random` in [0, 1).
 */
export function warmupText(p: { phrases?: string[]; topics?: string[]; turn: number; random: () => number }): string {
  const pick = <T>(list: readonly T[]): T => list[Math.min(list.length - 1, Math.floor(p.random() * list.length))];
  if (p.phrases && p.phrases.length > 0) return pick(p.phrases);
  const topic = p.topics && p.topics.length > 0 ? pick(p.topics) : undefined;
  if (p.turn === 0) return topic ? `${pick(OPENERS)} ${pick(ABOUT).replace('{topic}', topic)}` : pick(OPENERS);
  if (topic && p.random() < 0.4) return pick(ABOUT).replace('{topic}', topic);
  return pick(REPLIES);
}
