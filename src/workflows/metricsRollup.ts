/**
 * The metrics rollup run, started by the Temporal Schedule `zapflow-metrics-rollup`
 * (services/metrics.ts ensureMetricsRollupSchedule, at every worker start) every
 * METRICS_ROLLUP_INTERVAL: one activity rolls conversation_events up into the metrics tables,
 * in batches, from its watermark. The result says how much it read and recomputed.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { MetricsRollupResult } from '../services/metrics';

type Activities = ReturnType<typeof createActivities>;

/**
 * Batches heartbeat: a lost worker is noticed in a minute. A run after a long outage may have
 * much to read; the next scheduled run is skipped while this one goes on.
 */
const { rollupMetrics } = proxyActivities<Activities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

export async function metricsRollupWorkflow(): Promise<MetricsRollupResult> {
  return rollupMetrics();
}
