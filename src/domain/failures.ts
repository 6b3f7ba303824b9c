/**
 * Every failure type that crosses Temporal: the `type` of each ApplicationFailure an activity
 * or workflow raises, in one place. Activities, workflows, the schedule dispatcher and the
 * API branch on these names, and histories record them, so a name never changes once
 * shipped (a new name is added instead). `XxxError` classes stay in-process; only these
 * names cross.
 *
 * Each entry says whether Temporal may retry it and who acts on it.
 */
export interface FailureInfo {
  /** Whether the activity's retry policy may try again (with nextRetryDelay where given). */
  retryable: boolean;
  /** Who acts on it, and how. */
  handledBy: string;
}

export const FAILURES = {
  // ─── a send refused or given up (the message row is `failed` and says why) ───
  OptedOut: { retryable: false, handledBy: 'send workflows record it as the outcome; funnel runs fail the step' },
  ChannelNotFound: { retryable: false, handledBy: "send workflows: outcome (the channel is not the tenant's)" },
  ContactNotSendable: { retryable: false, handledBy: 'send workflows: outcome' },
  WindowClosed: { retryable: false, handledBy: "send workflows: outcome (Meta's 24-hour window: only a template)" },
  RecipientInvalid: { retryable: false, handledBy: 'send workflows: outcome (not on WhatsApp)' },
  ProviderAuth: { retryable: false, handledBy: 'send workflows: outcome; an operator fixes the credentials, then replays' },
  ProviderRejected: { retryable: false, handledBy: 'send workflows: outcome (any other 4xx)' },
  ProviderUnavailable: { retryable: false, handledBy: 'send workflows: outcome after SEND_MAX_ATTEMPTS transient failures' },

  // ─── a send that must wait: retried after nextRetryDelay, never dropped ───
  RateLimited: { retryable: true, handledBy: "activity retry after the provider's Retry-After; funnel runs wait without spending attempts" },
  SendDeferred: { retryable: true, handledBy: 'activity retry when the quota window or pacing slot reopens; funnel runs wait likewise' },

  // ─── AI calls (OpenAI or a compatible server) ───
  AiRateLimited: { retryable: true, handledBy: 'activity retry after the server\'s delay; the AI turn or follow-up is dropped when attempts run out' },
  AiUnavailable: { retryable: true, handledBy: 'activity retry with backoff; the turn or follow-up is dropped when attempts run out' },
  AiRejected: { retryable: false, handledBy: 'contact and follow-up workflows drop the turn and record why' },

  // ─── bookkeeping and workflow outcomes ───
  NotFound: { retryable: false, handledBy: 'the workflow fails (a row it needs is gone: funnel version, schedule)' },
  ScheduleCancelled: { retryable: false, handledBy: 'schedule workflow: the send is not made' },
  ScheduleNotPending: { retryable: false, handledBy: 'the API answers 409 to a cancel or reschedule that came too late' },
  InvalidSchedule: { retryable: false, handledBy: 'the API answers 400 (a reschedule without a valid time)' },
  FunnelStepFailed: { retryable: false, handledBy: 'funnel run fails; `zapflow funnels replay` restarts it from the step' },
  FunnelLoopLimit: { retryable: false, handledBy: 'funnel run fails: a step was visited more than FUNNEL_MAX_STEP_VISITS times (a loop that never ends)' },
  Misconfigured: { retryable: false, handledBy: 'an operator: the worker lacks a dependency (its Temporal client)' },
  RetentionIncomplete: { retryable: false, handledBy: 'the daily retention run fails after pruning the other tables; the next run catches up (its result lists what failed)' },
  OptOutDigestIncomplete: { retryable: false, handledBy: "the daily opt-out digest fails after sending the other tenants' digests (its result names the tenants that got none)" },
  CampaignNotActive: { retryable: false, handledBy: 'the API answers 409 to a pause, resume or cancel of a campaign that has completed or was cancelled' },
  WarmupNotActive: { retryable: false, handledBy: 'the API answers 409 to a pause, resume or cancel of a warm-up that was cancelled (or a pause of a paused one)' },
} as const satisfies Record<string, FailureInfo>;

export type FailureType = keyof typeof FAILURES;

/** The names as constants: `FailureType.RateLimited` is the string 'RateLimited'. */
export const FailureType = Object.fromEntries(Object.keys(FAILURES).map((name) => [name, name])) as { readonly [K in FailureType]: K };

/** The refusals of a send: final for its key (a retry of the same key answers the same). */
export type SendRefusal = Extract<
  FailureType,
  'OptedOut' | 'ChannelNotFound' | 'ContactNotSendable' | 'WindowClosed' | 'RecipientInvalid' | 'ProviderRejected' | 'ProviderAuth' | 'ProviderUnavailable'
>;

/** Failures after which a send is retried later rather than failed: it waits for a window. */
export const WAIT_FAILURES: ReadonlySet<string> = new Set<FailureType>([FailureType.RateLimited, FailureType.SendDeferred]);
