/**
 * funnel_runs: one row per funnel run workflow (id = its workflow id), mirroring what the
 * run reports. Written by the run's activities (and reset by a replay); read by the API,
 * the dispatcher's rules (re-entry, cooldown) and the operator CLI.
 */
import { and, desc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client';
import type { FunnelRunStatus } from '../../domain/records';
import { funnelRuns } from '../schema';

export type FunnelRunRow = typeof funnelRuns.$inferSelect;

export const ACTIVE_RUN_STATUSES: FunnelRunStatus[] = ['queued', 'running', 'waiting'];

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

/** A run by id, whoever's it is (the operator's side: replay). */
export async function getFunnelRunById(db: Db, params: { runId: string }): Promise<FunnelRunRow | undefined> {
  const [row] = await db.select().from(funnelRuns).where(eq(funnelRuns.id, params.runId)).limit(1);
  return row;
}

export async function funnelRunExists(db: Db, params: { runId: string }): Promise<boolean> {
  const [row] = await db.select({ id: funnelRuns.id }).from(funnelRuns).where(eq(funnelRuns.id, params.runId)).limit(1);
  return Boolean(row);
}

export async function getFunnelRunsByIds(db: Db, params: { runIds: string[] }): Promise<FunnelRunRow[]> {
  if (params.runIds.length === 0) return [];
  return db.select().from(funnelRuns).where(inArray(funnelRuns.id, params.runIds));
}

/** The row of a run about to start (`queued`); a second insert of the same run does nothing. */
export async function insertQueuedRun(
  db: Db,
  params: {
    runId: string;
    tenantId: string;
    funnelId: string;
    funnelVersion: number;
    contactKey: string;
    channelId: string;
    triggerMessageId: string;
    /** The campaign whose message the trigger answered (attribution). */
    campaignId?: string;
  },
): Promise<void> {
  await db
    .insert(funnelRuns)
    .values({
      id: params.runId,
      tenantId: params.tenantId,
      funnelId: params.funnelId,
      funnelVersion: params.funnelVersion,
      contactKey: params.contactKey,
      channelId: params.channelId,
      triggerMessageId: params.triggerMessageId,
      campaignId: params.campaignId,
      status: 'queued',
    })
    .onConflictDoNothing();
}

/** The run's first step began: running, with its step count (not if it already finished). */
export async function markRunRunning(db: Db, params: { runId: string; stepCount: number }): Promise<void> {
  await db
    .update(funnelRuns)
    .set({ status: 'running', stepCount: params.stepCount, updatedAt: sql`now()` })
    .where(and(eq(funnelRuns.id, params.runId), sql`${funnelRuns.status} in ('queued', 'running')`));
}

/**
 * Where the run is: its step, and what it waits for until when (null: nothing). Fields
 * left out are kept.
 */
export async function recordRunStep(
  db: Db,
  params: {
    runId: string;
    status?: FunnelRunStatus;
    stepId: string;
    stepIndex: number;
    waitingFor?: string | null;
    waitingUntil?: Date | null;
    variables?: Record<string, string>;
  },
): Promise<void> {
  await db
    .update(funnelRuns)
    .set({
      currentStep: params.stepId,
      stepIndex: params.stepIndex,
      ...(params.status ? { status: params.status } : {}),
      ...(params.waitingFor !== undefined ? { waitingFor: params.waitingFor } : {}),
      ...(params.waitingUntil !== undefined ? { waitingUntil: params.waitingUntil } : {}),
      ...(params.variables ? { variables: params.variables } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(funnelRuns.id, params.runId));
}

export async function markRunFinished(
  db: Db,
  params: {
    runId: string;
    status: 'completed' | 'cancelled' | 'failed';
    error: { message: string; type?: string; step?: string } | null;
    cancelReason: string | null;
    variables: Record<string, string>;
  },
): Promise<void> {
  await db
    .update(funnelRuns)
    .set({
      status: params.status,
      error: params.error,
      cancelReason: params.cancelReason,
      variables: params.variables,
      waitingFor: null,
      waitingUntil: null,
      finishedAt: sql`now()`,
      updatedAt: sql`now()`,
    })
    .where(eq(funnelRuns.id, params.runId));
}

/** A replay starts the run again: back to queued, its failure cleared. */
export async function markRunRequeued(db: Db, params: { runId: string }): Promise<void> {
  await db
    .update(funnelRuns)
    .set({ status: 'queued', error: null, finishedAt: null, updatedAt: sql`now()` })
    .where(eq(funnelRuns.id, params.runId));
}

/** Active runs of a funnel (a funnel with any cannot be deleted). */
export async function countActiveRunsOfFunnel(db: Db, params: { funnelId: string }): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(funnelRuns)
    .where(and(eq(funnelRuns.funnelId, params.funnelId), inArray(funnelRuns.status, ACTIVE_RUN_STATUSES)));
  return row?.n ?? 0;
}
