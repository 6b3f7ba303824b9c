/**
 * The values stored rows take (providers, statuses, outcomes) and the shapes of their JSON
 * settings. Plain data: src/db/schema.ts builds its columns from them, and every other
 * layer (API schemas, services, workflows' types) reads them here rather than from the schema.
 */

/** Tenant settings that later features read; all optional with defaults in code. */
export interface TenantSettings {
  optOutKeywords?: string[];
  optOutConfirmation?: string;
  adminContact?: { channelId: string; phone: string };
  [key: string]: unknown;
}

export const PROVIDERS = ['evolution', 'meta', 'lancepilot', 'uazapi', 'sandbox'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ChannelCredentialsColumn {
  apiKey?: string;
  accessToken?: string;
  appSecret?: string;
  verifyToken?: string;
  webhookSecret?: string;
  workspaceId?: string;
}

export interface ChannelSettings {
  /** Group messages trigger automation only when this is on. */
  allowGroups?: boolean;
  /** LancePilot: field mapping of the webhook body (see src/ingest/parse/lancepilot.ts). */
  lancepilotMapping?: Record<string, unknown>;
  [key: string]: unknown;
}

export const WEBHOOK_EVENT_STATUSES = [
  'received', // stored, being processed
  'pending', // accepted, waiting for Temporal to take it
  'dispatched', // every inbound message handed to its contact workflow
  'processed', // applied without a workflow (statuses, connection updates)
  'ignored', // valid, nothing to do (unknown event type, groups)
  'duplicate', // every item already seen
  'unroutable', // authenticated, but no channel with that key
  'rejected', // authenticated, but the body did not parse
  'dead', // a message of it failed dispatch DISPATCH_MAX_ATTEMPTS times (`zapflow events retry` requeues it)
] as const;
export type WebhookEventStatus = (typeof WEBHOOK_EVENT_STATUSES)[number];

export const MESSAGE_STATUSES = ['received', 'queued', 'sent', 'delivered', 'read', 'played', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const FUNNEL_RUN_STATUSES = ['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type FunnelRunStatus = (typeof FUNNEL_RUN_STATUSES)[number];

/** Per-channel (`settings.sendLimits`) and per-tenant overrides of the SEND_* quota settings. */
export interface SendLimitsSetting {
  perMinute?: number;
  perHour?: number;
  perDay?: number;
  /** Pacing (channels only): minimum gap between sends and extra random jitter, ms. */
  minGapMs?: number;
  jitterMs?: number;
}

export const ATTEMPT_OUTCOMES = [
  'sent', // the provider accepted it
  'failed', // permanent refusal (4xx that cannot succeed)
  'retry', // transient failure known not to have sent (5xx, refused connection)
  'rate_limited', // the provider said 429 / throughput
  'uncertain', // timeout or lost worker after the request left: it may have gone out
  'recovered', // a lookup after an uncertain attempt found it had gone out: nothing sent again
  'reopened', // not a call: an operator's replay reopened a refused send (transient failures count from here)
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export const SCHEDULE_STATUSES = ['scheduled', 'sending', 'sent', 'failed', 'cancelled'] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

export const AI_INTERACTION_KINDS = ['reply', 'followup', 'analysis', 'transcription', 'description'] as const;
export const AI_INTERACTION_STATUSES = ['pending', 'ok', 'declined', 'skipped', 'failed'] as const;

/**
 * A handover pauses a contact until a person resumes it: stored as this far-future time
 * (not 'infinity', which the drivers map differently).
 */
export const UNTIL_RESUMED = new Date('9999-12-31T00:00:00Z');

export const CONTACT_IMPORT_STATUSES = ['running', 'completed', 'failed'] as const;
export type ContactImportStatus = (typeof CONTACT_IMPORT_STATUSES)[number];

export const CAMPAIGN_STATUSES = ['scheduled', 'running', 'waiting', 'paused', 'completed', 'cancelled'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const CAMPAIGN_RECIPIENT_STATUSES = ['queued', 'sending', 'sent', 'failed', 'skipped'] as const;
export type CampaignRecipientStatus = (typeof CAMPAIGN_RECIPIENT_STATUSES)[number];

/**
 * The facts conversation_events records (one row each), which the metrics roll up. A name
 * never changes once written: stored rows and rollups read it.
 */
export const CONVERSATION_EVENT_KINDS = [
  'message_received',
  'message_sent',
  'message_delivered',
  'message_read',
  'message_failed',
  'funnel_started',
  'funnel_step_completed',
  'funnel_completed',
  'funnel_failed',
  'followup_sent',
  'ai_reply',
  'opt_out',
  'resubscribed',
  'handover',
  'campaign_sent',
  'campaign_skipped',
  'campaign_clicked',
] as const;
export type ConversationEventKind = (typeof CONVERSATION_EVENT_KINDS)[number];
