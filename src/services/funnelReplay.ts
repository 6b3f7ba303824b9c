/**
 * Operator repair of failed funnel runs: list them from Temporal's visibility joined with
 * their funnel_runs rows, and put them back on track.
 *
 * A replay starts the run again under the same workflow id, from the failed step (with the
 * progress it had: variables and step visits) or from the start. Idempotency keys are
 * (run, step, visit), so every message the provider already accepted is recognised and
 * never sent again, whichever mode.
 */
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Db } from '../db/client';
import { getFunnelRunById, getFunnelRunsByIds, markRunRequeued } from '../db/queries/funnelRuns';
import { tenantPriority } from '../domain/priorities';
import { ContactPhoneKey, FunnelIdKey, TenantIdKey, ZapflowStatusKey } from '../domain/searchAttributes';
import { funnelProgressQuery, WorkflowType } from '../workflows/definitions';
import type { funnelRunWorkflow } from '../workflows/funnel';
import type { FunnelProgress, FunnelRunInput } from '../workflows/types';

export interface FailedRun {
  runId: string;
  tenantId: string;
  contact: string;
  funnelId: string;
  funnelName?: string;
  failedStep?: string;
  error?: string;
  failedAt?: Date;
  taskQueue?: string;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "\\'")}'`;
}

/** Failed funnel runs from Temporal's visibility (search attributes), joined with their rows. */
export async function listFailedRuns(
  client: Client,
  db: Db,
  filters: { tenantId?: string; funnelId?: string; since?: Date; limit?: number },
): Promise<FailedRun[]> {
  const clauses = [`WorkflowType = '${WorkflowType.funnelRun}'`, `ExecutionStatus = 'Failed'`];
  if (filters.tenantId) clauses.push(`TenantId = ${quote(filters.tenantId)}`);
  if (filters.funnelId) clauses.push(`FunnelId = ${quote(filters.funnelId)}`);
  if (filters.since) clauses.push(`CloseTime > ${quote(filters.since.toISOString())}`);
  const found: Array<{ workflowId: string; closeTime?: Date; taskQueue: string; tenantId?: string; contact?: string; funnelId?: string }> = [];
  const seen = new Set<string>();
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    // A run replayed and failed again has two failed executions: it is one run to repair.
    if (seen.has(wf.workflowId)) continue;
    seen.add(wf.workflowId);
    found.push({
      workflowId: wf.workflowId,
      closeTime: wf.closeTime,
      taskQueue: wf.taskQueue,
      tenantId: wf.typedSearchAttributes.get(TenantIdKey),
      contact: wf.typedSearchAttributes.get(ContactPhoneKey),
      funnelId: wf.typedSearchAttributes.get(FunnelIdKey),
    });
    if (filters.limit && found.length >= filters.limit) break;
  }
  if (found.length === 0) return [];
  const rows = await getFunnelRunsByIds(db, { runIds: found.map((f) => f.workflowId) });
  const byId = new Map(rows.map((r) => [r.id, r]));
  // Visibility keeps every failed execution; a run replayed since (its row says so) is not failed now.
  const stillFailed = found.filter((f) => {
    const status = byId.get(f.workflowId)?.status;
    return status === undefined || status === 'failed';
  });
  return stillFailed.map((f) => {
    const row = byId.get(f.workflowId);
    return {
      runId: f.workflowId,
      tenantId: row?.tenantId ?? f.tenantId ?? '',
      contact: row?.contactKey ?? f.contact ?? '',
      funnelId: row?.funnelId ?? f.funnelId ?? '',
      failedStep: row?.error?.step ?? row?.currentStep ?? undefined,
      error: row?.error?.message,
      failedAt: f.closeTime ?? row?.finishedAt ?? undefined,
      taskQueue: f.taskQueue,
    };
  });
}

export type ReplayFrom = 'failed-step' | 'start';

export interface ReplayPlan {
  runId: string;
  action: 'replay' | 'skip';
  from?: ReplayFrom;
  stepId?: string;
  reason?: string;
}

