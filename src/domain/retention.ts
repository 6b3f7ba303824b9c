/**
 * What the daily retention run prunes (src/workflows/retention.ts), one activity per table, in
 * this order, each by age (RETENTION_* settings) in batches of RETENTION_BATCH rows. Messages
 * themselves are never pruned. Names as in the database; `webhook_events.raw_body` clears the
 * bodies and keeps the rows.
 */
export const RETENTION_TABLES = [
  'webhook_events.raw_body',
  'message_status_events',
  'message_attempts',
  'ai_interactions',
  'api_idempotency_keys',
] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];

/** One table's pruning: how many rows, and the age they were older than. */
export interface RetentionTableResult {
  table: RetentionTable;
  pruned: number;
  olderThanMs: number;
}

/** The retention workflow's result: rows pruned per table, their total, and tables that failed. */
export interface RetentionResult {
  pruned: Partial<Record<RetentionTable, number>>;
  total: number;
  failed: Array<{ table: RetentionTable; error: string }>;
}
