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
 */
import type { Config } from '../config';
import type { Db } from '../db/client';
import { decrementQuotas, incrementQuotas, pruneQuotaCounters, takePacingSlot, type QuotaSlot } from '../db/queries/sending';
import type { SendLimitsSetting } from '../db/schema';
import { ProviderError } from '../activities/providers/types';

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
  overrides: { channel?: SendLimitsSetting | unknown; tenant?: SendLimitsSetting | unknown } = {},
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
 * A send that must wait: a quota window is full or the pacing slot is too far away.
 * It is a rate-limited ProviderError so the activity layer's translation (toFailure) turns
 * it into a `RateLimited` failure whose nextRetryDelay is `retryAfterMs`: Temporal brings
 * the send back when the window reopens, and it is never dropped.
 */
export class SendDeferred extends ProviderError {
  override name = 'SendDeferred';
  constructor(
    message: string,
    readonly scope: string,
    retryAfterMs: number,
  ) {
    super(message, 'rate_limited', { code: scope, retryAfterMs: Math.max(50, Math.ceil(retryAfterMs)) });
  }
  get retryAt(): Date {
    return new Date(Date.now() + (this.details.retryAfterMs ?? 0));
  }
}

export interface QuotaReservation {
  /** Gives the counted send back (it did not go out). Safe to call twice. */
  release(): Promise<void>;
}

const NOTHING_RESERVED: QuotaReservation = { release: async () => {} };

interface Limit {
  scope: string;
  label: string;
  limit: number;
  windowMs: number;
}

/**
 * Counts one send of `channelId` in the windows containing `at` (the time it will go out).
 * Throws SendDeferred when a window is full.
 */
export async function reserveQuota(
  db: Db,
  params: { tenantId: string; channelId: string; at: number; policy: SendPolicy; now?: number },
): Promise<QuotaReservation> {
  const { policy } = params;
  const now = params.now ?? Date.now();
  // Fixed order (tenant, then channel minute/hour/day): concurrent upserts lock rows alike.
  const limits: Limit[] = [
    { scope: `tenant:${params.tenantId}:day`, label: 'tenant daily', limit: policy.tenantPerDay, windowMs: policy.windows.day },
    { scope: `channel:${params.channelId}:minute`, label: 'channel per-minute', limit: policy.channel.perMinute, windowMs: policy.windows.minute },
    { scope: `channel:${params.channelId}:hour`, label: 'channel hourly', limit: policy.channel.perHour, windowMs: policy.windows.hour },
    { scope: `channel:${params.channelId}:day`, label: 'channel daily', limit: policy.channel.perDay, windowMs: policy.windows.day },
  ].filter((l) => l.limit > 0 && l.windowMs > 0);
  if (limits.length === 0) return NOTHING_RESERVED;

  const slots: Array<QuotaSlot & Limit> = limits.map((l) => ({
    ...l,
    windowStart: new Date(Math.floor(params.at / l.windowMs) * l.windowMs),
  }));
  const counts = await incrementQuotas(db, slots);
  const full = slots.filter((s, i) => counts[i]! > s.limit);
  if (full.length > 0) {
    await decrementQuotas(db, slots);
    // The send can go once every full window has rolled over.
    const reopen = Math.max(...full.map((s) => s.windowStart.getTime() + s.windowMs));
    const first = full[0]!;
    throw new SendDeferred(`${first.label} quota of ${first.limit} reached; reopens at ${new Date(reopen).toISOString()}`, first.scope, reopen - now);
  }
  // Now and then, forget windows that ended long ago (cheap, index on window_start).
  if (Math.random() < 0.002) {
    const keep = Math.max(policy.windows.day, policy.windows.hour, policy.windows.minute) * 2;
    void pruneQuotaCounters(db, { before: new Date(now - keep) }).catch(() => {});
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await decrementQuotas(db, slots);
    },
  };
}

/**
 * Takes the channel's next pacing slot at or after `notBefore`; returns when it may send
 * (epoch ms). Throws SendDeferred when the slot is further than the policy's max wait.
 */
export async function reservePacingSlot(
  db: Db,
  params: { channelId: string; notBefore: number; policy: SendPolicy; now?: number; random?: () => number },
): Promise<number> {
  const { minGapMs, jitterMs, maxWaitMs } = params.policy.pacing;
  if (minGapMs <= 0 && jitterMs <= 0) return params.notBefore;
  const now = params.now ?? Date.now();
  const gapMs = minGapMs + (params.random ?? Math.random)() * jitterMs;
  const start = Math.max(now, params.notBefore);
  const taken = await takePacingSlot(db, { channelId: params.channelId, notBefore: new Date(start), gapMs, maxWaitMs });
  if ('slot' in taken) return taken.slot.getTime();
  // Come back when the slot would be within reach.
  throw new SendDeferred(
    `channel pacing: next slot at ${taken.nextAt.toISOString()} is more than ${maxWaitMs} ms away`,
    `channel:${params.channelId}:pacing`,
    taken.nextAt.getTime() - maxWaitMs / 2 - now,
  );
}
