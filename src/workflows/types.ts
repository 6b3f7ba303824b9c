/**
 * Messages that cross into workflows. Types only: workflow code stays free of runtime imports.
 */
import type { InboundType, MessageAuthor } from '../domain/events';
import type { OutboundMessage } from '../providers/types';
import type { FunnelTriggerSpec } from '../domain/funnelTypes';
import type { LoopGuardPolicy, LoopGuardState } from '../domain/loopGuard';
import type { CampaignState, CampaignWait } from '../domain/campaign';

/** One inbound (or human-typed) message, as the ingest hands it to the contact workflow. */
export interface ContactMessage {
  /** zapflow's message row id. */
  messageId: string;
  providerMessageId: string;
  channelId: string;
  direction: 'inbound' | 'outbound';
  author: MessageAuthor;
  type: InboundType;
  text?: string;
  button?: { id?: string; text?: string };
  /** Provider time, epoch ms. */
  timestamp: number;
  /** Contact's name as the provider gave it. */
  name?: string;
  /** Media messages: what kind (voice notes and images can become text for AI turns). */
  media?: { kind: string; caption?: string };
}

export interface ContactWorkflowInput {
  tenantId: string;
  contactKey: string;
  /** Carried across continue-as-new. */
  state?: ContactState;
}

export interface ContactState {
  /** Most recent message ids already handled (bounded). */
  seen: string[];
  lastInboundAt?: number;
  optedOut: boolean;
  /** Automation paused by a human on the phone until this time (epoch ms). */
  pausedUntil?: number;
  handled: number;
  /** Funnel runs of this contact that are not finished (rebuilt from the database on start). */
  activeRuns?: ActiveRun[];
  /** Why automation is paused (human on the phone, handover, bot detected). */
  pauseReason?: string;
  /** Loop safety: recent inbound messages (bounded). */
  loop?: LoopGuardState;
  /** When this workflow last sent (AI replies), epoch ms, and what. */
  lastOutboundAt?: number;
  lastOutboundText?: string;
  /** AI turns answered (or given up) so far. */
  aiTurns?: number;
}

/** Tenant settings the contact workflow needs, sent along with every message. */
export interface ContactPolicy {
  optOutKeywords: string[];
  /** How long a human typing on the business phone pauses automation, ms. */
  humanPauseMs: number;
  /** Idle time after which the contact workflow ends, ms. */
  idleTimeoutMs: number;
  sendRetry: SendRetryPolicy;
}

export interface InboundSignalPayload {
  message: ContactMessage;
  policy: ContactPolicy;
  /** The contact's opt-out as stored when the message was dispatched. */
  contactOptedOut?: boolean;
  /** Automation paused for the contact (handover) until this time, epoch ms, as stored. */
  contactPausedUntil?: number;
  /** The tenant's active funnel triggers when the message was dispatched. */
  funnels?: FunnelTriggerSpec[];
  /** When zapflow last sent to this contact (any sender), epoch ms, as stored. */
  contactLastOutboundAt?: number;
  /** The tenant's conversation settings (AI replies, follow-ups…); absent: all off. */
  conversation?: ConversationFlags;
}

/** A tenant's conversation switches, as the dispatcher read them with the message. */
export interface ConversationFlags {
  aiReplies: boolean;
  followUps: boolean;
  analysis: boolean;
  /** Voice notes transcribed / images described for AI turns. */
  mediaToText: boolean;
  /** Tenant override of the AI reply debounce, ms. */
  debounceMs?: number;
}

/** Worker-side conversation settings (configuration), read once per contact workflow run. */
export interface ConversationPolicy {
  /** An OpenAI key is configured on the worker. */
  aiAvailable: boolean;
  debounceMs: number;
  loop: LoopGuardPolicy;
  aiRetry: SendRetryPolicy;
}

export interface FollowUpInput {
  tenantId: string;
  contactKey: string;
  channelId: string;
  /** Carried across continue-as-new. */
  state?: FollowUpState;
}

export interface FollowUpState {
  /** Follow-ups sent since the contact last wrote. */
  sent: number;
  /** Send attempts in this workflow (idempotency sequence; never reset). */
  seq: number;
  lastInboundAt?: number;
  /** When this workflow last sent a follow-up (workflow time). */
  lastSentAt?: number;
  dueAt?: number;
  status: 'waiting' | 'sending' | 'finished';
  reason?: string;
}

/** Retry of funnel sends: from configuration (fast in tests, patient in production). */
export interface SendRetryPolicy {
  maximumAttempts: number;
  initialIntervalMs: number;
  maximumIntervalMs: number;
}

/** A contact's reply handed to a run waiting for it. */
export interface FunnelReply {
  messageId: string;
  type: string;
  text?: string;
  button?: { id?: string; text?: string };
}

