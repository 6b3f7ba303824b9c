/**
 * Activities of funnel runs and of the contact workflow's trigger handling. They are the
 * only writers of funnel_runs: the API reads what runs report, never guesses.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { getChannelById, getTenant } from '../db/queries/channels';
import { getContact } from '../db/queries/contacts';
import { activeRunsOfContact, getFunnelVersion, lastRunTime } from '../db/queries/funnels';
import { contacts, funnelRuns, type FunnelRunStatus } from '../db/schema';
import type { FunnelDefinition, FunnelMessage, FunnelTriggerSpec } from '../domain/funnelTypes';
import { contactWorkflowId } from '../domain/ids';
import { ContactPhoneKey, FunnelIdKey, TenantIdKey, ZapflowStatusKey } from '../temporal/searchAttributes';
import type { ActiveRun, FunnelRunInput, SendRetryPolicy } from '../workflows/types';
import { channelTarget } from '../services/delivery';
import { deliverOrFail, type ActivityDeps } from './deps';
import { outboundFollowUps } from './followUps';
import { FailureType } from './errors';

export function funnelRunId(params: { tenantId: string; contactKey: string; funnelId: string; triggerMessageId: string }): string {
  return `funnel:${params.tenantId}:${params.contactKey}:${params.funnelId}:${params.triggerMessageId}`;
}

/** A handover pauses until a person resumes the contact (not 'infinity': drivers map it differently). */
export const UNTIL_RESUMED = new Date('9999-12-31T00:00:00Z');

interface StepRef {
  runId: string;
  stepId: string;
  stepIndex: number;
  stepCount: number;
}

