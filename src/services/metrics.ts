/**
 * The metrics rollup: conversation_events → metrics_hourly / metrics_daily / the funnel step
 * tables (src/db/queries/metrics.ts holds the SQL), run by a Temporal Schedule every
 * METRICS_ROLLUP_INTERVAL (src/workflows/metricsRollup.ts, one activity).
 *
 * A run takes batches of METRICS_ROLLUP_BATCH events, each one transaction (the recomputed
 * buckets and the watermark together), until it has caught up with everything older than
 * METRICS_ROLLUP_SETTLE. A run that stops half-way (a worker lost, a deploy) leaves whole
 * batches behind it: the next run goes on from the watermark.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { rollupMetricsBatch } from '../db/queries/metrics';
import { systemPriority } from '../domain/priorities';
import { METRICS_ROLLUP_SCHEDULE_ID, metricsRollupWorkflowId } from '../domain/workflowIds';
import { WorkflowType } from '../workflows/definitions';

export interface MetricsRollupResult {
  /** Events rolled up by this run, and the batches (transactions) it took. */
  events: number;
  batches: number;
  /** (tenant, local hour) and (tenant, local day) buckets recomputed, summed over the batches. */
  hours: number;
  days: number;
  /** The watermark after the run (the last event id rolled up). */
  lastEventId: number;
}

/**
 * Rolls up everything settled since the watermark, batch after batch. `afterBatch` gets the
 * running result after each one (the activity heartbeats with it, and may throw to stop: a
 * cancelled activity); the batches done so far stay done.
 */
export async function rollupMetrics(
  db: Db,
  config: Pick<Config, 'METRICS_ROLLUP_BATCH' | 'METRICS_ROLLUP_SETTLE'>,
  afterBatch: (soFar: MetricsRollupResult) => void = () => undefined,
): Promise<MetricsRollupResult> {
  const result: MetricsRollupResult = { events: 0, batches: 0, hours: 0, days: 0, lastEventId: 0 };
  for (;;) {
    const batch = await rollupMetricsBatch(db, { maxEvents: config.METRICS_ROLLUP_BATCH, settleMs: config.METRICS_ROLLUP_SETTLE });
    result.lastEventId = batch.toId;
    if (batch.events > 0) {
      result.events += batch.events;
      result.batches++;
      result.hours += batch.hours;
      result.days += batch.days;
      afterBatch({ ...result });
    }
    if (batch.caughtUp) return result;
  }
}

/**
 * Creates the rollup's schedule, or brings an existing one up to date (interval, task queue,
 * workflow): every worker calls it at start, so several at once are fine. Runs never overlap
 * (one still going when the next is due: the next is skipped; the following one reads what it
 * left), and runs missed while Temporal or the workers were down are made up within
 * `catchupWindowMs` (one run reads everything since the watermark).
 */
export async function ensureMetricsRollupSchedule(
  client: Client,
  params: { taskQueue: string; everyMs: number; catchupWindowMs: number; scheduleId?: string },
): Promise<'created' | 'updated'> {
  const scheduleId = params.scheduleId ?? METRICS_ROLLUP_SCHEDULE_ID;
  const spec = { intervals: [{ every: params.everyMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: WorkflowType.metricsRollup,
    workflowId: metricsRollupWorkflowId(),
    taskQueue: params.taskQueue,
    // The SDK's action type omits priority, but the client sends it (schedule-helpers).
    priority: systemPriority('metricsRollup'),
    args: [],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: params.catchupWindowMs };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return 'created';
  } catch (err) {
    // By name too: jest realms break instanceof.
    if (!(err instanceof ScheduleAlreadyRunning) && (err as Error)?.name !== 'ScheduleAlreadyRunning') throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  return 'updated';
}
