/**
 * funnel_runs: one row per funnel run workflow (id = its workflow id), mirroring what the
 * run reports. Written by the run's activities (and reset by a replay); read by the API,
 * the dispatcher's rules (re-entry, cooldown) and the operator CLI.
 */
import { and, desc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
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

/** A run's status by id (undefined: no row yet): whether a start may still send its first step eagerly. */
export async function funnelRunStatus(db: Db, params: { runId: string }): Promise<FunnelRunStatus | undefined> {
  const [row] = await db.select({ status: funnelRuns.status }).from(funnelRuns).where(eq(funnelRuns.id, params.runId)).limit(1);
  return row?.status;
}

/** The contact's runs waiting for a reply, oldest first: where the dispatcher routes the contact's next message. */
export async function runsWaitingForReply(db: Db, params: { tenantId: string; contactKey: string }): Promise<Array<{ id: string }>> {
  return db
    .select({ id: funnelRuns.id })
    .from(funnelRuns)
    .where(
      and(
        eq(funnelRuns.tenantId, params.tenantId),
        eq(funnelRuns.contactKey, params.contactKey),
        eq(funnelRuns.status, 'waiting'),
        eq(funnelRuns.waitingFor, 'reply'),
      ),
    )
    .orderBy(funnelRuns.startedAt);
}

export async function getFunnelRunsByIds(db: Db, params: { runIds: string[] }): Promise<FunnelRunRow[]> {
  if (params.runIds.length === 0) return [];
  return db.select().from(funnelRuns).where(inArray(funnelRuns.id, params.runIds));
}

/**
 * The row of a run about to start (`queued`), logged as funnel_started (with its campaign) in
 * the same statement; a second insert of the same run does nothing.
 */
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
  await queryPrepared(db, INSERT_QUEUED_RUN, [
    params.runId,
    params.tenantId,
    params.funnelId,
    params.funnelVersion,
    params.contactKey,
    params.channelId,
    params.triggerMessageId,
    params.campaignId ?? null,
  ]);
}

const INSERT_QUEUED_RUN = `
with r as (
  insert into funnel_runs (id, tenant_id, funnel_id, funnel_version, contact_key, channel_id, trigger_message_id, campaign_id, status)
  values ($1::text, $2::uuid, $3::uuid, $4::int, $5::text, $6::uuid, $7::text, $8::uuid, 'queued')
  on conflict do nothing
  returning id, tenant_id, funnel_id, campaign_id, channel_id, contact_key, started_at
)
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, run_id)
select r.tenant_id, r.started_at, 'funnel_started', r.channel_id, r.funnel_id, r.campaign_id,
       (select c.id from contacts c where c.tenant_id = r.tenant_id and c.phone = r.contact_key), r.id
  from r
on conflict do nothing`;

/** The run's first step began: running, with its step count (not if it already finished). */
export async function markRunRunning(db: Db, params: { runId: string; stepCount: number }): Promise<void> {
  await db
    .update(funnelRuns)
    .set({ status: 'running', stepCount: params.stepCount, updatedAt: sql`now()` })
    .where(and(eq(funnelRuns.id, params.runId), sql`${funnelRuns.status} in ('queued', 'running')`));
}

/**
 * Where the run is: its step, and what it waits for until when (null: nothing). Fields
 * left out are kept. The step is logged as funnel_step_completed the first time the run
 * records it (a send once sent; tag, set and handover once done; a delay or a wait once the
 * run waits there), in the same statement: runs that reached each step, for conversion.
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
  await queryPrepared(db, RECORD_RUN_STEP, [
    params.runId,
    params.stepId,
    params.stepIndex,
    params.status ?? null,
    params.waitingFor !== undefined,
    params.waitingFor ?? null,
    params.waitingUntil !== undefined,
    params.waitingUntil ? params.waitingUntil.toISOString() : null,
    params.variables ? JSON.stringify(params.variables) : null,
  ]);
}

const RECORD_RUN_STEP = `
with r as (
  update funnel_runs set
    current_step = $2::text,
    step_index = $3::int,
    status = coalesce($4::text, status),
    waiting_for = case when $5::boolean then $6::text else waiting_for end,
    waiting_until = case when $7::boolean then $8::timestamptz else waiting_until end,
    variables = coalesce($9::text::jsonb, variables),
    updated_at = now()
  where id = $1::text
  returning id, tenant_id, funnel_id, campaign_id, channel_id
)
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, run_id, step_id)
select r.tenant_id, now(), 'funnel_step_completed', r.channel_id, r.funnel_id, r.campaign_id, r.id, $2::text
  from r
on conflict do nothing`;

/**
 * The run ended: its final status, logged as funnel_completed or funnel_failed (a cancelled run
 * is not logged) in the same statement, once per run.
 */
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
  await queryPrepared(db, MARK_RUN_FINISHED, [
    params.runId,
    params.status,
    params.error === null ? null : JSON.stringify(params.error),
    params.cancelReason,
    JSON.stringify(params.variables),
  ]);
}

const MARK_RUN_FINISHED = `
with r as (
  update funnel_runs set
    status = $2::text, error = $3::text::jsonb, cancel_reason = $4::text, variables = $5::text::jsonb,
    waiting_for = null, waiting_until = null, finished_at = now(), updated_at = now()
  where id = $1::text
  returning id, tenant_id, funnel_id, campaign_id, channel_id
)
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, run_id)
select r.tenant_id, now(), case $2::text when 'completed' then 'funnel_completed' else 'funnel_failed' end,
       r.channel_id, r.funnel_id, r.campaign_id, r.id
  from r
 where $2::text in ('completed', 'failed')
on conflict do nothing`;

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
