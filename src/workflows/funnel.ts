/**
 * One funnel run for one contact: walks the snapshot of the funnel version it started with
 * (sends, delays, typing, waits for replies with branches, tags, variables, handover).
 *
 * Round trips are spent like money: short idempotent steps (sends, row updates) are local
 * activities, so a "send, wait 5 s, send" run costs two workflow tasks and one timer; when
 * its starter already sent the first message (`leadSent`), the first task goes from the
 * run's snapshot straight to the timer.
 * Every send carries an idempotency key (run, step, visit): a retried or replayed step
 * never sends twice what the provider already accepted.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time';
import { ZapflowStatusKey } from '../domain/searchAttributes';
import type { createActivities } from '../activities';
import { FailureType, WAIT_FAILURES } from '../domain/failures';
import { branchMatches } from '../domain/funnelMatch';
import type { FunnelMessage, FunnelStep } from '../domain/funnelTypes';
import { renderMessage, renderValues } from '../domain/funnelRender';
import { renderTemplate } from '../domain/template';
import { nextTimeOfDay } from '../domain/timeOfDay';
import { cancelRunSignal, funnelProgressQuery, funnelReplySignal, funnelWaitingSignal } from './definitions';
import type { FunnelProgress, FunnelReply, FunnelRunInput, FunnelRunLimits } from './types';

type Activities = ReturnType<typeof createActivities>;

/** Bookkeeping (run row, tags, variables): local, quick, retried briefly. */
const bookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/** "typing…" blocks for its duration on Evolution: a regular activity with room for it. */
const presence = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 2 },
});

/** Runs started before their input carried limits. */
const DEFAULT_LIMITS: FunnelRunLimits = { maxStepVisits: 100, historyEvents: 2_000 };

function describeMessage(message: FunnelMessage): string {
  return message.type === 'template' ? `template ${message.name}` : message.type;
}

/** The delay a wait asks for (SendDeferred: quota window or pacing; RateLimited: a provider 429), else undefined. */
function rateLimitDelay(err: unknown): number | undefined {
  const failure = applicationFailureOf(err);
  if (!failure?.type || !WAIT_FAILURES.has(failure.type)) return undefined;
  const delay = failure.nextRetryDelay;
  const ms = delay === undefined || delay === null ? NaN : msToNumber(delay);
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 24 * 3_600_000) : 1000;
}

/** The ApplicationFailure an activity raised: the error itself, or the cause of an ActivityFailure. */
function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ApplicationFailure) return e;
  }
  return undefined;
}

function failureMessage(err: unknown): { message: string; type?: string } {
  const failure = applicationFailureOf(err);
  if (failure) return { message: failure.message, type: failure.type ?? undefined };
  if (err instanceof ActivityFailure && err.cause) return { message: err.cause.message };
  return { message: (err as Error)?.message ?? String(err) };
}