export interface FunnelRunInput {
  /** The run's workflow id: tenant, contact, funnel and the triggering message. */
  runId: string;
  tenantId: string;
  contactKey: string;
  channelId: string;
  funnelId: string;
  funnelName: string;
  version: number;
  triggerMessageId: string;
  /**
   * The contact workflow, told when this run starts or stops waiting for a reply. Absent when
   * no contact workflow needs to know (the tenant has no AI replies, follow-ups or analysis):
   * the dispatcher routes the contact's replies by the database (funnel_runs.waiting_for).
   */
  contactWorkflowId?: string;
  sendRetry: SendRetryPolicy;
  /**
   * Bounds of one run (FUNNEL_MAX_STEP_VISITS, FUNNEL_HISTORY_EVENTS); absent in runs started
   * before they existed: the defaults of src/workflows/funnel.ts.
   */
  limits?: FunnelRunLimits;
  /**
   * Start at this step with this progress instead of the first: an operator's replay, or the
   * run itself continuing as new.
   */
  resume?: { stepId: string; variables: Record<string, string>; visits: Record<string, number> };
  /**
   * Set by an operator's replay (epoch ms): a send the provider refused before then is tried
   * again under its own key (it was never delivered).
   */
  replayedAt?: number;
  /**
   * The run's first step (a send) already went out before the workflow started: the starter
   * delivered it eagerly under the run's own key (run, step, visit 1) and recorded the step,
   * so the run goes straight to what follows.
   */
  leadSent?: { stepId: string };
}

export interface FunnelRunLimits {
  /** A step visited more often than this fails the run. */
  maxStepVisits: number;
  /** Past this many history events the run continues as new, carrying its progress. */
  historyEvents: number;
}

export interface FunnelProgress {
  status: 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';
  stepId?: string;
  stepIndex?: number;
  stepCount: number;
  waitingFor?: 'reply' | 'delay' | 'typing';
  waitingUntil?: number;
  variables: Record<string, string>;
  visits: Record<string, number>;
  error?: string;
  cancelReason?: string;
}

/** A funnel run as the contact workflow tracks it (to route replies). */
export interface ActiveRun {
  runId: string;
  funnelId: string;
  waiting: boolean;
}

// ─── sends and schedules ───

export type ScheduleState = 'scheduled' | 'sending' | 'sent' | 'failed' | 'cancelled';

export interface ScheduledSendInput {
  scheduleId: string;
  tenantId: string;
  channelId: string;
  contactKey: string;
  message: OutboundMessage;
  /** Epoch ms. */
  scheduledFor: number;
  /**
   * Wake this long before scheduledFor: the activity starts, does its checks and
   * bookkeeping, and calls the provider at scheduledFor exactly (SCHEDULE_PREFIRE).
   */
  prefireMs: number;
  /**
   * Present: a worker's schedule dispatcher sends it at its time (SCHEDULE_DISPATCH); the
   * workflow wakes this long after the time, confirms the outcome, and delivers itself only
   * what no dispatcher did. Absent (and in workflows started before it existed): the
   * workflow wakes prefireMs early and sends.
   */
  settleAfterMs?: number;
  /** A dispatcher's claim older than this is taken over (SCHEDULE_CLAIM_TTL). */
  claimTtlMs?: number;
}

export interface ScheduleView {
  scheduleId: string;
  status: ScheduleState;
  /** Epoch ms. */
  scheduledFor: number;
  messageId?: string;
  reason?: string;
}

export interface FollowUpLogEntry {
  at: number;
  event: 'sent' | 'declined' | 'finished' | 'failed';
  detail?: string;
}

// ─── campaigns ───

/** Settings a campaign workflow runs with, from the configuration when it was created (carried across continue-as-new). */
export interface CampaignTiming {
  /** Sends per workflow run, then continue-as-new (CAMPAIGN_PAGE_SIZE). */
  pageSize: number;
  /** Longest batch (CAMPAIGN_BATCH_MAX); its activity's start-to-close allows this plus `leaseMs`. */
  batchMaxMs: number;
  heartbeatTimeoutMs: number;
  /** A claimed send's lease (CAMPAIGN_SEND_LEASE): how long a pause may wait for sends in flight. */
  leaseMs: number;
}

export interface CampaignWorkflowInput {
  campaignId: string;
  tenantId: string;
  /** Epoch ms; absent: at once. */
  startAt?: number;
  timing: CampaignTiming;
  /** Carried across continue-as-new. */
  carried?: { state: CampaignState; processed: number; batches: number };
}

/** What the campaign's workflow reports (its updates answer it, and the `campaignProgress` query). */
export interface CampaignProgress {
  campaignId: string;
  state: CampaignState;
  waitingFor?: CampaignWait;
  /** Epoch ms. */
  waitingUntil?: number;
  /** Recipients this workflow processed (sent, refused, skipped), across its runs. */
  processed: number;
  batches: number;
}

/**
 * How a batch ended: the audience is done (`completed`); the campaign is not running any more
 * (`stopped`: paused or cancelled meanwhile, its status); this run's page is full (`page`:
 * continue as new); the batch ran its longest (`continue`); or every channel must wait
 * (`wait`) until a time.
 */
export type CampaignBatchResult =
  | { kind: 'completed'; processed: number }
  | { kind: 'stopped'; status: CampaignState; processed: number }
  | { kind: 'page'; processed: number }
  | { kind: 'continue'; processed: number }
  | { kind: 'wait'; waitingFor: CampaignWait; until: number; processed: number };

/** An update's change to the campaign row: whether it applied, and the status the row has now. */
export interface CampaignTransition {
  applied: boolean;
  status: CampaignState;
}
