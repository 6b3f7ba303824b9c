/**
 * What the channel workflow (`channel:<id>`) is told and decides: the events it receives as
 * signals, its input, and the pure rules it applies (down or not, a quality drop). Pure: the
 * workflow, the ingest and the services share it.
 */
import type { ChannelState } from './channelState';

/** States in which a number cannot send until it reconnects (or is paired again). */
export function isDownState(state: string): boolean {
  return state === 'disconnected' || state === 'closed';
}

/** Meta quality ratings in which campaigns on the number wait (RED: the number risks being restricted). */
export function isBadQuality(rating: string | null | undefined): boolean {
  return rating === 'RED' || rating === 'FLAGGED';
}

/** Messaging-limit tiers, smallest first (Meta's TIER_250 … TIER_UNLIMITED and the older TIER_50/TIER_1K names). */
const LIMIT_ORDER = ['TIER_50', 'TIER_250', 'TIER_1K', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'TIER_UNLIMITED'];

/** Whether `current` is a smaller messaging limit than `previous` (unknown tiers never are). */
export function isLimitDowngrade(previous: string | null | undefined, current: string | null | undefined): boolean {
  if (!previous || !current) return false;
  const a = LIMIT_ORDER.indexOf(previous.toUpperCase());
  const b = LIMIT_ORDER.indexOf(current.toUpperCase());
  return a >= 0 && b >= 0 && b < a;
}

/** Meta account events after which the number must not send (a restriction or a ban). */
const BAD_ACCOUNT_EVENTS = new Set(['ACCOUNT_VIOLATION', 'ACCOUNT_RESTRICTION', 'DISABLED_UPDATE', 'BAN', 'ACCOUNT_DELETED']);
export function isBadAccountEvent(event: string | undefined): boolean {
  return event !== undefined && BAD_ACCOUNT_EVENTS.has(event);
}

/** One thing that happened to a channel, as its workflow receives it (signal `channelEvent`). */
export type ChannelEvent =
  | { kind: 'state'; state: ChannelState; previous?: string; reason?: string; at: number }
  | {
      kind: 'quality';
      /** The rating and limit after the change, as stored. */
      qualityRating?: string | null;
      messagingLimit?: string | null;
      /** A drop the admin must hear about (RED, a limit downgrade, a restricted account). */
      dropped: boolean;
      reason?: string;
      at: number;
    }
  /** The channel was deleted: the workflow ends. */
  | { kind: 'deleted'; at: number };

export interface ChannelWatchTiming {
  /** CHANNEL_DISCONNECT_GRACE */
  graceMs: number;
  /** CHANNEL_WATCH_POLL */
  pollMs: number;
  /** CHANNEL_WATCH_MAX_EVENTS */
  maxEvents: number;
}

export interface ChannelWatchInput {
  channelId: string;
  tenantId: string;
  timing: ChannelWatchTiming;
  /** What a run hands to the next (continue-as-new). */
  carried?: ChannelWatchCarried;
}

export interface ChannelWatchCarried {
  state: ChannelState;
  /** Epoch ms the current outage started (absent: up). */
  downSince?: number;
  /** The admin was told about the current outage. */
  alerted: boolean;
  /** Campaigns wait for the quality (RED or a restricted account). */
  qualityHeld: boolean;
}

/** The workflow's view (query `channelWatchState`). */
export interface ChannelWatchView extends ChannelWatchCarried {
  channelId: string;
  events: number;
  lastEventAt?: number;
}
