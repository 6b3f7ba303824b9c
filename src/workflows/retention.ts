/**
 * The daily retention run, started by the Temporal Schedule `zapflow-retention`
 * (services/retention.ts ensureRetentionSchedule, at every worker start): one activity per
 * table, in the order of RETENTION_TABLES, each pruning its expired rows in short batches
 * (RETENTION_* ages, RETENTION_BATCH rows per statement). A table that keeps failing does not
 * stop the others; the run then fails naming it (RetentionIncomplete), with what was pruned.
 * The result says how many rows each table lost.
 */
import { ActivityFailure, ApplicationFailure, log, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { FailureType } from '../domain/failures';
import { RETENTION_TABLES, type RetentionResult } from '../domain/retention';

type Activities = ReturnType<typeof createActivities>;

/** A table's batches heartbeat: a lost worker is noticed in minutes; a big backlog may take long. */
const { pruneExpired } = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});

function failureText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return (err as Error)?.message ?? String(err);
}

export async function retentionWorkflow(): Promise<RetentionResult> {
  const result: RetentionResult = { pruned: {}, total: 0, failed: [] };
  for (const table of RETENTION_TABLES) {
    try {
      const { pruned } = await pruneExpired({ table });
      result.pruned[table] = pruned;
      result.total += pruned;
    } catch (err) {
      log.warn('retention: table not pruned', { table, error: failureText(err) });
      result.failed.push({ table, error: failureText(err) });
    }
  }
  if (result.failed.length > 0) {
    throw ApplicationFailure.create({
      type: FailureType.RetentionIncomplete,
      message: `retention incomplete: ${result.failed.map((f) => `${f.table} (${f.error})`).join('; ')}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
