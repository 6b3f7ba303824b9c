/**
 * Campaign rules, pure (workflows and activities alike may call them): the vocabulary of a
 * campaign's states and skip reasons, its quotas and pacing, when it may send (windows and
 * days in the tenant's timezone, the follow-up format: a window may wrap midnight), how
 * fast one channel may go, how a message is rendered for one recipient, and the campaign
 * clock.
 */
import { nextAllowedTime, type TimeWindow } from './followUpWindow';
import { renderTemplate } from './template';

/** What `GET /api/campaigns/:id` calls `state` (the campaigns.status column). */
export type CampaignState = 'scheduled' | 'running' | 'waiting' | 'paused' | 'completed' | 'cancelled';
/** What a waiting campaign waits for. */
export type CampaignWait = 'window' | 'quota' | 'channel';
export const CAMPAIGN_FINAL_STATES: readonly CampaignState[] = ['completed', 'cancelled'];

/**
 * Why a recipient got nothing (campaign_recipients.reason of `skipped` rows; duplicates are
 * counted on the campaign: one row per phone). A name never changes once stored.
 */
export const CAMPAIGN_SKIP_REASONS = ['opted_out', 'invalid_number', 'not_on_whatsapp', 'duplicate', 'recipient_cap'] as const;
export type CampaignSkipReason = (typeof CAMPAIGN_SKIP_REASONS)[number];

/**
 * Limits of one campaign (0 or absent: none). Each holds in every sliding window of its
 * length, counted over the campaign sends (of any campaign) of the channel, the tenant or the
 * contact whose sent_at falls in the window.
 */
export interface CampaignQuotas {
  perChannelPerMinute?: number;
  perChannelPerHour?: number;
  perChannelPerDay?: number;
  perTenantPerDay?: number;
  /** A recipient who already got this many campaign sends in the last day is skipped (`recipient_cap`). */
  perRecipientPerDay?: number;
}

/** Spacing between two sends of one channel: at least `minGapMs`, plus up to `jitterMs` at random. */
export interface CampaignPacing {
  minGapMs: number;
  jitterMs: number;
}

/** When a campaign may send, in the tenant's timezone. No windows: any time; no days: every day. */
export interface CampaignSchedule {
  windows: TimeWindow[];
  /** 0 = Sunday … 6 = Saturday: the day of the send itself. */
  days?: number[];
  timezone: string;
}

/** True when `ms` is a time the campaign may send. */
export function sendingAllowed(ms: number, schedule: CampaignSchedule): boolean {
  return nextAllowedTime(ms, schedule.windows, schedule.timezone, schedule.days) === ms;
}

/** `ms` when allowed, else the next instant a window opens on an allowed day. */
export function nextSendingTime(ms: number, schedule: CampaignSchedule): number {
  return nextAllowedTime(ms, schedule.windows, schedule.timezone, schedule.days);
}

/**
 * When a channel may send next, after a send claimed at `now`. The minute quota is spread
 * evenly (600 a minute: one every 100 ms), so the channel runs at its quota's rate instead of
 * in bursts that then wait for the window to slide; its slots lie on a fixed grid (`grid`:
 * the planned time of this send), so a send that went out a little late (timers, load) is
 * followed a little sooner and lateness does not add up; one a whole slot late (a wait, a
 * pause) restarts the grid from now. The pacing's gap (minimum plus jitter) counts from the
 * send itself. Hour and day quotas are not spread: a campaign that fills one waits for it to
 * reopen. Going above a quota is never possible: every claim checks each sliding window.
 */
export function nextChannelSend(
  params: { grid: number; now: number; random: number; minuteMs: number },
  quotas: CampaignQuotas,
  pacing: CampaignPacing,
): { grid: number; nextAt: number } {
  const perMinute = quotas.perChannelPerMinute ?? 0;
  const spacing = perMinute > 0 ? params.minuteMs / perMinute : 0;
  const planned = params.grid + spacing;
  const grid = planned > params.now ? planned : params.now + spacing;
  return { grid, nextAt: Math.max(grid, params.now + pacing.minGapMs + params.random * pacing.jitterMs) };
}

/** Fields of a message that are names, not text: never rendered. */
const NOT_TEXT = new Set(['type', 'mediaType', 'name', 'language', 'mimeType', 'id']);

/**
 * The campaign's message for one recipient: `{{name}}`, `{{phone}}` and the contact's
 * variables in every text of it (text, caption, title, footer, button and row titles,
 * template variables and components). Unknown names render empty.
 */
export function renderForRecipient<M>(message: M, values: Record<string, string | undefined>): M {
  const render = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') return key !== undefined && NOT_TEXT.has(key) ? value : renderTemplate(value, values);
    if (Array.isArray(value)) return value.map((v) => render(v));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, render(v, k)]));
    }
    return value;
  };
  return render(message) as M;
}

/** The values a recipient's message is rendered with: the contact's variables, its name and phone. */
export function recipientValues(contact: { phone: string; name?: string | null; variables?: Record<string, string> | null }): Record<string, string> {
  return { ...(contact.variables ?? {}), name: contact.name ?? '', phone: contact.phone };
}

/**
 * How far the campaign clock is ahead of the worker's: the Temporal server's time (the
 * workflow's, sent along with a batch) when it is ahead of the worker's clock by more than
 * `toleranceMs`, which happens on a time-skipping test server (or a worker whose clock is
 * behind); 0 otherwise. A server behind the worker is normal (the activity started after
 * the workflow task) and never shifts the clock, so windows and quotas follow real time.
 */
export function campaignClockSkew(serverNow: number, workerNow: number, toleranceMs: number): number {
  const ahead = serverNow - workerNow;
  return ahead > toleranceMs ? ahead : 0;
}
