/**
 * One workflow per channel (`channel:<id>`), for every channel (operator-added ones too). The
 * ingest and the API record each connection or quality change, then signal it here
 * (`channelEvent`); this workflow decides when to act:
 *
 * - down (`disconnected`, `closed`): a durable timer of CHANNEL_DISCONNECT_GRACE from the
 *   drop; if the number is still down when it fires, the admin is told (one activity).
 *   Campaigns do not need telling: their batches skip a channel that cannot send, and the
 *   delivery holds funnel sends on it;
 * - usable again: the campaigns waiting for it are woken, and the admin hears it is back when
 *   they were told it was down (one activity);
 * - a quality drop (Meta RED, a smaller messaging limit, a restricted account): the admin is
 *   told; campaigns skip a RED number until it recovers;
 * - quiet for CHANNEL_WATCH_POLL: the provider is asked for the state (one activity).
 *
 * Cost: while nothing happens, one timer and one poll activity per CHANNEL_WATCH_POLL. It
 * continues as new after CHANNEL_WATCH_MAX_EVENTS events, carrying its state.
 */
import { allHandlersFinished, condition, continueAsNew, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createChannelActivities } from '../activities/channels';
import { isUsableState, type ChannelState } from '../domain/channelState';
import { isBadQuality, isDownState, type ChannelEvent, type ChannelWatchInput, type ChannelWatchView } from '../domain/channelWatch';
import { channelEventSignal, channelWatchQuery } from './definitions';

type ChannelActivities = ReturnType<typeof createChannelActivities>;

/** Notices and campaign wake-ups: database work and one send; retried until they pass. */
const act = proxyActivities<ChannelActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** The poll: a provider call that may fail for a while (its server down); the next poll tries again. */
const poll = proxyActivities<ChannelActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
});

export async function channelWorkflow(input: ChannelWatchInput): Promise<void> {
  const { channelId, timing } = input;
  let state: ChannelState = input.carried?.state ?? 'unknown';
  let downSince = input.carried?.downSince;
  let alerted = input.carried?.alerted ?? false;
  let qualityHeld = input.carried?.qualityHeld ?? false;
  let events = 0;
  let lastEventAt: number | undefined;
  let deleted = false;
  const inbox: ChannelEvent[] = [];

  setHandler(channelEventSignal, (event) => {
    // Bounded: a burst beyond the page's remaining events waits for the next run's handling.
    if (inbox.length < 1_000) inbox.push(event);
  });
  setHandler(channelWatchQuery, (): ChannelWatchView => ({ channelId, state, downSince, alerted, qualityHeld, events, lastEventAt }));

  /** `previous`: the stored state the change replaced (the workflow may not have known it, e.g. on its first event). */
  const onState = async (next: ChannelState, at: number, previous?: string) => {
    const before = previous ?? state;
    state = next;
    if (isDownState(next)) {
      downSince ??= at;
      return;
    }
    if (isUsableState(next) && !isUsableState(before)) {
      const wasAlerted = alerted;
      const key = String(downSince ?? at);
      downSince = undefined;
      alerted = false;
      await act.channelRecovered({ channelId, tellAdmin: wasAlerted, why: 'connection', key });
    } else if (!isDownState(next)) {
      // qr, connecting: being paired again, not an outage the grace counts.
      downSince = undefined;
    }
  };

  const onEvent = async (event: ChannelEvent) => {
    events++;
    lastEventAt = event.at;
    switch (event.kind) {
      case 'state':
        await onState(event.state, event.at, event.previous);
        break;
      case 'quality': {
        const bad = isBadQuality(event.qualityRating);
        if (event.dropped) {
          qualityHeld = bad;
          await act.alertQualityDrop({ channelId, reason: event.reason ?? 'quality drop', key: String(event.at) });
        } else if (qualityHeld && !bad) {
          qualityHeld = false;
          await act.channelRecovered({ channelId, tellAdmin: true, why: 'quality', key: `quality:${event.at}` });
        }
        break;
      }
      case 'deleted':
        deleted = true;
        break;
    }
  };

  // Events already received are handled before continuing as new.
  while (!deleted && (inbox.length > 0 || (events < timing.maxEvents && !workflowInfo().continueAsNewSuggested))) {
    const graceEnds = downSince !== undefined && !alerted ? downSince + timing.graceMs : undefined;
    const waitMs = graceEnds !== undefined ? Math.max(1, Math.min(graceEnds - Date.now(), timing.pollMs)) : timing.pollMs;
    if (await condition(() => inbox.length > 0, waitMs)) {
      await onEvent(inbox.shift()!);
      continue;
    }
    if (graceEnds !== undefined && Date.now() >= graceEnds) {
      const result = await act.alertChannelDown({ channelId, downSince: downSince! });
      if (result.state === 'deleted') deleted = true;
      else if (result.stillDown) alerted = true;
      else await onState(result.state as ChannelState, Date.now());
      continue;
    }
    // Quiet: ask the provider. A failed poll (its server unreachable) is not a state.
    events++;
    try {
      const polled = await poll.pollChannelState({ channelId });
      if (polled.state === 'deleted') deleted = true;
      else if (polled.changed) await onState(polled.state, polled.at);
    } catch (err) {
      log.warn('channel poll failed', { channelId, error: (err as Error).message });
    }
  }

  await condition(allHandlersFinished);
  if (deleted) return;
  // A signal that arrived while this run was ending: its state goes to the next run.
  for (const event of inbox.splice(0)) {
    if (event.kind === 'deleted') return;
    if (event.kind === 'state') {
      state = event.state;
      if (isDownState(event.state)) downSince ??= event.at;
    }
  }
  await continueAsNew<typeof channelWorkflow>({ ...input, carried: { state, downSince, alerted, qualityHeld } });
}
