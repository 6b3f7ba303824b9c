/**
 * Activities of funnel runs and of the contact workflow's trigger handling: thin calls into
 * services/funnelRuns.ts and the run's bookkeeping. They are the only writers of a running
 * run's row: the API reads what runs report, never guesses.
 */
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../config';
import { getChannelById } from '../db/queries/channels';
import { changeContactTags, getContact, pauseContact } from '../db/queries/contacts';
import { appendContactEvent } from '../db/queries/conversationEvents';
import { activeRunsOfContact, markRunFinished, markRunRunning, recordRunStep } from '../db/queries/funnelRuns';
import { getFunnelVersion } from '../db/queries/funnels';
import { getTenant } from '../db/queries/tenants';
import { FailureType } from '../domain/failures';
import type { FunnelDefinition, FunnelMessage } from '../domain/funnelTypes';
import { UNTIL_RESUMED, type FunnelRunStatus } from '../domain/records';
import { channelTarget } from '../services/delivery';
import { outboundFollowUps } from '../services/followUps';
import { cancelContactRuns, funnelRunLimits, notifyAdmin, startFunnelRun, type StartRunOutcome, type StartRunRequest } from '../services/funnelRuns';
import type { ActiveRun } from '../workflows/types';
import { deliverOrFail } from './delivery';
import { temporalOf, type ActivityDeps } from './deps';

interface StepRef {
  runId: string;
  stepId: string;
  stepIndex: number;
  stepCount: number;
}

export function createFunnelActivities(deps: ActivityDeps) {
  const limits = funnelRunLimits(deps.config ?? loadConfig());
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
    async startFunnelRun(params: StartRunRequest): Promise<{ outcome: StartRunOutcome; runId: string }> {
      // No eager first send here: a typed trigger's run answers from its own workflow, so a
      // peer bot answering at once meets a run still active and the loop guard sees it as before.
      return startFunnelRun({ db: deps.db, temporal: temporalOf(deps) }, { ...params, limits });
    },

    /** Cancels every unfinished run of a contact (opt-out); runs already finished are fine. */
    async cancelContactRuns(params: { tenantId: string; contactKey: string; reason: string }): Promise<number> {
      return cancelContactRuns({ db: deps.db, client: temporalOf(deps).client }, params);
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
      await markRunRunning(deps.db, { runId: params.runId, stepCount: steps.length });
      return {
        definition: version.definition as unknown as FunnelDefinition,
        timezone: tenant?.timezone ?? 'America/Sao_Paulo',
        contact: { name: contact?.name ?? undefined, phone: params.contactKey, variables: contact?.variables ?? {} },
      };
    },

    /** A send step: one delivery per (run, step, visit), then the run row moves on. */
    async funnelSend(
      params: StepRef & { tenantId: string; channelId: string; contactKey: string; message: FunnelMessage; idempotencyKey: string; retryRefusedBefore?: number },
    ) {
      const result = await deliverOrFail(deps, {
        tenantId: params.tenantId,
        channelId: params.channelId,
        contactKey: params.contactKey,
        message: params.message,
        idempotencyKey: params.idempotencyKey,
        retryRefusedBefore: params.retryRefusedBefore,
      });
      await followUps.afterSend(params, result);
      await recordRunStep(deps.db, { runId: params.runId, status: 'running', stepId: params.stepId, stepIndex: params.stepIndex, waitingFor: null, waitingUntil: null });
      return { messageId: result.messageId, providerMessageId: result.providerMessageId, alreadySent: result.alreadySent };
    },

    async funnelProgress(
      params: StepRef & { status: FunnelRunStatus; waitingFor?: string; waitingUntil?: number; variables?: Record<string, string> },
    ) {
      await recordRunStep(deps.db, {
        runId: params.runId,
        status: params.status,
        stepId: params.stepId,
        stepIndex: params.stepIndex,
        waitingFor: params.waitingFor ?? null,
        waitingUntil: params.waitingUntil ? new Date(params.waitingUntil) : null,
        variables: params.variables,
      });
    },

    async funnelTags(params: StepRef & { tenantId: string; contactKey: string; add: string[]; remove: string[] }) {
      await changeContactTags(deps.db, { tenantId: params.tenantId, phone: params.contactKey, add: params.add, remove: params.remove });
      await recordRunStep(deps.db, { runId: params.runId, status: 'running', stepId: params.stepId, stepIndex: params.stepIndex });
    },

    /** Pauses the bot for the contact (until a human resumes it) and tells the tenant. */
    async funnelHandover(params: StepRef & { tenantId: string; channelId: string; contactKey: string; note?: string; funnelName: string }) {
      // The pause, the step and the handover's event (once per run and step) in one transaction.
      await deps.db.transaction(async (tx) => {
        await pauseContact(tx, { tenantId: params.tenantId, contactKey: params.contactKey, until: UNTIL_RESUMED, reason: `handover: ${params.funnelName}` });
        await recordRunStep(tx, { runId: params.runId, stepId: params.stepId, stepIndex: params.stepIndex });
        await appendContactEvent(tx, {
          tenantId: params.tenantId,
          contactKey: params.contactKey,
          kind: 'handover',
          channelId: params.channelId,
          runId: params.runId,
          stepId: params.stepId,
        });
      });
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
      await markRunFinished(deps.db, {
        runId: params.runId,
        status: params.status,
        error: params.error ?? null,
        cancelReason: params.cancelReason ?? null,
        variables: params.variables,
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
