/**
 * One workflow per campaign (`campaign:<id>`). It sleeps until the campaign's start, then
 * runs batch activities that send many recipients each (services/campaignSender.ts): a send
 * never costs a workflow task. A batch returns when the run's page is full (the workflow
 * continues as new, so its history stays short), when every channel must wait (a window
 * closed, a quota full, no channel: the workflow sleeps on a durable timer until the time
 * the batch gave, and "tomorrow at 09:00" costs one timer), or when the audience is done.
 * A wait for a channel ends early when the channel's workflow says it is usable again
 * (signal `channelsChanged`: it reconnected, its quality recovered).
 *
 * Pause, resume and cancel are updates: each changes the campaign row through an activity
 * (which, for pause and cancel, waits until no send of the campaign is in flight) and is
 * answered after it. The row, not this workflow, decides whether a send may be claimed, so
 * a batch running meanwhile stops at its next claim.
 *
 * Per batch: one activity and one or two workflow tasks (its completion, and the timer of a
 * wait); per page, one continue-as-new.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createCampaignActivities } from '../activities/campaigns';
import type { CampaignState, CampaignWait } from '../domain/campaign';
import { FailureType } from '../domain/failures';
import {
  campaignChannelsChangedSignal,
  campaignProgressQuery,
  cancelCampaignUpdate,
  pauseCampaignUpdate,
  resumeCampaignUpdate,
} from './definitions';
import type { CampaignProgress, CampaignTransition, CampaignWorkflowInput } from './types';

type CampaignActivities = ReturnType<typeof createCampaignActivities>;

export async function campaignWorkflow(input: CampaignWorkflowInput): Promise<CampaignProgress> {
  const { campaignId, timing } = input;
  /**
   * The batch: it ends itself within batchMaxMs (plus the send in flight and its record);
   * it heartbeats every second, so a lost worker is noticed within heartbeatTimeoutMs and the
   * batch retried (it continues the page from its last heartbeat). No maximumAttempts: a
   * batch that keeps failing (the database is down) waits with backoff, and the campaign
   * with it.
   */
  const batches = proxyActivities<CampaignActivities>({
    startToCloseTimeout: timing.batchMaxMs + timing.leaseMs,
    heartbeatTimeout: timing.heartbeatTimeoutMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
  /** A pause or cancel waits at most one lease for the sends in flight. */
  const control = proxyActivities<CampaignActivities>({
    startToCloseTimeout: timing.leaseMs * 2,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  });

  let state: CampaignState = input.carried?.state ?? 'scheduled';
  let waitingFor: CampaignWait | undefined;
  let waitingUntil: number | undefined;
  let processed = input.carried?.processed ?? 0;
  let batchCount = input.carried?.batches ?? 0;
  let processedInRun = 0;
  /** Bumped by every answered update: a wait or a batch's result yields to what an update decided. */
  let generation = 0;

  const progress = (): CampaignProgress => ({ campaignId, state, waitingFor, waitingUntil, processed, batches: batchCount });
  const finished = () => state === 'completed' || state === 'cancelled';
  const notActive = () => ApplicationFailure.nonRetryable(`campaign is ${state}`, FailureType.CampaignNotActive);
  const describe = () =>
    setCurrentDetails(
      `Campaign ${campaignId}: ${state}${waitingFor ? ` for ${waitingFor} until ${new Date(waitingUntil ?? 0).toISOString()}` : ''}, ${processed} recipients processed`,
    );
  const enter = (next: CampaignState, wait?: { waitingFor: CampaignWait; until: number }) => {
    state = next;
    waitingFor = wait?.waitingFor;
    waitingUntil = wait?.until;
    describe();
  };

  /** An update's change: the row's status afterwards becomes the workflow's. */
  const apply = async (action: 'pause' | 'resume' | 'cancel', accept: (t: CampaignTransition) => boolean): Promise<CampaignProgress> => {
    const t = await control.changeCampaignStatus({ campaignId, action, workflowNow: Date.now(), startAt: input.startAt });
    generation++;
    if (t.status !== state || t.applied) enter(t.status);
    if (!accept(t)) throw notActive();
    return progress();
  };
  const validator = () => {
    if (finished()) throw notActive();
  };
  setHandler(pauseCampaignUpdate, () => apply('pause', (t) => t.status === 'paused'), { validator });
  setHandler(resumeCampaignUpdate, () => apply('resume', (t) => !['completed', 'cancelled'].includes(t.status)), { validator });
  setHandler(cancelCampaignUpdate, () => apply('cancel', (t) => t.status === 'cancelled'), { validator });
  setHandler(campaignProgressQuery, progress);
  /** Bumped when a channel of the campaign may be usable again (its channel workflow signals): a wait for a channel ends early. */
  let channelWakes = 0;
  setHandler(campaignChannelsChangedSignal, () => {
    channelWakes++;
  });
  describe();

  let pageFull = false;
  while (!finished() && !pageFull && !workflowInfo().continueAsNewSuggested) {
    if (state === 'paused') {
      const seen = generation;
      await condition(() => generation !== seen);
      continue;
    }
    const startIn = (input.startAt ?? 0) - Date.now();
    if (startIn > 0) {
      enter('scheduled');
      const seen = generation;
      await condition(() => generation !== seen, startIn);
      continue;
    }
    if (processedInRun >= timing.pageSize) {
      pageFull = true;
      break;
    }
    if (state !== 'running') enter('running');
    const seen = generation;
    const result = await batches.runCampaignBatch({
      campaignId,
      maxSends: timing.pageSize - processedInRun,
      maxMs: timing.batchMaxMs,
      workflowNow: Date.now(),
    });
    batchCount++;
    processed += result.processed;
    processedInRun += result.processed;
    if (result.kind === 'completed') {
      enter('completed');
      break;
    }
    // An update answered while the batch ran: the state it left stands.
    if (generation !== seen) continue;
    switch (result.kind) {
      case 'stopped':
        enter(result.status);
        break;
      case 'page':
        pageFull = true;
        break;
      case 'continue':
        describe();
        break;
      case 'wait': {
        enter('waiting', { waitingFor: result.waitingFor, until: result.until });
        const wakesSeen = channelWakes;
        const woken = () => result.waitingFor === 'channel' && channelWakes !== wakesSeen;
        await condition(() => generation !== seen || woken(), Math.max(1, result.until - Date.now()));
        if (generation === seen) enter('running');
        break;
      }
    }
  }

  await condition(allHandlersFinished);
  if (!finished()) {
    return continueAsNew<typeof campaignWorkflow>({ ...input, carried: { state, processed, batches: batchCount } });
  }
  return progress();
}
