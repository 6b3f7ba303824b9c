/**
 * Warm-up plans and their rounds (services/warmups.ts holds the rules). A round's row is
 * written once it is over, keyed by its warm-up and its start (the workflow's time when it
 * asked for the round): a retried round finds its row instead of writing a second one.
 * Skips of the same reason on the same day are one row whose finished_at moves on, so a
 * number down for hours is one line of progress, not one per recheck.
 */
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import type { WarmupRoundStatus, WarmupStatus } from '../../domain/warmup';
import { warmupRounds, warmups } from '../schema';

export type WarmupRow = typeof warmups.$inferSelect;
export type WarmupRoundRow = typeof warmupRounds.$inferSelect;

/** Serialises the writers of one warm-up's rounds (for the rest of the transaction). */
async function lockWarmup(tx: Db, warmupId: string): Promise<void> {
  await queryPrepared(tx, `select pg_advisory_xact_lock(hashtextextended('zapflow:warmup:' || $1::text, 0))`, [warmupId]);
}

export async function insertWarmup(
  db: Db,
  params: { id: string; tenantId: string; name: string | null; channelIds: string[]; definition: Record<string, unknown> },
): Promise<WarmupRow> {
  const [row] = await db.insert(warmups).values({ ...params, status: 'running' }).returning();
  return row;
}

export async function deleteWarmup(db: Db, params: { warmupId: string }): Promise<void> {
  await db.delete(warmups).where(eq(warmups.id, params.warmupId));
}

/** A tenant's warm-up; another tenant's is not found. */
export async function getWarmup(db: Db, params: { tenantId: string; warmupId: string }): Promise<WarmupRow | undefined> {
  const [row] = await db
    .select()
    .from(warmups)
    .where(and(eq(warmups.id, params.warmupId), eq(warmups.tenantId, params.tenantId)));
  return row;
}

/** A warm-up by id, for its workflow's activities. */
export async function getWarmupById(db: Db, params: { warmupId: string }): Promise<WarmupRow | undefined> {
  const [row] = await db.select().from(warmups).where(eq(warmups.id, params.warmupId));
  return row;
}

/** Newest first; `before` is the last row of the previous page. */
export async function listWarmups(
  db: Db,
  params: { tenantId: string; status?: WarmupStatus; before?: { createdAt: Date; id: string }; limit: number },
): Promise<WarmupRow[]> {
  const before = params.before;
  return db
    .select()
    .from(warmups)
    .where(
      and(
        eq(warmups.tenantId, params.tenantId),
        params.status ? eq(warmups.status, params.status) : undefined,
        before ? or(lt(warmups.createdAt, before.createdAt), and(eq(warmups.createdAt, before.createdAt), lt(warmups.id, before.id))) : undefined,
      ),
    )
    .orderBy(desc(warmups.createdAt), desc(warmups.id))
    .limit(params.limit);
}

/** Moves the row from one of `from` to `to`; whether it did, and the status it has now. */
export async function transitionWarmup(
  db: Db,
  params: { warmupId: string; from: WarmupStatus[]; to: WarmupStatus },
): Promise<{ applied: boolean; status: WarmupStatus | undefined }> {
  const updated = await db
    .update(warmups)
    .set({ status: params.to, updatedAt: sql`now()` })
    .where(and(eq(warmups.id, params.warmupId), inArray(warmups.status, params.from)))
    .returning({ status: warmups.status });
  if (updated[0]) return { applied: true, status: updated[0].status as WarmupStatus };
  const [row] = await db.select({ status: warmups.status }).from(warmups).where(eq(warmups.id, params.warmupId));
  return { applied: false, status: row?.status as WarmupStatus | undefined };
}

export async function warmupStatus(db: Db, params: { warmupId: string }): Promise<WarmupStatus | undefined> {
  const [row] = await db.select({ status: warmups.status }).from(warmups).where(eq(warmups.id, params.warmupId));
  return row?.status as WarmupStatus | undefined;
}

