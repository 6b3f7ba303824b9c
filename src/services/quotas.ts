/**
 * Send quotas and pacing, counted in Postgres so every worker agrees.
 *
 * Quotas are fixed windows (minute, hour, day by default; lengths configurable) per channel,
 * and per day per tenant. A send increments every applicable counter in one upsert; if any
 * is over its limit the increments are given back and the send is deferred until the
 * earliest time the fullest window reopens. A send that fails without going out gives its
 * count back too.
 *
 * Pacing keeps a minimum gap (plus jitter) between two sends of one channel, so a number
 * does not burst like a bot: each send takes the channel's next slot and waits for it.
 *
 * This module holds the rules (which windows, which limits, how long to wait); delivery
 * runs the counting, the pacing slot and the opening of the attempt as one statement
 * (startSendAttempt in db/queries/sends.ts), and no pacing statement at all when pacing
 * is off.
 */
import { zonedWindowStart } from '../domain/timeOfDay';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { decrementQuotas, incrementQuotas, pruneQuotaCounters, type QuotaSlot } from '../db/queries/quotas';
import type { SendLimitsSetting } from '../domain/records';

export interface SendPolicy {
  channel: { perMinute: number; perHour: number; perDay: number };
  tenantPerDay: number;
  windows: { minute: number; hour: number; day: number };
  pacing: { minGapMs: number; jitterMs: number; maxWaitMs: number };
}

const nonNegative = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** The effective limits of one send: configuration, then the tenant's and the channel's overrides. */
export function sendPolicy(
  config: Config,
  // unknown: these come from JSON settings and are checked field by field (SendLimitsSetting's fields).
  overrides: { channel?: unknown; tenant?: unknown } = {},
): SendPolicy {
  const ch = (typeof overrides.channel === 'object' && overrides.channel) || {};
  const tn = (typeof overrides.tenant === 'object' && overrides.tenant) || {};
  const c = ch as SendLimitsSetting;
  const t = tn as SendLimitsSetting;
  return {
    channel: {
      perMinute: nonNegative(c.perMinute) ?? config.SEND_CHANNEL_PER_MINUTE,
      perHour: nonNegative(c.perHour) ?? config.SEND_CHANNEL_PER_HOUR,
      perDay: nonNegative(c.perDay) ?? config.SEND_CHANNEL_PER_DAY,
    },
    tenantPerDay: nonNegative(t.perDay) ?? config.SEND_TENANT_PER_DAY,
    windows: { minute: config.SEND_QUOTA_MINUTE_WINDOW, hour: config.SEND_QUOTA_HOUR_WINDOW, day: config.SEND_QUOTA_DAY_WINDOW },
    pacing: {
      minGapMs: nonNegative(c.minGapMs) ?? config.SEND_PACING_MIN_GAP,
      jitterMs: nonNegative(c.jitterMs) ?? config.SEND_PACING_JITTER,
      maxWaitMs: config.SEND_PACING_MAX_WAIT,
    },
  };
}

/**
 * A send that must wait: a quota window is full or the pacing slot is too far away. Not a
 * provider error (no provider was asked): the activity layer turns it into a `SendDeferred`
 * failure whose nextRetryDelay is `retryAfterMs`, so Temporal brings the send back when the
 * window reopens and it is never dropped. `kind` and `details` have a provider error's shape
 * (rate limited, the scope as code) for callers that report either.
 */
export class SendDeferred extends Error {
  override name = 'SendDeferred';
  readonly kind = 'rate_limited' as const;
  readonly details: { code: string; retryAfterMs: number };
  constructor(
    message: string,
    readonly scope: string,
    retryAfterMs: number,
  ) {
    super(message);
    this.details = { code: scope, retryAfterMs: Math.max(50, Math.ceil(retryAfterMs)) };
  }
  get retryAt(): Date {
    return new Date(Date.now() + this.details.retryAfterMs);
  }
}

export interface QuotaReservation {
  /** Gives the counted send back (it did not go out). Safe to call twice. */
  release(): Promise<void>;
}

const NOTHING_RESERVED: QuotaReservation = { release: async () => {} };

/** One quota window a send counts in. */
export interface QuotaWindow extends QuotaSlot {
  label: string;
  windowMs: number;
}

/**
 * The windows one send of `channelId` counts in, for the time `at` it will go out: the
 * tenant's day, then the channel's minute, hour and day (a fixed order, so concurrent
 * upserts lock rows alike and never deadlock). Limits of 0 are off.
 */