/** Tells the tenant's admin contact (settings.adminContact) about something that needs a human. */
export async function notifyAdmin(deps: ActivityDeps, params: { tenantId: string; text: string; idempotencyKey: string }): Promise<boolean> {
  const tenant = await getTenant(deps.db, { tenantId: params.tenantId });
  const admin = tenant?.settings.adminContact;
  if (!admin?.channelId || !admin.phone) return false;
  try {
    await deliverOrFail(deps, {
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

/** Asks a run to stop; one that already finished is fine. */
export async function signalCancel(deps: ActivityDeps, runId: string, reason: string): Promise<void> {
  if (!deps.temporal) throw ApplicationFailure.nonRetryable('worker has no Temporal client', 'Misconfigured');
  await deps.temporal.client.workflow
    .getHandle(runId)
    .signal('cancel', { reason })
    .catch((err) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    });
}

async function updateRun(deps: ActivityDeps, runId: string, set: Partial<typeof funnelRuns.$inferInsert>): Promise<void> {
  await deps.db
    .update(funnelRuns)
    .set({ ...set, updatedAt: sql`now()` })
    .where(eq(funnelRuns.id, runId));
}

export function createFunnelActivities(deps: ActivityDeps) {
  const followUps = outboundFollowUps(deps);
  return {
    /** Contact workflow start: the runs of this contact that are not finished. */
    async loadContactRuns(params: { tenantId: string; contactKey: string }): Promise<ActiveRun[]> {
      const rows = await activeRunsOfContact(deps.db, params);
      return rows.map((r) => ({ runId: r.id, funnelId: r.funnelId, waiting: r.status === 'waiting' && r.waitingFor === 'reply' }));
    },

    /**
     * Starts a funnel run as its own workflow, after the re-entry and cooldown rules. The
     * run id comes from the triggering message, so a re-delivered click finds it started.
     */
    async startFunnelRun(params: {
      tenantId: string;
      contactKey: string;
      channelId: string;
      triggerMessageId: string;
      funnel: FunnelTriggerSpec;
      sendRetry: SendRetryPolicy;
    }): Promise<{ outcome: 'started' | 'duplicate' | 'active' | 'cooldown'; runId: string }> {
      const { funnel } = params;
      const runId = funnelRunId({ ...params, funnelId: funnel.funnelId });
      const temporal = deps.temporal;
      if (!temporal) throw ApplicationFailure.nonRetryable('worker has no Temporal client for starting runs', 'Misconfigured');

      const [existing] = await deps.db.select({ id: funnelRuns.id }).from(funnelRuns).where(eq(funnelRuns.id, runId)).limit(1);
      if (!existing) {
        if (funnel.cooldownMs) {
          const last = await lastRunTime(deps.db, { tenantId: params.tenantId, contactKey: params.contactKey, funnelId: funnel.funnelId });
          if (last && Date.now() - last.getTime() < funnel.cooldownMs) return { outcome: 'cooldown', runId };
        }
        const active = await activeRunsOfContact(deps.db, { ...params, funnelId: funnel.funnelId });
        if (active.length > 0 && funnel.reentry === 'ignore') return { outcome: 'active', runId };
        if (funnel.reentry === 'restart') {
          for (const run of active) await signalCancel(deps, run.id, 'restarted by a new trigger');
        }
        await deps.db
          .insert(funnelRuns)
          .values({
            id: runId,
            tenantId: params.tenantId,
            funnelId: funnel.funnelId,
            funnelVersion: funnel.version,
            contactKey: params.contactKey,
            channelId: params.channelId,
            triggerMessageId: params.triggerMessageId,
            status: 'queued',
          })
          .onConflictDoNothing();
      }
      const input: FunnelRunInput = {
        runId,
        tenantId: params.tenantId,
        contactKey: params.contactKey,
        channelId: params.channelId,
        funnelId: funnel.funnelId,
        funnelName: funnel.name,
        version: funnel.version,
        triggerMessageId: params.triggerMessageId,
        contactWorkflowId: contactWorkflowId(params.tenantId, params.contactKey),
        sendRetry: params.sendRetry,
      };
      try {
        await temporal.client.workflow.start('funnelRunWorkflow', {
          workflowId: runId,
          taskQueue: temporal.taskQueue,
          args: [input],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: TenantIdKey, value: params.tenantId },
            { key: ContactPhoneKey, value: params.contactKey },
            { key: FunnelIdKey, value: funnel.funnelId },
            { key: ZapflowStatusKey, value: 'queued' },
          ],
          staticSummary: `${funnel.name} → ${params.contactKey}`,
          staticDetails: `Funnel ${funnel.name} (v${funnel.version}) for contact ${params.contactKey}, triggered by message ${params.triggerMessageId}`,
        });
        return { outcome: existing ? 'duplicate' : 'started', runId };
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'duplicate', runId };
        throw err;
      }
    },

    /** Cancels every unfinished run of a contact (opt-out); runs already finished are fine. */
    async cancelContactRuns(params: { tenantId: string; contactKey: string; reason: string }): Promise<number> {
      const active = await activeRunsOfContact(deps.db, params);
      for (const run of active) await signalCancel(deps, run.id, params.reason);
      return active.length;
    },

    /** A run's first step: its funnel snapshot (the version it started with) and the contact. */
    async beginFunnelRun(params: { runId: string; tenantId: string; funnelId: string; version: number; contactKey: string }) {
      const version = await getFunnelVersion(deps.db, { funnelId: params.funnelId, version: params.version });
      if (!version) throw ApplicationFailure.nonRetryable(`funnel ${params.funnelId} v${params.version} not found`, FailureType.NotFound);
      const [tenant, contact] = await Promise.all([
        getTenant(deps.db, { tenantId: params.tenantId }),
        getContact(deps.db, { tenantId: params.tenantId, phone: params.contactKey }),
      ]);
      const steps = (version.definition as { steps: unknown[] }).steps;
      await deps.db
        .update(funnelRuns)
        .set({ status: 'running', stepCount: steps.length, updatedAt: sql`now()` })
        .where(and(eq(funnelRuns.id, params.runId), sql`${funnelRuns.status} in ('queued', 'running')`));
      return {
        definition: version.definition as unknown as FunnelDefinition,
        timezone: tenant?.timezone ?? 'America/Sao_Paulo',
        contact: { name: contact?.name ?? undefined, phone: params.contactKey, variables: contact?.variables ?? {} },
      };
    },

    /** A send step: one delivery per (run, step, visit), then the run row moves on. */
    async funnelSend(params: StepRef & { tenantId: string; channelId: string; contactKey: string; message: FunnelMessage; idempotencyKey: string }) {
      const result = await deliverOrFail(deps, {
        tenantId: params.tenantId,
        channelId: params.channelId,
        contactKey: params.contactKey,
        message: params.message,
        idempotencyKey: params.idempotencyKey,
      });
      await followUps.afterSend(params, result);
      await updateRun(deps, params.runId, {
        status: 'running',
        currentStep: params.stepId,
        stepIndex: params.stepIndex,
        waitingFor: null,
        waitingUntil: null,
      });
      return { messageId: result.messageId, providerMessageId: result.providerMessageId, alreadySent: result.alreadySent };
    },

    async funnelProgress(
      params: StepRef & { status: FunnelRunStatus; waitingFor?: string; waitingUntil?: number; variables?: Record<string, string> },
    ) {
      await updateRun(deps, params.runId, {
        status: params.status,
        currentStep: params.stepId,
        stepIndex: params.stepIndex,
        waitingFor: params.waitingFor ?? null,
        waitingUntil: params.waitingUntil ? new Date(params.waitingUntil) : null,
        ...(params.variables ? { variables: params.variables } : {}),
      });
    },

    async funnelTags(params: StepRef & { tenantId: string; contactKey: string; add: string[]; remove: string[] }) {
      const where = and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey));
      if (params.add.length) {
        await deps.db
          .update(contacts)
          .set({
            tags: sql`(select coalesce(array_agg(distinct t), '{}') from unnest(${contacts.tags} || ${sql.param(params.add)}::text[]) t)`,
            updatedAt: sql`now()`,
          })
          .where(where);
      }
      if (params.remove.length) {
        await deps.db
          .update(contacts)
          .set({
            tags: sql`(select coalesce(array_agg(t), '{}') from unnest(${contacts.tags}) t where not (t = any(${sql.param(params.remove)}::text[])))`,
            updatedAt: sql`now()`,
          })
          .where(where);
      }
      await updateRun(deps, params.runId, { status: 'running', currentStep: params.stepId, stepIndex: params.stepIndex });
    },

    /** Pauses the bot for the contact (until a human resumes it) and tells the tenant. */
    async funnelHandover(params: StepRef & { tenantId: string; channelId: string; contactKey: string; note?: string; funnelName: string }) {
      await deps.db
        .update(contacts)
        .set({ pausedUntil: UNTIL_RESUMED, pauseReason: `handover: ${params.funnelName}`, updatedAt: sql`now()` })
        .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)));
      await updateRun(deps, params.runId, { currentStep: params.stepId, stepIndex: params.stepIndex });
      await notifyAdmin(deps, {
        tenantId: params.tenantId,
        text: `zapflow: o contato ${params.contactKey} pediu atendimento humano (funil "${params.funnelName}")${params.note ? `: ${params.note}` : ''}.`,
        idempotencyKey: `${params.runId}:${params.stepId}:handover`,
      });
    },

    /** "typing…" for the step's duration where the provider shows it. */
    async showTyping(params: { tenantId: string; channelId: string; contactKey: string; durationMs: number }) {
      const channel = await getChannelById(deps.db, { channelId: params.channelId });
      if (!channel || channel.tenantId !== params.tenantId) return;
      await deps.providers[channel.provider].presence(channelTarget(channel), params.contactKey, 'composing', params.durationMs);
    },

    async finishFunnelRun(params: {
      runId: string;
      tenantId: string;
      status: 'completed' | 'cancelled' | 'failed';
      error?: { message: string; type?: string; step?: string };
      cancelReason?: string;
      variables: Record<string, string>;
      funnelName: string;
      contactKey: string;
    }) {
      await updateRun(deps, params.runId, {
        status: params.status,
        error: params.error ?? null,
        cancelReason: params.cancelReason ?? null,
        variables: params.variables,
        waitingFor: null,
        waitingUntil: null,
        finishedAt: sql`now()` as unknown as Date,
      });
      if (params.status === 'failed') {
        await notifyAdmin(deps, {
          tenantId: params.tenantId,
          text: `zapflow: o funil "${params.funnelName}" falhou para ${params.contactKey}${params.error?.step ? ` no passo ${params.error.step}` : ''}: ${params.error?.message ?? 'erro'}. Run: ${params.runId}`,
          idempotencyKey: `${params.runId}:failed-notice`,
        });
      }
    },
  };
}
