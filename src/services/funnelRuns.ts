/**
 * Funnel runs as business operations: starting one under the re-entry and cooldown rules,
 * cancelling (one through the API, a contact's on opt-out), and telling the tenant's admin
 * what needs a person. The run's own bookkeeping (its row following its steps) is in the
 * funnel activities; the rows themselves in src/db/queries/funnelRuns.ts.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { activeRunsOfContact, funnelRunStatus, getFunnelRun, insertQueuedRun, lastRunTime, ACTIVE_RUN_STATUSES } from '../db/queries/funnelRuns';
import { campaignSendAnswered } from '../db/queries/campaigns';
import { appendConversationEvents } from '../db/queries/conversationEvents';
import { getTenant } from '../db/queries/tenants';
import { DomainError } from '../domain/errors';
import type { FunnelTriggerSpec } from '../domain/funnelTypes';
import { tenantPriority } from '../domain/priorities';
import { CampaignIdKey, ContactPhoneKey, FunnelIdKey, TenantIdKey, ZapflowStatusKey } from '../domain/searchAttributes';
import { contactWorkflowId, funnelRunId } from '../domain/workflowIds';
import { signalIfRunning } from '../temporal/signals';
import { cancelRunSignal, WorkflowType } from '../workflows/definitions';
import type { funnelRunWorkflow } from '../workflows/funnel';
import type { FunnelRunInput, FunnelRunLimits, SendRetryPolicy } from '../workflows/types';
import { deliverCounted } from './delivery';
import { sendLeadingStep } from './funnelEager';
import type { ServiceDeps } from './deps';

/** Tells the tenant's admin contact (settings.adminContact) about something that needs a human. */
export async function notifyAdmin(deps: ServiceDeps, params: { tenantId: string; text: string; idempotencyKey: string }): Promise<boolean> {
  const tenant = await getTenant(deps.db, { tenantId: params.tenantId });
  const admin = tenant?.settings.adminContact;
  if (!admin?.channelId || !admin.phone) return false;
  try {
    await deliverCounted(deps, {
      tenantId: params.tenantId,
      channelId: admin.channelId,
      contactKey: admin.phone,
      message: { type: 'text', text: params.text },
      idempotencyKey: params.idempotencyKey,
      allowOptedOut: true,
    });
    return true;
  } catch (err) {
    // A notice that cannot be delivered must not fail the run's bookkeeping.
    deps.log.warn({ err: (err as Error).message, tenantId: params.tenantId }, 'admin notification failed');
    return false;
  }
}

export type StartRunOutcome = 'started' | 'duplicate' | 'active' | 'cooldown';

/** A click (or keyword) that matched a funnel, as the contact workflow hands it over. */
export interface StartRunRequest {
  tenantId: string;
  contactKey: string;
  channelId: string;
  triggerMessageId: string;
  funnel: FunnelTriggerSpec;
  sendRetry: SendRetryPolicy;
  /**
   * Send the run's first step (when it is a send) before starting its workflow, under the
   * run's own key (services/funnelEager.ts). Needs the delivery's clients in deps.
   */
  eager?: boolean;
  /**
   * Whether the run tells the contact workflow when it waits for a reply (default yes). No
   * when the tenant has no conversation feature: the dispatcher then routes replies by the
   * database, and a contact workflow holding a stale list of waiting runs would swallow the
   * contact's next message.
   */
  notifyContact?: boolean;
}

