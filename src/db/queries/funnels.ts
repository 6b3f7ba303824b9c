import { and, desc, eq, gte, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { funnelRuns, funnels, funnelVersions, type FunnelRunStatus } from '../schema';

export type FunnelRow = typeof funnels.$inferSelect;
export type FunnelRunRow = typeof funnelRuns.$inferSelect;

export const ACTIVE_RUN_STATUSES: FunnelRunStatus[] = ['queued', 'running', 'waiting'];

export async function getFunnel(db: Db, params: { tenantId: string; funnelId: string }): Promise<FunnelRow | undefined> {
  const [row] = await db
    .select()
    .from(funnels)
    .where(and(eq(funnels.id, params.funnelId), eq(funnels.tenantId, params.tenantId), isNull(funnels.deletedAt)))
    .limit(1);
  return row;
}

export async function getFunnelVersion(db: Db, params: { funnelId: string; version: number }) {
  const [row] = await db
    .select()
    .from(funnelVersions)
    .where(and(eq(funnelVersions.funnelId, params.funnelId), eq(funnelVersions.version, params.version)))
    .limit(1);
  return row;
}

export async function activeRunsOfContact(db: Db, params: { tenantId: string; contactKey: string; funnelId?: string }) {
  return db
    .select()
    .from(funnelRuns)
    .where(
      and(
        eq(funnelRuns.tenantId, params.tenantId),
        eq(funnelRuns.contactKey, params.contactKey),
        params.funnelId ? eq(funnelRuns.funnelId, params.funnelId) : undefined,
        inArray(funnelRuns.status, ACTIVE_RUN_STATUSES),
      ),
    );
}

/** When the contact's last run of this funnel ended (or started, if it has not ended). */
export async function lastRunTime(db: Db, params: { tenantId: string; contactKey: string; funnelId: string }): Promise<Date | undefined> {
  const [row] = await db
    .select({ at: sql<Date>`coalesce(${funnelRuns.finishedAt}, ${funnelRuns.startedAt})` })
    .from(funnelRuns)
    .where(and(eq(funnelRuns.tenantId, params.tenantId), eq(funnelRuns.contactKey, params.contactKey), eq(funnelRuns.funnelId, params.funnelId)))
    .orderBy(desc(sql`coalesce(${funnelRuns.finishedAt}, ${funnelRuns.startedAt})`))
    .limit(1);
  return row?.at ? new Date(row.at) : undefined;
}

export async function listFunnelRuns(
  db: Db,
  params: { tenantId: string; status?: FunnelRunStatus; funnelId?: string; contactKey?: string; since?: Date; limit?: number },
) {
  return db
    .select()
    .from(funnelRuns)
    .where(
      and(
        eq(funnelRuns.tenantId, params.tenantId),
        params.status ? eq(funnelRuns.status, params.status) : undefined,
        params.funnelId ? eq(funnelRuns.funnelId, params.funnelId) : undefined,
        params.contactKey ? eq(funnelRuns.contactKey, params.contactKey) : undefined,
        params.since ? gte(funnelRuns.startedAt, params.since) : undefined,
      ),
    )
    .orderBy(desc(funnelRuns.startedAt))
    .limit(params.limit ?? 100);
}

export async function getFunnelRun(db: Db, params: { tenantId: string; runId: string }): Promise<FunnelRunRow | undefined> {
  const [row] = await db
    .select()
    .from(funnelRuns)
    .where(and(eq(funnelRuns.id, params.runId), eq(funnelRuns.tenantId, params.tenantId)))
    .limit(1);
  return row;
}

export async function countRunsByStatus(db: Db): Promise<Array<{ status: string; count: number }>> {
  return db
    .select({ status: funnelRuns.status, count: sql<number>`count(*)::int` })
    .from(funnelRuns)
    .groupBy(funnelRuns.status);
}
