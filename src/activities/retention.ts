/**
 * Activities of the daily retention run: one call prunes one table (services/retention.ts),
 * heartbeating after every batch, so a worker lost mid-table is noticed within the heartbeat
 * timeout and the retried attempt goes on counting from the last heartbeat.
 */
import { Context } from '@temporalio/activity';
import { loadConfig } from '../config';
import type { RetentionTable, RetentionTableResult } from '../domain/retention';
import { pruneTable } from '../services/retention';
import type { ActivityDeps } from './deps';

export function createRetentionActivities(deps: ActivityDeps) {
  return {
    /** Prunes one table's rows older than its RETENTION_* age; the count includes earlier attempts'. */
    async pruneExpired(params: { table: RetentionTable }): Promise<RetentionTableResult> {
      const config = deps.config ?? loadConfig();
      const ctx = Context.current();
      const before = typeof ctx.info.heartbeatDetails === 'number' ? ctx.info.heartbeatDetails : 0;
      const result = await pruneTable(deps.db, config, params.table, (pruned) => {
        ctx.heartbeat(before + pruned);
        // Cancelled (the workflow gave up, the worker shuts down): stop between batches.
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      });
      deps.log.info({ table: params.table, pruned: before + result.pruned, olderThanMs: result.olderThanMs }, 'retention: table pruned');
      return { ...result, pruned: before + result.pruned };
    },
  };
}
