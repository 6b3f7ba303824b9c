/**
 * Send quota counters and channel pacing (services/quotas.ts holds the rules). The counting
 * CTE is shared with startSendAttempt (sends.ts), which counts, paces and opens an attempt in
 * one statement.
 */
import { and, eq, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import { sendPacing, sendQuotaCounters } from '../schema';

export interface QuotaSlot {
  scope: string;
  windowStart: Date;
  limit: number;
}

export const MS = `* interval '1 millisecond'`;

/** Step 1 of startSendAttempt and all of incrementQuotas: windows as JSON in $1, counted in order of `i`. */
export const COUNT_QUOTA = `
quota_window as (
  select * from jsonb_to_recordset($1::text::jsonb) as w(i int, scope text, window_start timestamptz, lim int)
), quota_count as (
  insert into send_quota_counters (scope, window_start, count)
  select scope, window_start, 1 from quota_window order by i
  on conflict (scope, window_start) do update set count = send_quota_counters.count + 1
  returning scope, window_start, count
), quota as (
  select w.i, c.count, c.count > w.lim as over
    from quota_window w join quota_count c on c.scope = w.scope and c.window_start = w.window_start
)`;

export function windowsJson(windows: QuotaSlot[]): string {
  return JSON.stringify(windows.map((w, i) => ({ i, scope: w.scope, window_start: w.windowStart.toISOString(), lim: w.limit })));
}

/**
 * Counts one send in every slot in one statement and returns the new counts, in the order
 * given. Callers pass slots in a fixed order (tenant, then channel by window) so concurrent
 * upserts lock rows in the same order and never deadlock.
 */
export async function incrementQuotas(db: Db, slots: QuotaSlot[]): Promise<number[]> {
  if (slots.length === 0) return [];
  const [row] = await queryPrepared<{ counts: number[] }>(db, INCREMENT_QUOTAS, [windowsJson(slots)]);
  return row.counts;
}

const INCREMENT_QUOTAS = `with ${COUNT_QUOTA} select (select coalesce(array_agg(count order by i), '{}') from quota)::int[] as counts`;

/** Gives back sends counted by incrementQuotas (refused, or failed without sending). */
export async function decrementQuotas(db: Db, slots: Array<{ scope: string; windowStart: Date }>): Promise<void> {
  if (slots.length === 0) return;
  await db
    .update(sendQuotaCounters)
    .set({ count: sql`greatest(${sendQuotaCounters.count} - 1, 0)` })
    .where(or(...slots.map((s) => and(eq(sendQuotaCounters.scope, s.scope), eq(sendQuotaCounters.windowStart, s.windowStart)))));
}

/** Drops counters of windows that ended long ago. */
export async function pruneQuotaCounters(db: Db, params: { before: Date }): Promise<void> {
  await db.delete(sendQuotaCounters).where(sql`${sendQuotaCounters.windowStart} < ${params.before.toISOString()}::timestamptz`);
}

/** The channel's next free pacing time (after a send found its slot too far away). */
export async function pacingNextAt(db: Db, params: { channelId: string }): Promise<Date | undefined> {
  const [row] = await db.select({ nextAt: sendPacing.nextAt }).from(sendPacing).where(eq(sendPacing.channelId, params.channelId));
  return row?.nextAt;
}
