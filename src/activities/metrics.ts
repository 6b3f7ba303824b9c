/**
 * The metrics rollup's activity: one call rolls up everything settled since the watermark
 * (services/metrics.ts), heartbeating after every batch, so a worker lost mid-run is noticed
 * within the heartbeat timeout; the retried attempt goes on from the watermark (the batches
 * already committed are not redone).
 */
import { Context } from '@temporalio/activity';
import { loadConfig } from '../config';
import { rollupMetrics, type MetricsRollupResult } from '../services/metrics';
import type { ActivityDeps } from './deps';

export function createMetricsActivities(deps: ActivityDeps) {
  return {
    /** Rolls up the event log into the metrics tables; the counts include earlier attempts' (from the heartbeat). */
    async rollupMetrics(): Promise<MetricsRollupResult> {
      const config = deps.config ?? loadConfig();
      const ctx = Context.current();
      const before = (ctx.info.heartbeatDetails ?? undefined) as MetricsRollupResult | undefined;
      const started = Date.now();
      const add = (r: MetricsRollupResult): MetricsRollupResult =>
        before
          ? { events: before.events + r.events, batches: before.batches + r.batches, hours: before.hours + r.hours, days: before.days + r.days, lastEventId: r.lastEventId }
          : r;
      const result = add(
        await rollupMetrics(deps.db, config, (soFar) => {
          ctx.heartbeat(add(soFar));
          // Cancelled (the workflow gave up, the worker shuts down): stop between batches.
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        }),
      );
      if (result.events > 0) deps.log.info({ ...result, ms: Date.now() - started }, 'metrics: rolled up');
      return result;
    },
  };
}
