/**
 * Workflow ids are business keys, built here and nowhere else: the same business fact (a
 * contact, a click, a schedule) always names the same workflow, so a duplicate start finds
 * the first one and the Temporal Web UI can be searched by what an operator knows.
 */

/** The contact's entity workflow (AI debounce, loop guard, routing to funnel runs). */
export function contactWorkflowId(tenantId: string, contactKey: string): string {
  return `contact:${tenantId}:${contactKey}`;
}

/** One run per triggering message: a click delivered twice starts one run. Also funnel_runs.id. */
export function funnelRunId(params: { tenantId: string; contactKey: string; funnelId: string; triggerMessageId: string }): string {
  return `funnel:${params.tenantId}:${params.contactKey}:${params.funnelId}:${params.triggerMessageId}`;
}

/** The contact's follow-up workflow (started or reset by every send and reply). */
export function followUpWorkflowId(tenantId: string, contactKey: string): string {
  return `followup:${tenantId}:${contactKey}`;
}

/** An immediate API send. */
export function sendWorkflowId(messageId: string): string {
  return `send:${messageId}`;
}

/** One workflow per schedule. */
export function scheduleWorkflowId(scheduleId: string): string {
  return `schedule:${scheduleId}`;
}

/** One workflow per campaign: it pages through the recipients, sleeping through closed windows and full quotas. */
export function campaignWorkflowId(campaignId: string): string {
  return `campaign:${campaignId}`;
}

/** One workflow per warm-up plan: rounds between the tenant's own numbers inside its windows. */
export function warmupWorkflowId(warmupId: string): string {
  return `warmup:${warmupId}`;
}

/** One workflow per channel: it watches the number's connection and quality, and tells the admin about outages. */
export function channelWorkflowId(channelId: string): string {
  return `channel:${channelId}`;
}

/** The daily opt-out digest's Temporal Schedule (one per namespace; every worker creates or updates it). */
export const OPT_OUT_DIGEST_SCHEDULE_ID = 'zapflow-opt-out-digest';

/** The opt-out digest workflow: the schedule starts it under this id plus the scheduled time. */
export function optOutDigestWorkflowId(): string {
  return 'opt-out-digest';
}

/** The daily retention Temporal Schedule (one per namespace; every worker creates or updates it). */
export const RETENTION_SCHEDULE_ID = 'zapflow-retention';

/** The retention workflow: the schedule starts it under this id plus the scheduled time. */
export function retentionWorkflowId(): string {
  return 'retention';
}

/** The metrics rollup's Temporal Schedule (every METRICS_ROLLUP_INTERVAL; every worker creates or updates it). */
export const METRICS_ROLLUP_SCHEDULE_ID = 'zapflow-metrics-rollup';

/** The metrics rollup workflow: the schedule starts it under this id plus the scheduled time. */
export function metricsRollupWorkflowId(): string {
  return 'metrics-rollup';
}
