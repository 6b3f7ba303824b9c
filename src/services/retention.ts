/**
 * Retention: what zapflow keeps for how long (RETENTION_* settings), and the daily Temporal
 * Schedule that prunes the rest (src/workflows/retention.ts runs one activity per table).
 *
 * Each table is pruned in batches: one statement removes at most RETENTION_BATCH of its
 * oldest expired rows (found through an index on its time column, rows locked by others
 * skipped) and commits, and the next batch follows until one comes back short. No statement
 * holds a hot table for long, and a run that stops half-way leaves nothing half-done: the next
 * one simply finds fewer rows.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { deleteOldInteractions } from '../db/queries/aiInteractions';
import { clearOldRawBodies } from '../db/queries/events';
import { deleteOldIdempotencyKeys } from '../db/queries/idempotencyKeys';
import { deleteOldAttempts } from '../db/queries/sends';
import { deleteOldStatusEvents } from '../db/queries/statuses';
import { systemPriority } from '../domain/priorities';
import type { RetentionTable, RetentionTableResult } from '../domain/retention';
import { RETENTION_SCHEDULE_ID, retentionWorkflowId } from '../domain/workflowIds';
import { WorkflowType } from '../workflows/definitions';

type PruneBatch = (db: Db, params: { olderThanMs: number; limit: number }) => Promise<number>;

/** Each table's batch statement and the setting that says how long its rows stay. */
const TABLES: Record<RetentionTable, { prune: PruneBatch; age: (config: Config) => number }> = {
  'webhook_events.raw_body': { prune: clearOldRawBodies, age: (c) => c.RETENTION_RAW_BODIES },
  message_status_events: { prune: deleteOldStatusEvents, age: (c) => c.RETENTION_STATUS_EVENTS },
  message_attempts: { prune: deleteOldAttempts, age: (c) => c.RETENTION_SEND_ATTEMPTS },
  ai_interactions: { prune: deleteOldInteractions, age: (c) => c.RETENTION_AI_CALLS },
  api_idempotency_keys: { prune: deleteOldIdempotencyKeys, age: (c) => c.RETENTION_IDEMPOTENCY_KEYS },
};

/**
 * Prunes one table's expired rows, batch after batch, until a batch comes back short.
 * `afterBatch` gets the running count after each batch (the activity heartbeats with it, and
 * may throw to stop: a cancelled activity).
 */
export async function pruneTable(
  db: Db,
  config: Config,
  table: RetentionTable,
  afterBatch: (prunedSoFar: number) => void = () => undefined,
): Promise<RetentionTableResult> {
  const { prune, age } = TABLES[table];
  const olderThanMs = age(config);
  const limit = config.RETENTION_BATCH;
  let pruned = 0;
  for (;;) {
    const n = await prune(db, { olderThanMs, limit });
    pruned += n;
    afterBatch(pruned);
    if (n < limit) return { table, pruned, olderThanMs };
  }
}

/**
 * Creates the daily retention schedule, or brings an existing one up to date (its time, task
 * queue, workflow): every worker calls it at start, so several at once are fine. Runs never
 * overlap (a run still going when the next is due: the next is skipped); a run missed while
 * Temporal was down is made up within a day.
 */
export async function ensureRetentionSchedule(
  client: Client,
  params: { taskQueue: string; cron: string; scheduleId?: string },
): Promise<'created' | 'updated'> {
  const scheduleId = params.scheduleId ?? RETENTION_SCHEDULE_ID;
  const spec = { cronExpressions: [params.cron] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: WorkflowType.retention,
    workflowId: retentionWorkflowId(),
    taskQueue: params.taskQueue,
    // The SDK's action type omits priority, but the client sends it (schedule-helpers).
    priority: systemPriority('retention'),
    args: [],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1d' as const };
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