/** What replaying a run would do, without doing it. */
export async function planReplay(client: Client, db: Db, runId: string, from: ReplayFrom): Promise<ReplayPlan & { input?: FunnelRunInput; taskQueue?: string }> {
  const handle = client.workflow.getHandle(runId);
  let description;
  try {
    description = await handle.describe();
  } catch {
    return { runId, action: 'skip', reason: 'no such workflow in Temporal' };
  }
  if (description.type !== WorkflowType.funnelRun) return { runId, action: 'skip', reason: `not a funnel run (${description.type})` };
  if (description.status.name !== 'FAILED') return { runId, action: 'skip', reason: `run is ${description.status.name.toLowerCase()}, not failed` };
  const row = await getFunnelRunById(db, { runId });
  // The run's own input, from the first event of its history.
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload?.data) return { runId, action: 'skip', reason: 'cannot read the run input from its history' };
  const original = JSON.parse(Buffer.from(payload.data).toString('utf8')) as FunnelRunInput;
  // A send the provider refused (an expired token, a missing template) delivered nothing: the
  // replay tries it again under the same key. Sends of unknown outcome still never repeat.
  // A replay walks every step itself: an eager first send is found recorded by its key (leadSent dropped).
  const input: FunnelRunInput = { ...original, resume: undefined, leadSent: undefined, replayedAt: Date.now() };
  if (from === 'failed-step') {
    let progress: FunnelProgress | undefined;
    try {
      progress = await handle.query(funnelProgressQuery);
    } catch {
      // No worker to answer: rebuild from the row (visits unknown: first visit assumed).
    }
    const stepId = progress?.stepId ?? row?.error?.step ?? row?.currentStep ?? undefined;
    if (!stepId) return { runId, action: 'skip', reason: 'failed step unknown' };
    input.resume = { stepId, variables: progress?.variables ?? row?.variables ?? {}, visits: decrement(progress?.visits ?? {}, stepId) };
    return { runId, action: 'replay', from, stepId, input, taskQueue: description.taskQueue };
  }
  return { runId, action: 'replay', from, stepId: undefined, input, taskQueue: description.taskQueue };
}

/** The failed step is visited again: its visit counter goes back so its idempotency key is the same. */
function decrement(visits: Record<string, number>, stepId: string): Record<string, number> {
  const copy = { ...visits };
  if (copy[stepId]) copy[stepId] -= 1;
  return copy;
}

/** Starts the run again under the same workflow id; the row goes back to queued. */
export async function executeReplay(client: Client, db: Db, plan: ReplayPlan & { input?: FunnelRunInput; taskQueue?: string }): Promise<void> {
  if (plan.action !== 'replay' || !plan.input || !plan.taskQueue) throw new Error(`nothing to replay for ${plan.runId}`);
  await markRunRequeued(db, { runId: plan.runId });
  try {
    await client.workflow.start<typeof funnelRunWorkflow>(WorkflowType.funnelRun, {
      workflowId: plan.runId,
      taskQueue: plan.taskQueue,
      args: [plan.input],
      // The failed execution is closed; only failed ones may be started again under this id.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      priority: tenantPriority('funnelReplay', plan.input.tenantId),
      typedSearchAttributes: [
        { key: TenantIdKey, value: plan.input.tenantId },
        { key: ContactPhoneKey, value: plan.input.contactKey },
        { key: FunnelIdKey, value: plan.input.funnelId },
        { key: ZapflowStatusKey, value: 'queued' },
      ],
      staticSummary: `${plan.input.funnelName} → ${plan.input.contactKey} (replay${plan.stepId ? ` from ${plan.stepId}` : ''})`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new Error('a newer execution of this run is already running');
    throw err;
  }
}

export interface ReplayOutcome {
  /** Failed again (the error says why): the replay did not put them back on track. */
  failedAgain: Array<{ runId: string; step?: string; error?: string }>;
  /** Still at the step they failed on when the wait ended. */
  pending: string[];
}

/**
 * Follows replayed runs until each has moved past the step it failed on (or finished), failed
 * again, or `waitMs` is over. A replay that fails again in milliseconds (the same refusal)
 * is reported rather than taken for a success.
 */
export async function followReplays(
  db: Db,
  plans: Array<Pick<ReplayPlan, 'runId' | 'stepId'>>,
  opts: { waitMs: number; pollMs?: number },
): Promise<ReplayOutcome> {
  const deadline = Date.now() + opts.waitMs;
  const open = new Map(plans.map((p) => [p.runId, p.stepId]));
  const failedAgain: ReplayOutcome['failedAgain'] = [];
  for (;;) {
    const rows = await getFunnelRunsByIds(db, { runIds: [...open.keys()] });
    for (const row of rows) {
      const failedStep = open.get(row.id);
      if (row.status === 'failed') {
        failedAgain.push({ runId: row.id, step: row.error?.step, error: row.error?.message });
        open.delete(row.id);
      } else if (row.status !== 'queued' && (row.status !== 'running' || (row.currentStep !== null && row.currentStep !== (failedStep ?? null)))) {
        open.delete(row.id); // finished, waiting further on, or past the failed step
      }
    }
    if (open.size === 0 || Date.now() >= deadline) return { failedAgain, pending: [...open.keys()] };
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}