export function quotaWindows(policy: SendPolicy, params: { tenantId: string; channelId: string; at: number; timeZone?: string }): QuotaWindow[] {
  const limits = [
    { scope: `tenant:${params.tenantId}:day`, label: 'tenant daily', limit: policy.tenantPerDay, windowMs: policy.windows.day },
    { scope: `channel:${params.channelId}:minute`, label: 'channel per-minute', limit: policy.channel.perMinute, windowMs: policy.windows.minute },
    { scope: `channel:${params.channelId}:hour`, label: 'channel hourly', limit: policy.channel.perHour, windowMs: policy.windows.hour },
    { scope: `channel:${params.channelId}:day`, label: 'channel daily', limit: policy.channel.perDay, windowMs: policy.windows.day },
  ].filter((l) => l.limit > 0 && l.windowMs > 0);
  // Day and hour windows follow the tenant's clock: a São Paulo tenant's held-back sends go
  // out after its own midnight, not at 21:00 (UTC's).
  return limits.map((l) => ({
    ...l,
    windowStart: new Date(params.timeZone ? zonedWindowStart(params.at, l.windowMs, params.timeZone) : Math.floor(params.at / l.windowMs) * l.windowMs),
  }));
}

/**
 * Given the counts after one send was counted in `windows` (same order), the deferral when
 * a window is over its limit: the send can go once every full window has rolled over.
 * The caller gives the counts back before throwing it.
 */
export function quotaDeferral(windows: QuotaWindow[], counts: number[], now: number): SendDeferred | undefined {
  const full = windows.filter((w, i) => (counts[i] ?? 0) > w.limit);
  if (full.length === 0) return undefined;
  const reopen = Math.max(...full.map((w) => w.windowStart.getTime() + w.windowMs));
  const first = full[0];
  return new SendDeferred(`${first.label} quota of ${first.limit} reached; reopens at ${new Date(reopen).toISOString()}`, first.scope, reopen - now);
}

/** Now and then (one send in 500), forgets windows that ended long ago (cheap, index on window_start). */
export function pruneQuotaNow(db: Db, policy: SendPolicy, now: number): void {
  if (Math.random() >= 0.002) return;
  const keep = Math.max(policy.windows.day, policy.windows.hour, policy.windows.minute) * 2;
  void pruneQuotaCounters(db, { before: new Date(now - keep) }).catch(() => {});
}

/** A counted send that gives its count back at most once. */
export function quotaReservation(db: Db, windows: QuotaWindow[]): QuotaReservation {
  if (windows.length === 0) return NOTHING_RESERVED;
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await decrementQuotas(db, windows);
    },
  };
}

/**
 * Counts one send of `channelId` in the windows containing `at` (the time it will go out).
 * Throws SendDeferred when a window is full. (Delivery counts in the statement that also
 * opens the attempt; this is the same count on its own.)
 */
export async function reserveQuota(
  db: Db,
  params: { tenantId: string; channelId: string; at: number; policy: SendPolicy; now?: number },
): Promise<QuotaReservation> {
  const { policy } = params;
  const now = params.now ?? Date.now();
  const windows = quotaWindows(policy, params);
  if (windows.length === 0) return NOTHING_RESERVED;
  const counts = await incrementQuotas(db, windows);
  const deferred = quotaDeferral(windows, counts, now);
  if (deferred) {
    await decrementQuotas(db, windows);
    throw deferred;
  }
  pruneQuotaNow(db, policy, now);
  return quotaReservation(db, windows);
}

/** A pacing slot to take: the channel's next free time at or after `start`, `gapMs` apart. */
export interface PacingRequest {
  channelId: string;
  /** When the send could go at the earliest (epoch ms). */
  start: number;
  gapMs: number;
  /** The slot may be at most this far beyond `start`; further away, the send is deferred. */
  maxWaitMs: number;
  /** When the request was made (epoch ms): a deferral's retry delay counts from here. */
  now: number;
}

/** The pacing slot one send needs; undefined when pacing is off (no statement at all then). */
export function pacingRequest(
  policy: SendPolicy,
  params: { channelId: string; notBefore: number; now?: number; random?: () => number },
): PacingRequest | undefined {
  const { minGapMs, jitterMs, maxWaitMs } = policy.pacing;
  if (minGapMs <= 0 && jitterMs <= 0) return undefined;
  const now = params.now ?? Date.now();
  // Whole milliseconds: the slot returned is the stored time minus this very gap.
  const gapMs = Math.round(minGapMs + (params.random ?? Math.random)() * jitterMs);
  return { channelId: params.channelId, start: Math.max(now, params.notBefore), gapMs, maxWaitMs, now };
}

/** A send whose pacing slot is too far away: it comes back when the slot would be within reach. */
export function pacingDeferral(req: PacingRequest, nextAt: Date): SendDeferred {
  return new SendDeferred(
    `channel pacing: next slot at ${nextAt.toISOString()} is more than ${req.maxWaitMs} ms away`,
    `channel:${req.channelId}:pacing`,
    nextAt.getTime() - req.maxWaitMs / 2 - req.now,
  );
}
