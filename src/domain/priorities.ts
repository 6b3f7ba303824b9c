/**
 * Which work goes first when the task queue is backlogged: Temporal's task-queue Priority and
 * Fairness (server 1.32; see src/temporal/devServer.ts for the dynamic config that turns them
 * on). Two rules, applied to every workflow zapflow starts:
 *
 * - **priorityKey** (1 = soonest … 5): the server hands out every waiting task of a level before
 *   any task of the next one. Strict, so a level is earned by being both urgent and bounded in
 *   volume: a level that one tenant can fill with thousands of tasks starves every level below
 *   it for as long as that backlog lasts.
 * - **fairnessKey** = the tenant: within a level, tenants' backlogs are served in turn, so
 *   10,000 clicks of one tenant do not queue another tenant's click behind them. System work
 *   (retention, rollups, digests) has no tenant and no key: it shares the unkeyed bucket.
 *
 * Activities and child workflows inherit the workflow's priority and fairness key (the proto's
 * rule: an unset field inherits). Override only where an activity is a different kind of work
 * than its workflow (`activityPriority`). Local activities run in the worker without a queue:
 * priority does not apply to them.
 *
 * Pure: workflows import it to set their activities' priority.
 */
import type { Priority } from '@temporalio/common';

/** The five levels (the server's default `matching.priorityLevels`). */
export const PriorityLevel = {
  /**
   * 1: work due at a time promised to the tenant: scheduled sends at their minute. Few at a
   * time and a handful of tasks each, so putting them before a burst costs the burst nothing
   * measurable, and "send at 09:00" does not become 09:07 behind a wave of clicks.
   */
  due: 1,
  /**
   * 2: a person on the other side waits for the answer now: funnel runs a click or a keyword
   * started (the first reply, then the rest of the run), the contact workflow that receives
   * messages and starts them, API sends. Clicks come in bursts: fairness, not a level, keeps
   * one tenant's burst from delaying another tenant's click.
   */
  interactive: 2,
  /**
   * 3 (the server's default): bookkeeping that is not awaited by the second: follow-ups (due
   * hours after the last message by design), channel watches, an operator's funnel replays.
   */
  deferred: 3,
  /**
   * 4: bulk sending the tenant scheduled in the large: campaign batches and warm-up rounds.
   * They pace themselves over minutes to days, so minutes of delay during a burst cost nothing
   * a tenant sees, while their thousands of tasks would otherwise sit in front of clicks.
   */
  bulk: 4,
  /**
   * 5: nobody waits on it: AI message analysis, metrics rollups, the opt-out digest, retention.
   * They catch up as soon as the queue is idle.
   */
  background: 5,
} as const;
export type PriorityLevel = (typeof PriorityLevel)[keyof typeof PriorityLevel];

/** zapflow's kinds of work, each at one level. */
export const WORK_PRIORITY = {
  scheduledSend: PriorityLevel.due,
  funnelRun: PriorityLevel.interactive,
  contact: PriorityLevel.interactive,
  apiSend: PriorityLevel.interactive,
  followUp: PriorityLevel.deferred,
  channel: PriorityLevel.deferred,
  funnelReplay: PriorityLevel.deferred,
  campaign: PriorityLevel.bulk,
  warmup: PriorityLevel.bulk,
  analysis: PriorityLevel.background,
  metricsRollup: PriorityLevel.background,
  optOutDigest: PriorityLevel.background,
  retention: PriorityLevel.background,
} as const satisfies Record<string, PriorityLevel>;
export type WorkKind = keyof typeof WORK_PRIORITY;

/** Temporal refuses fairness keys over 64 bytes; tenant ids are UUIDs (36 ASCII characters). */
export const FAIRNESS_KEY_MAX = 64;

/** A tenant's work: its level, and the tenant as the fairness key. */
export function tenantPriority(kind: WorkKind, tenantId: string): Priority {
  if (!tenantId) throw new Error(`${kind}: a tenant's work needs its tenant id as the fairness key`);
  return { priorityKey: WORK_PRIORITY[kind], fairnessKey: tenantId.slice(0, FAIRNESS_KEY_MAX) };
}

/** Work for every tenant at once (schedules of the system): a level, no fairness key. */
export function systemPriority(kind: WorkKind): Priority {
  return { priorityKey: WORK_PRIORITY[kind] };
}

/**
 * An activity of another kind than its workflow: only the level, because an activity's unset
 * fairness key inherits the workflow's (its tenant), which is what fairness wants.
 */
export function activityPriority(kind: WorkKind): Priority {
  return { priorityKey: WORK_PRIORITY[kind] };
}