/** The bounds every new run gets (FUNNEL_MAX_STEP_VISITS, FUNNEL_HISTORY_EVENTS). */
export function funnelRunLimits(config: Config): FunnelRunLimits {
  return { maxStepVisits: config.FUNNEL_MAX_STEP_VISITS, historyEvents: config.FUNNEL_HISTORY_EVENTS };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Starts a funnel run as its own workflow, after the re-entry and cooldown rules. The run id
 * comes from the triggering message, so a re-delivered click finds it started.
 *
 * Attribution: when the trigger answers a campaign's send (the message it replies to, Meta's
 * `context.id` or Evolution's `contextInfo.stanzaId`, is the provider id of that send), the
 * run carries the campaign: its row's campaign_id, the CampaignId search attribute, and a
 * campaign_clicked event written with the row.
 */
export async function startFunnelRun(
  deps: { db: Db; temporal: NonNullable<ServiceDeps['temporal']> } & Partial<Pick<ServiceDeps, 'providers' | 'log' | 'config'>>,
  params: StartRunRequest & { limits: FunnelRunLimits },
): Promise<{ outcome: StartRunOutcome; runId: string }> {
  const { funnel, tenantId, contactKey } = params;
  const { db, temporal } = deps;
  const runId = funnelRunId({ ...params, funnelId: funnel.funnelId });

  // The status tells a re-delivered click whether the run may still have its first step sent
  // eagerly (queued: its workflow has not begun; a crash between the eager send and the start).
  const status = await funnelRunStatus(db, { runId });
  const existing = status !== undefined;
  if (!existing) {
    if (funnel.cooldownMs) {
      const last = await lastRunTime(db, { tenantId, contactKey, funnelId: funnel.funnelId });
      if (last && Date.now() - last.getTime() < funnel.cooldownMs) return { outcome: 'cooldown', runId };
    }
    const active = await activeRunsOfContact(db, { tenantId, contactKey, funnelId: funnel.funnelId });
    if (active.length > 0 && funnel.reentry === 'ignore') return { outcome: 'active', runId };
    if (funnel.reentry === 'restart') {
      for (const run of active) await signalIfRunning(temporal.client, run.id, cancelRunSignal, { reason: 'restarted by a new trigger' });
    }
  }
  // A re-delivered click finds the same campaign again (for the search attribute of a start that failed before).
  const campaign = UUID.test(params.triggerMessageId) ? await campaignSendAnswered(db, { tenantId, messageId: params.triggerMessageId }) : undefined;
  if (!existing) {
    const row = {
      runId,
      tenantId,
      funnelId: funnel.funnelId,
      funnelVersion: funnel.version,
      contactKey,
      channelId: params.channelId,
      triggerMessageId: params.triggerMessageId,
    };
    if (!campaign) await insertQueuedRun(db, row);
    else {
      await db.transaction(async (tx) => {
        await insertQueuedRun(tx, { ...row, campaignId: campaign.campaignId });
        await appendConversationEvents(tx, [
          {
            tenantId,
            kind: 'campaign_clicked',
            occurredAt: new Date(),
            channelId: params.channelId,
            funnelId: funnel.funnelId,
            campaignId: campaign.campaignId,
            contactId: campaign.contactId,
            messageId: params.triggerMessageId,
            runId,
          },
        ]);
      });
    }
  }
  const input: FunnelRunInput = {
    runId,
    tenantId,
    contactKey,
    channelId: params.channelId,
    funnelId: funnel.funnelId,
    funnelName: funnel.name,
    version: funnel.version,
    triggerMessageId: params.triggerMessageId,
    ...(params.notifyContact === false ? {} : { contactWorkflowId: contactWorkflowId(tenantId, contactKey) }),
    sendRetry: params.sendRetry,
    limits: params.limits,
  };
  if (params.eager && deps.providers && deps.log && (status === undefined || status === 'queued')) {
    const leadSent = await sendLeadingStep({ ...deps, providers: deps.providers, log: deps.log }, { ...input, version: funnel.version });
    if (leadSent) input.leadSent = leadSent;
  }
  try {
    await temporal.client.workflow.start<typeof funnelRunWorkflow>(WorkflowType.funnelRun, {
      workflowId: runId,
      taskQueue: temporal.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      priority: tenantPriority('funnelRun', tenantId),
      typedSearchAttributes: [
        { key: TenantIdKey, value: tenantId },
        { key: ContactPhoneKey, value: contactKey },
        { key: FunnelIdKey, value: funnel.funnelId },
        { key: ZapflowStatusKey, value: 'queued' },
        ...(campaign ? [{ key: CampaignIdKey, value: campaign.campaignId }] : []),
      ],
      staticSummary: `${funnel.name} → ${contactKey}`,
      staticDetails: `Funnel ${funnel.name} (v${funnel.version}) for contact ${contactKey}, triggered by message ${params.triggerMessageId}`,
    });
    return { outcome: existing ? 'duplicate' : 'started', runId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'duplicate', runId };
    throw err;
  }
}

/** Cancels every unfinished run of a contact (opt-out); runs already finished are fine. */
export async function cancelContactRuns(
  deps: { db: Db; client: Client },
  params: { tenantId: string; contactKey: string; reason: string },
): Promise<number> {
  const active = await activeRunsOfContact(deps.db, params);
  for (const run of active) await signalIfRunning(deps.client, run.id, cancelRunSignal, { reason: params.reason });
  return active.length;
}

/** `POST /api/funnel-runs/:id/cancel`: asks one active run of the tenant to stop. */
export async function cancelFunnelRun(
  deps: { db: Db; client: Client },
  params: { tenantId: string; runId: string; reason: string },
): Promise<{ id: string; status: 'cancelling'; reason: string }> {
  const run = await getFunnelRun(deps.db, params);
  if (!run) throw new DomainError('NotFound', `funnel run ${params.runId} not found`);
  if (!ACTIVE_RUN_STATUSES.includes(run.status)) throw new DomainError('Conflict', `funnel run is already ${run.status}`);
  if (!(await signalIfRunning(deps.client, run.id, cancelRunSignal, { reason: params.reason }))) {
    throw new DomainError('Conflict', 'funnel run has already finished');
  }
  return { id: run.id, status: 'cancelling', reason: params.reason };
}