/** A round that ran (done or failed), once per (warm-up, start): a retry finds the first row. */
export async function recordWarmupRound(
  db: Db,
  params: {
    warmupId: string;
    tenantId: string;
    day: string;
    initiatorChannelId: string | null;
    responderChannelId: string | null;
    messages: number;
    status: WarmupRoundStatus;
    reason: string | null;
    startedAt: Date;
    finishedAt: Date;
  },
): Promise<void> {
  await db.transaction(async (tx) => {
    // One writer per warm-up at a time (its workflow runs one round at a time; a lost
    // worker's retry may overlap its predecessor): the check and the insert are one step.
    await lockWarmup(tx, params.warmupId);
    const [existing] = await tx
      .select({ id: warmupRounds.id })
      .from(warmupRounds)
      .where(and(eq(warmupRounds.warmupId, params.warmupId), eq(warmupRounds.startedAt, params.startedAt)));
    if (existing) return;
    await tx.insert(warmupRounds).values(params);
  });
}

/**
 * A skipped round and why: a new row, unless the warm-up's newest row is a skip of the same
 * day and reason (then that skip lasts until `at`).
 */
export async function recordWarmupSkip(
  db: Db,
  params: { warmupId: string; tenantId: string; day: string; reason: string; at: Date },
): Promise<void> {
  await db.transaction(async (tx) => {
    await lockWarmup(tx, params.warmupId);
    const [last] = await tx
      .select()
      .from(warmupRounds)
      .where(eq(warmupRounds.warmupId, params.warmupId))
      .orderBy(desc(warmupRounds.startedAt), desc(warmupRounds.id))
      .limit(1);
    if (last && last.status === 'skipped' && last.day === params.day && last.reason === params.reason) {
      await tx.update(warmupRounds).set({ finishedAt: params.at }).where(eq(warmupRounds.id, last.id));
      return;
    }
    await tx.insert(warmupRounds).values({
      warmupId: params.warmupId,
      tenantId: params.tenantId,
      day: params.day,
      messages: 0,
      status: 'skipped',
      reason: params.reason,
      startedAt: params.at,
      finishedAt: params.at,
    });
  });
}

export interface WarmupDayTotals {
  warmupId: string;
  day: string;
  done: number;
  failed: number;
  skipped: number;
  messages: number;
}

/** Rounds per warm-up and local day, by status, and the messages they exchanged. */
export async function warmupDayTotals(db: Db, params: { warmupIds: string[] }): Promise<WarmupDayTotals[]> {
  if (params.warmupIds.length === 0) return [];
  return db
    .select({
      warmupId: warmupRounds.warmupId,
      day: warmupRounds.day,
      done: sql<number>`(count(*) filter (where ${warmupRounds.status} = 'done'))::int`,
      failed: sql<number>`(count(*) filter (where ${warmupRounds.status} = 'failed'))::int`,
      skipped: sql<number>`(count(*) filter (where ${warmupRounds.status} = 'skipped'))::int`,
      messages: sql<number>`coalesce(sum(${warmupRounds.messages}), 0)::int`,
    })
    .from(warmupRounds)
    .where(inArray(warmupRounds.warmupId, params.warmupIds))
    .groupBy(warmupRounds.warmupId, warmupRounds.day)
    .orderBy(warmupRounds.warmupId, warmupRounds.day);
}

/** Why rounds were skipped or failed, per local day (newest days first, at most `limit` rows). */
export async function warmupReasons(
  db: Db,
  params: { warmupId: string; limit: number },
): Promise<Array<{ day: string; status: string; reason: string; n: number; from: Date; until: Date | null }>> {
  return db
    .select({
      day: warmupRounds.day,
      status: warmupRounds.status,
      reason: sql<string>`${warmupRounds.reason}`,
      n: sql<number>`count(*)::int`,
      from: sql<Date>`min(${warmupRounds.startedAt})`.mapWith((v: string | Date) => new Date(v)),
      until: sql<Date | null>`max(${warmupRounds.finishedAt})`.mapWith((v: string | Date | null) => (v === null ? null : new Date(v))),
    })
    .from(warmupRounds)
    .where(and(eq(warmupRounds.warmupId, params.warmupId), sql`${warmupRounds.reason} is not null`))
    .groupBy(warmupRounds.day, warmupRounds.status, warmupRounds.reason)
    .orderBy(desc(warmupRounds.day), sql`min(${warmupRounds.startedAt})`)
    .limit(params.limit);
}