export async function funnelRunWorkflow(input: FunnelRunInput): Promise<FunnelProgress> {
  const sends = proxyLocalActivities<Activities>({
    startToCloseTimeout: '1m',
    // Sends retry per the tenant's policy (configuration); rate limits carry their own delay.
    retry: {
      maximumAttempts: input.sendRetry.maximumAttempts,
      initialInterval: input.sendRetry.initialIntervalMs,
      maximumInterval: input.sendRetry.maximumIntervalMs,
      backoffCoefficient: 2,
    },
    localRetryThreshold: '10s',
  });

  let cancelReason: string | undefined;
  let waitingForReply = false;
  let reply: FunnelReply | undefined;
  const progress: FunnelProgress = {
    status: 'running',
    stepCount: 0,
    variables: { ...(input.resume?.variables ?? {}) },
    visits: { ...(input.resume?.visits ?? {}) },
  };

  setHandler(cancelRunSignal, ({ reason }) => {
    cancelReason ??= reason;
  });
  setHandler(funnelReplySignal, (r) => {
    if (waitingForReply && !reply) reply = r; // a reply outside a wait is not for this run
  });
  setHandler(funnelProgressQuery, () => ({ ...progress }));

  const { definition, contact, timezone } = await bookkeeping.beginFunnelRun({
    runId: input.runId,
    tenantId: input.tenantId,
    funnelId: input.funnelId,
    version: input.version,
    contactKey: input.contactKey,
  });
  const steps = definition.steps;
  progress.stepCount = steps.length;
  const indexOf = new Map(steps.map((s, i) => [s.id, i]));
  const values = () => renderValues(contact, progress.variables);

  const summary = (text: string) => setCurrentDetails(`${input.funnelName} → ${input.contactKey}: ${text}`);
  // The status attribute is kept current when the starter registered it (the time-skipping
  // test server has no custom search attributes).
  const visible = workflowInfo().typedSearchAttributes.get(ZapflowStatusKey) !== undefined;
  const setStatus = (status: FunnelProgress['status']) => {
    progress.status = status;
    if (visible) upsertSearchAttributes([{ key: ZapflowStatusKey, value: status }]);
  };
  const notifyContactWorkflow = async (waiting: boolean) => {
    // Started where no contact workflow needs to know (the dispatcher routes replies by the
    // database): no signal, so no failed external signal and no extra workflow task. Runs of
    // recorded histories all carry the id, so their commands are unchanged.
    if (!input.contactWorkflowId) return;
    try {
      await getExternalWorkflowHandle(input.contactWorkflowId).signal(funnelWaitingSignal, {
        runId: input.runId,
        funnelId: input.funnelId,
        waiting,
      });
    } catch {
      // The contact workflow ended idle: it reads waiting runs from the database when it restarts.
    }
  };
  const finish = async (status: 'completed' | 'cancelled' | 'failed', error?: { message: string; type?: string; step?: string }) => {
    setStatus(status);
    if (error) progress.error = error.message;
    if (status === 'cancelled') progress.cancelReason = cancelReason;
    summary(status === 'cancelled' ? `cancelled (${cancelReason})` : status);
    await CancellationScope.nonCancellable(() =>
      bookkeeping.finishFunnelRun({
        runId: input.runId,
        tenantId: input.tenantId,
        status,
        error,
        cancelReason,
        variables: progress.variables,
        funnelName: input.funnelName,
        contactKey: input.contactKey,
      }),
    );
    return { ...progress };
  };

  let index = input.resume ? (indexOf.get(input.resume.stepId) ?? 0) : 0;
  const startIndex = index;
  const limits = input.limits ?? DEFAULT_LIMITS;
  try {
    while (index >= 0 && index < steps.length) {
      if (cancelReason) return await finish('cancelled');
      const step: FunnelStep = steps[index];
      // A run that loops through waits grows its history: past the limit it carries on as a
      // new execution from this step, with its variables and visits (so idempotency keys go on
      // where they were). Not on the first step of an execution: that would never end.
      if (index !== startIndex && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limits.historyEvents)) {
        await condition(allHandlersFinished);
        return await continueAsNew<typeof funnelRunWorkflow>({
          ...input,
          resume: { stepId: step.id, variables: progress.variables, visits: progress.visits },
        });
      }
      const visit = (progress.visits[step.id] = (progress.visits[step.id] ?? 0) + 1);
      if (visit > limits.maxStepVisits) {
        const message = `step ${step.id} visited more than ${limits.maxStepVisits} times in one run: a loop that never ends`;
        await finish('failed', { message, type: FailureType.FunnelLoopLimit, step: step.id });
        throw ApplicationFailure.nonRetryable(message, FailureType.FunnelLoopLimit, { step: step.id });
      }
      progress.stepId = step.id;
      progress.stepIndex = index;
      progress.waitingFor = undefined;
      progress.waitingUntil = undefined;
      summary(`step ${index + 1}/${steps.length} ${step.id} (${step.type})`);
      const following = (explicit?: string) => (explicit !== undefined ? indexOf.get(explicit)! : index + 1);
      const stepRef = { runId: input.runId, stepId: step.id, stepIndex: index, stepCount: steps.length };

      switch (step.type) {
        case 'send': {
          if (visit === 1 && index === 0 && !input.resume && input.leadSent?.stepId === step.id) {
            // Sent before the run started, under this very key (run, step, visit 1), and the
            // step recorded: nothing to do here. Decided by the input alone, so replay is stable.
            index = following(step.next);
            break;
          }
          try {
            for (;;) {
              try {
                await sends.funnelSend({
                  ...stepRef,
                  tenantId: input.tenantId,
                  channelId: input.channelId,
                  contactKey: input.contactKey,
                  message: renderMessage(step.message, values()),
                  idempotencyKey: `${input.runId}:${step.id}:${visit}`,
                  ...(input.replayedAt !== undefined ? { retryRefusedBefore: input.replayedAt } : {}),
                });
                break;
              } catch (err) {
                // A quota or pacing wait is not a failure: the send is never dropped, and
                // waiting must not use up the attempts meant for provider errors.
                const wait = rateLimitDelay(err);
                if (wait === undefined || cancelReason) throw err;
                summary(`step ${index + 1}/${steps.length} ${step.id}: waiting for the channel's quota`);
                await condition(() => cancelReason !== undefined, wait);
                if (cancelReason) break;
              }
            }
          } catch (err) {
            if (isCancellation(err)) throw err;
            const failure = failureMessage(err);
            await finish('failed', { ...failure, step: step.id });
            throw ApplicationFailure.nonRetryable(
              `step ${step.id} (send ${describeMessage(step.message)}) failed: ${failure.message}`,
              FailureType.FunnelStepFailed,
              { step: step.id, cause: failure.type ?? null },
            );
          }
          index = following(step.next);
          break;
        }
        case 'delay':
        case 'typing': {
          const now = Date.now(); // workflow time: deterministic
          const until =
            step.type === 'delay' && step.untilTime ? nextTimeOfDay(now, step.untilTime, timezone) : now + (step.durationMs ?? 0);
          progress.waitingFor = step.type;
          progress.waitingUntil = until;
          setStatus('waiting');
          summary(`step ${index + 1}/${steps.length} ${step.id}: waiting (${step.type}) until ${new Date(until).toISOString()}`);
          await bookkeeping.funnelProgress({ ...stepRef, status: 'waiting', waitingFor: step.type, waitingUntil: until });
          if (step.type === 'typing') {
            await presence.showTyping({
              tenantId: input.tenantId,
              channelId: input.channelId,
              contactKey: input.contactKey,
              durationMs: step.durationMs,
            });
          }
          await condition(() => cancelReason !== undefined, Math.max(0, until - Date.now()));
          setStatus('running');
          index = following(step.next);
          break;
        }
        case 'waitForReply': {
          const until = Date.now() + step.timeoutMs;
          progress.waitingFor = 'reply';
          progress.waitingUntil = until;
          setStatus('waiting');
          summary(`step ${index + 1}/${steps.length} ${step.id}: waiting for a reply until ${new Date(until).toISOString()}`);
          reply = undefined;
          waitingForReply = true;
          await bookkeeping.funnelProgress({ ...stepRef, status: 'waiting', waitingFor: 'reply', waitingUntil: until });
          await notifyContactWorkflow(true);
          const answered = await condition(() => reply !== undefined || cancelReason !== undefined, step.timeoutMs);
          waitingForReply = false;
          setStatus('running');
          if (cancelReason) break;
          if (!answered || !reply) {
            await notifyContactWorkflow(false);
            index = step.onTimeout !== undefined ? indexOf.get(step.onTimeout)! : following(step.next);
            break;
          }
          const got: FunnelReply = reply;
          if (step.saveAs) progress.variables[step.saveAs] = got.button?.text ?? got.text ?? '';
          const branch = step.branches.find((b) => branchMatches(b, got));
          index = branch ? indexOf.get(branch.next)! : step.default !== undefined ? indexOf.get(step.default)! : following(step.next);
          break;
        }
        case 'tag':
        case 'untag':
          await bookkeeping.funnelTags({
            ...stepRef,
            tenantId: input.tenantId,
            contactKey: input.contactKey,
            add: step.type === 'tag' ? step.tags : [],
            remove: step.type === 'untag' ? step.tags : [],
          });
          index = following(step.next);
          break;
        case 'set':
          progress.variables[step.variable] = renderTemplate(step.value, values());
          await bookkeeping.funnelProgress({ ...stepRef, status: 'running', variables: progress.variables });
          index = following(step.next);
          break;
        case 'handover':
          await bookkeeping.funnelHandover({
            ...stepRef,
            tenantId: input.tenantId,
            channelId: input.channelId,
            contactKey: input.contactKey,
            note: step.note,
            funnelName: input.funnelName,
          });
          return await finish('completed');
        case 'goto':
          index = indexOf.get(step.target)!;
          break;
        case 'end':
          index = steps.length;
          break;
      }
    }
    if (cancelReason) return await finish('cancelled');
    return await finish('completed');
  } catch (err) {
    if (isCancellation(err)) {
      // Cancelled from Temporal (UI, CLI): record it, then let the run show as Cancelled.
      cancelReason ??= 'cancelled in Temporal';
      await finish('cancelled');
    }
    throw err;
  }
}
