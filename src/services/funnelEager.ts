/**
 * The eager first send of a funnel run: when a run's first step is a send, its starter (the
 * dispatcher, or the contact workflow's start activity) delivers it right after recording the
 * run, before the run's workflow exists, so the first reply leaves at the channel's own pace
 * whatever backlog of workflow tasks Temporal has.
 *
 * Exactly once either way: the send uses the run's own idempotency key for (run, step,
 * visit 1), the one the workflow would use. When it went out (or was found sent), the step is
 * recorded and the workflow is told (`leadSent`) to go on from the next step; when it waits
 * (quota, pacing, the number down) or fails, the workflow sends it as it always has and the
 * delivery finds whatever this attempt left on the row.
 */
import { getContact } from '../db/queries/contacts';
import { getFunnelVersion } from '../db/queries/funnels';
import { recordRunStep } from '../db/queries/funnelRuns';
import { renderMessage, renderValues } from '../domain/funnelRender';
import type { FunnelStep } from '../domain/funnelTypes';
import { deliverCounted } from './delivery';
import type { ServiceDeps } from './deps';
import { outboundFollowUps } from './followUps';

type SendStep = Extract<FunnelStep, { type: 'send' }>;

/** Funnel versions are immutable snapshots: their first step is cached by (funnel, version). */
const firstSteps = new Map<string, SendStep | null>();
const FIRST_STEPS_MAX = 2_000;

async function firstSendStep(deps: Pick<ServiceDeps, 'db'>, funnelId: string, version: number): Promise<SendStep | undefined> {
  const key = `${funnelId}:${version}`;
  let step = firstSteps.get(key);
  if (step === undefined) {
    const row = await getFunnelVersion(deps.db, { funnelId, version });
    if (!row) return undefined; // the workflow reports a missing version
    const first = (row.definition as { steps?: FunnelStep[] }).steps?.[0];
    step = first?.type === 'send' ? first : null;
    if (firstSteps.size >= FIRST_STEPS_MAX) firstSteps.clear();
    firstSteps.set(key, step);
  }
  return step ?? undefined;
}

/** The idempotency key of a run's send: the same string the run workflow builds. */
export function runSendKey(runId: string, stepId: string, visit: number): string {
  return `${runId}:${stepId}:${visit}`;
}

/**
 * Sends the run's first step now if it is a send. Returns the step when it went out (or had
 * already gone out); undefined when there is nothing to send eagerly or the send did not go
 * (waiting, refused, failed): the workflow then sends it under the same key.
 */
export async function sendLeadingStep(
  deps: ServiceDeps,
  run: { runId: string; tenantId: string; contactKey: string; channelId: string; funnelId: string; version: number },
): Promise<{ stepId: string } | undefined> {
  const step = await firstSendStep(deps, run.funnelId, run.version);
  if (!step) return undefined;
  const contact = await getContact(deps.db, { tenantId: run.tenantId, phone: run.contactKey });
  const values = renderValues({ name: contact?.name ?? undefined, phone: run.contactKey, variables: contact?.variables ?? {} }, {});
  const send = { tenantId: run.tenantId, channelId: run.channelId, contactKey: run.contactKey };
  let alreadySent: boolean;
  try {
    ({ alreadySent } = await deliverCounted(deps, { ...send, message: renderMessage(step.message, values), idempotencyKey: runSendKey(run.runId, step.id, 1) }));
  } catch (err) {
    // Nothing lost: the row says what happened and the workflow's own send takes it from there.
    deps.log.debug({ err: (err as Error).message, runId: run.runId }, 'eager first send left to the run');
    return undefined;
  }
  await outboundFollowUps(deps).afterSend(send, { alreadySent });
  // The step as the run's own send would record it (the status stays: the workflow sets it when it begins).
  await recordRunStep(deps.db, { runId: run.runId, stepId: step.id, stepIndex: 0, waitingFor: null, waitingUntil: null });
  return { stepId: step.id };
}
