/**
 * One workflow per warm-up plan (`warmup:<id>`). It asks the plan's pure rules
 * (domain/warmup.ts nextWarmupStep) what to do at workflow time: inside a window, with today's
 * rounds of the ramp not all run and the last round at least the delay ago, it runs a round
 * in ONE activity (services/warmupRounds.ts: the pair's turns, pauses and "typing…" inside it,
 * heartbeating); otherwise it sleeps on one durable timer until the window opens, tomorrow's
 * quota or the delay's end. A round skipped because a number is down (or a quota is full)
 * makes it look again after `recheckMs`: the warm-up pauses by itself while a number is down.
 *
 * Pause, resume and cancel are updates: each changes the warm-up row through an activity and
 * is answered after it; a round in flight reads the row before each turn and stops.
 *
 * Per round: one activity and one or two workflow tasks (its completion, the timer of the
 * next wait); after `roundsPerRun` rounds, one continue-as-new.
 */
import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createWarmupActivities } from '../activities/warmups';
import { FailureType } from '../domain/failures';
import { nextWarmupStep, type WarmupStatus } from '../domain/warmup';
import { cancelWarmupUpdate, pauseWarmupUpdate, resumeWarmupUpdate, warmupProgressQuery } from './definitions';
import type { WarmupProgress, WarmupTransition, WarmupWait, WarmupWorkflowInput } from './warmupTypes';

type WarmupActivities = ReturnType<typeof createWarmupActivities>;

export async function warmupWorkflow(input: WarmupWorkflowInput): Promise<WarmupProgress> {
  const { warmupId, plan, timing } = input;
  /** A round: retried with backoff and no attempt limit (its sends are keyed: a retry repeats none). */
  const rounds = proxyActivities<WarmupActivities>({
    startToCloseTimeout: timing.roundMaxMs,
    heartbeatTimeout: timing.heartbeatTimeoutMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
  const control = proxyActivities<WarmupActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  });

  let state: WarmupStatus = input.carried?.state ?? 'running';
  let round = input.carried?.round ?? 0;
  let today = input.carried?.today;
  let lastRoundAt = input.carried?.lastRoundAt;
  let roundsInRun = 0;
  let waitingFor: WarmupWait | undefined;
  let waitingUntil: number | undefined;
  /** Bumped by every answered update: a wait yields to what an update decided. */
  let generation = 0;

  const progress = (): WarmupProgress => ({ warmupId, state, waitingFor, waitingUntil, rounds: round });
  const describe = () =>
    setCurrentDetails(
      `Warm-up ${warmupId}: ${state}${waitingFor ? ` waiting for ${waitingFor} until ${new Date(waitingUntil ?? 0).toISOString()}` : ''}, ${round} rounds`,
    );
  const wait = (what: WarmupWait | undefined, until?: number) => {
    waitingFor = what;
    waitingUntil = until;
    describe();
  };

  const apply = async (action: 'pause' | 'resume' | 'cancel', accept: (t: WarmupTransition) => boolean): Promise<WarmupProgress> => {
    const t = await control.changeWarmupStatus({ warmupId, action });
    generation++;
    state = t.status;
    wait(undefined);
    if (!accept(t)) throw ApplicationFailure.nonRetryable(`warm-up is ${state}`, FailureType.WarmupNotActive);
    return progress();
  };
  const validator = () => {
    if (state === 'cancelled') throw ApplicationFailure.nonRetryable('warm-up is cancelled', FailureType.WarmupNotActive);
  };
  setHandler(pauseWarmupUpdate, () => apply('pause', (t) => t.status === 'paused'), { validator });
  setHandler(resumeWarmupUpdate, () => apply('resume', (t) => t.status === 'running'), { validator });
  setHandler(cancelWarmupUpdate, () => apply('cancel', (t) => t.status === 'cancelled'), { validator });
  setHandler(warmupProgressQuery, progress);
  describe();

  while (state !== 'cancelled' && roundsInRun < timing.roundsPerRun && !workflowInfo().continueAsNewSuggested) {
    const seen = generation;
    if (state === 'paused') {
      await condition(() => generation !== seen);
      continue;
    }
    const now = Date.now();
    const step = nextWarmupStep({ now, plan, today, lastRoundAt });
    if (step.kind === 'sleep') {
      wait(step.waitingFor, step.until);
      await condition(() => generation !== seen, Math.max(1, step.until - now));
      continue;
    }
    wait(undefined);
    const result = await rounds.runWarmupRound({ warmupId, round, day: step.day, at: now });
    round++;
    roundsInRun++;
    if (result.status === 'stopped') {
      // The row was paused or cancelled meanwhile (an update answered, or about to be).
      if (generation === seen) state = result.planStatus;
      continue;
    }
    if (result.status === 'skipped') {
      // A number is down or a quota is full: look again later (an update ends the wait).
      wait('channel', Date.now() + timing.recheckMs);
      await condition(() => generation !== seen, timing.recheckMs);
      continue;
    }
    today = { day: step.day, done: (today?.day === step.day ? today.done : 0) + 1 };
    lastRoundAt = now;
  }

  await condition(allHandlersFinished);
  if (state !== 'cancelled') {
    return continueAsNew<typeof warmupWorkflow>({ ...input, carried: { state, round, today, lastRoundAt } });
  }
  wait(undefined);
  return progress();
}
