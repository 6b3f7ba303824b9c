/**
 * How the rest of zapflow talks to running workflows: every signal, query and update by its
 * wire name, and the wake-time rule the API shares with the schedule workflow. Workflow
 * files import their handlers' definitions from here, and the API, services and the
 * dispatcher use the same values (`handle.signal(cancelRunSignal, …)`), so nobody imports
 * a workflow file to reach one, nor spells a wire name twice. Wire names never change once
 * shipped: running workflows and recorded histories carry them.
 *
 * Only `@temporalio/workflow`'s define* functions (safe outside a workflow) and types.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChannelEvent, ChannelWatchView } from '../domain/channelWatch';
import type {
  CampaignProgress,
  ContactState,
  FollowUpLogEntry,
  FollowUpState,
  FunnelProgress,
  FunnelReply,
  InboundSignalPayload,
  ScheduledSendInput,
  ScheduleView,
} from './types';
import type { WarmupProgress } from './warmupTypes';

/** Workflow type names, as registered by the worker (src/workflows/index.ts). */
export const WorkflowType = {
  contact: 'contactWorkflow',
  funnelRun: 'funnelRunWorkflow',
  followUp: 'followUpWorkflow',
  sendMessage: 'sendMessageWorkflow',
  scheduledSend: 'scheduledSendWorkflow',
  retention: 'retentionWorkflow',
  optOutDigest: 'optOutDigestWorkflow',
  metricsRollup: 'metricsRollupWorkflow',
  campaign: 'campaignWorkflow',
  channel: 'channelWorkflow',
  warmup: 'warmupWorkflow',
} as const;

// ─── contact workflow (`contact:<tenant>:<phone>`) ───

export const inboundMessageSignal = defineSignal<[InboundSignalPayload]>('inbound');
/** Handover from the API: pause (until a time) or resume (`pausedUntil: 0`). */
export const contactControlSignal = defineSignal<[{ pausedUntil: number; reason?: string }]>('control');
/** The contact was re-subscribed (`DELETE /api/contacts/:phone/opt-out`): automation may answer again. */
export const contactResubscribedSignal = defineSignal('resubscribed');
export const contactStateQuery = defineQuery<ContactState>('state');

// ─── funnel runs ───

export const funnelReplySignal = defineSignal<[FunnelReply]>('reply');
export const cancelRunSignal = defineSignal<[{ reason: string }]>('cancel');
export const funnelWaitingSignal = defineSignal<[{ runId: string; funnelId: string; waiting: boolean }]>('funnelWaiting');
export const funnelProgressQuery = defineQuery<FunnelProgress>('progress');

// ─── follow-ups ───

export const followUpInboundSignal = defineSignal<[{ at: number; channelId?: string }]>('inbound');
export const followUpOutboundSignal = defineSignal<[{ at: number; channelId?: string }]>('outbound');
export const followUpStopSignal = defineSignal<[{ reason: string }]>('stop');
export const followUpStateQuery = defineQuery<FollowUpState & { log: FollowUpLogEntry[] }>('followUpState');

// ─── schedules ───

export const cancelScheduleUpdate = defineUpdate<ScheduleView>('cancel');
export const rescheduleUpdate = defineUpdate<ScheduleView, [{ scheduledFor: number }]>('reschedule');
export const scheduleStateQuery = defineQuery<ScheduleView>('state');
/**
 * A schedule dispatcher handed the send back (it failed in a way worth retrying): deliver
 * now. An update, not a signal: a signal would not end the workflow's start delay.
 */
export const dispatchReleasedUpdate = defineUpdate<void>('dispatchReleased');

// ─── campaigns (`campaign:<id>`) ───

/**
 * Pause, resume and cancel a campaign. Updates, not signals: the caller gets the answer once
 * the campaign row has changed and no send of the campaign is in flight any more, so no send
 * starts after a pause (or cancel) has been answered.
 */
export const pauseCampaignUpdate = defineUpdate<CampaignProgress>('pauseCampaign');
export const resumeCampaignUpdate = defineUpdate<CampaignProgress>('resumeCampaign');
export const cancelCampaignUpdate = defineUpdate<CampaignProgress>('cancelCampaign');
export const campaignProgressQuery = defineQuery<CampaignProgress>('campaignProgress');
/** A channel of the campaign may be usable again (it reconnected, its quality recovered): a campaign waiting for a channel looks now. */
export const campaignChannelsChangedSignal = defineSignal('channelsChanged');

// ─── channels (`channel:<id>`) ───

/** A connection or quality change of the channel, after the ingest (or the API) recorded it. */
export const channelEventSignal = defineSignal<[ChannelEvent]>('channelEvent');
export const channelWatchQuery = defineQuery<ChannelWatchView>('channelWatchState');

// ─── warm-ups (`warmup:<id>`) ───

/** Pause, resume and cancel a warm-up: updates, answered once the warm-up row has changed. */
export const pauseWarmupUpdate = defineUpdate<WarmupProgress>('pauseWarmup');
export const resumeWarmupUpdate = defineUpdate<WarmupProgress>('resumeWarmup');
export const cancelWarmupUpdate = defineUpdate<WarmupProgress>('cancelWarmup');
export const warmupProgressQuery = defineQuery<WarmupProgress>('warmupProgress');

/**
 * When a schedule's workflow must wake for the time `scheduledFor`: dispatched, settleAfterMs
 * after it (a dispatcher sends); otherwise prefireMs before it (the workflow sends). The API's
 * start delay and the workflow's own timer both use it.
 */
export function scheduleWakeAt(input: Pick<ScheduledSendInput, 'prefireMs' | 'settleAfterMs'>, scheduledFor: number): number {
  return input.settleAfterMs !== undefined ? scheduledFor + input.settleAfterMs : scheduledFor - input.prefireMs;
}
