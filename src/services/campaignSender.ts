/**
 * A campaign's sends, run by its workflow's batch activity, and the status changes of its
 * updates (pause, resume, cancel).
 *
 * A batch runs one lane per usable channel, concurrently. Each lane, until it must stop:
 * checks the window (tenant's timezone), waits for its channel's next slot (pacing, and the
 * minute quota as an even spacing), claims the next recipient in one statement (which also
 * checks the campaign is running and every sliding quota: claimCampaignRecipient), sends
 * through the one delivery with the key `campaign:<campaign>:<recipient>`, and records the
 * outcome. Short waits (a quota slot, a provider's Retry-After) happen in the lane; a long
 * one (a window closed, a quota full for long, no channel) ends the lane, and when every lane
 * has ended the batch marks the campaign waiting and returns the time to wake: the workflow
 * sleeps on a durable timer. A send never costs a workflow task.
 *
 * Exactly once: a claim is `sending` until its outcome is recorded; a batch that died leaves
 * it so, and the next batch puts it back in the queue (bound to its channel) and sends it
 * again under the same key, which the delivery finds: already sent, nothing goes out.
 */
import { loadConfig, type Config } from '../config';
import { listChannelRows, type ChannelRow } from '../db/queries/channels';
import { isUsableState } from '../domain/channelState';
import { isBadQuality } from '../domain/channelWatch';
import {
  beginCampaignBatch,
  campaignStatus,
  claimCampaignRecipient,
  completeCampaign,
  countSendsInFlight,
  recordCampaignNotSent,
  recordCampaignSent,
  releaseCampaignRecipient,
  transitionCampaign,
  type ClaimLimits,
} from '../db/queries/campaigns';
import { messageIdByIdempotencyKey } from '../db/queries/sends';
import {
  campaignClockSkew,
  nextChannelSend,
  nextSendingTime,
  recipientValues,
  renderForRecipient,
  sendingAllowed,
  type CampaignSchedule,
  type CampaignState,
  type CampaignWait,
} from '../domain/campaign';
import { FailureType } from '../domain/failures';
import { ProviderError } from '../providers/errors';
import type { CampaignBatchResult, CampaignTransition } from '../workflows/types';
import { definitionOf, type CampaignDefinition } from './campaignDefinition';
import { CHANNEL_DOWN_SCOPE, deliverCounted, finalSendFailure } from './delivery';
import type { ServiceDeps } from './deps';
import { SendDeferred } from './quotas';

/** The idempotency key of a campaign's send to one recipient (its message row, and the provider's key). */
export function campaignSendKey(campaignId: string, recipientId: number): string {
  return `campaign:${campaignId}:${recipientId}`;
}

/**
 * Whether a campaign sends on this channel now: connected (or a provider that reports no
 * state), and not held for its quality (Meta RED: sending more risks the number).
 */
export function campaignCanUse(channel: Pick<ChannelRow, 'connectionState' | 'qualityRating'>): boolean {
  return isUsableState(channel.connectionState) && !isBadQuality(channel.qualityRating);
}

export interface BatchRequest {
  campaignId: string;
  /** Recipients this batch may take (the rest of its workflow run's page). */
  maxSends: number;
  /** How long the batch may run. */
  maxMs: number;
  /** The workflow's time when it asked: the reference of the campaign clock. */
  workflowNow: number;
}

export interface BatchHooks {
  /** Recipients an earlier attempt of this batch already took (its last heartbeat). */
  alreadyProcessed?: number;
  /** Progress so far, about every second (the activity heartbeats it). */
  progress?(processed: number): void;
}

let envConfig: Config | undefined;
function configOf(deps: ServiceDeps): Config {
  return deps.config ?? (envConfig ??= loadConfig());
}

/** The campaign clock: the worker's, shifted only when the Temporal server is far ahead (time-skipping tests). */
function campaignClock(config: Config, workflowNow: number): () => number {
  const skew = campaignClockSkew(workflowNow, Date.now(), config.CAMPAIGN_CLOCK_SKEW);
  return () => Date.now() + skew;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

type LaneEnd =
  | { kind: 'stopped' }
  | { kind: 'empty' }
  | { kind: 'page' }
  | { kind: 'continue' }
  | { kind: 'wait'; waitingFor: CampaignWait; until: number };

/** What a failed delivery means for the recipient and the lane. */
type SendOutcome =
  | { kind: 'final'; status: 'failed' | 'skipped'; reason: string; channelUnusable: boolean }
  | { kind: 'later'; afterMs: number; mayHaveGone: boolean; waitingFor: CampaignWait };

/** Refusals that mean the recipient is not reachable (a skip, not a failure of the campaign). */
const SKIPS: Partial<Record<string, string>> = {
  [FailureType.OptedOut]: 'opted_out',
  [FailureType.RecipientInvalid]: 'not_on_whatsapp',
};

function outcomeOfError(err: unknown, config: Config): SendOutcome {
  const final = finalSendFailure(err);
  if (final) {
    const skip = SKIPS[final.type];
    return skip
      ? { kind: 'final', status: 'skipped', reason: skip, channelUnusable: false }
      : {
          kind: 'final',
          status: 'failed',
          reason: final.type,
          channelUnusable: final.type === FailureType.ProviderAuth || final.type === FailureType.ChannelNotFound,
        };
  }
  // A quota of the delivery, pacing, or the provider's 429: nothing went out; wait as told.
  if (err instanceof SendDeferred) {
    // The channel dropped since the batch began (the delivery defers sends on a number that is down).
    const waitingFor = err.scope === CHANNEL_DOWN_SCOPE ? 'channel' : 'quota';
    return { kind: 'later', afterMs: err.details.retryAfterMs, mayHaveGone: false, waitingFor };
  }
  if (err instanceof ProviderError && err.kind === 'rate_limited') {
    return { kind: 'later', afterMs: err.details.retryAfterMs ?? config.CAMPAIGN_RETRY_BACKOFF, mayHaveGone: false, waitingFor: 'quota' };
  }
  // A provider blip, another attempt in flight, anything unexpected: it may have gone out.
  return { kind: 'later', afterMs: config.CAMPAIGN_RETRY_BACKOFF, mayHaveGone: true, waitingFor: 'channel' };
}

/** Runs one batch of a campaign (see the module comment). */
export async function runCampaignBatch(deps: ServiceDeps, req: BatchRequest, hooks: BatchHooks = {}): Promise<CampaignBatchResult> {
  const { db } = deps;
  const config = configOf(deps);
  const clock = campaignClock(config, req.workflowNow);
  const started = clock();
  let processed = hooks.alreadyProcessed ?? 0;
  const result = <T extends object>(r: T) => ({ ...r, processed });

  const begun = await beginCampaignBatch(db, { campaignId: req.campaignId, now: started });
  if (!begun) return result({ kind: 'stopped' as const, status: 'cancelled' });
  if (!begun.running) return result({ kind: 'stopped' as const, status: begun.status });
  const definition: CampaignDefinition = definitionOf(begun.definition);
  const schedule: CampaignSchedule = { windows: definition.windows, days: definition.days, timezone: begun.timezone };
  const tenantId = begun.tenantId;

  /** Marks the campaign waiting (unless it was paused or cancelled meanwhile) and says so. */
  const waitFor = async (waitingFor: CampaignWait, until: number): Promise<CampaignBatchResult> => {
    const t = await transitionCampaign(db, { campaignId: req.campaignId, from: ['running'], to: 'waiting', now: clock(), waiting: { waitingFor, until } });
    if (!t.applied) return result({ kind: 'stopped' as const, status: t.status ?? 'cancelled' });
    return result({ kind: 'wait' as const, waitingFor, until });
  };

  if (!sendingAllowed(started, schedule)) return waitFor('window', nextSendingTime(started, schedule));

  const wanted = new Set(definition.channels.map((c) => c.id));
  const lanes = (await listChannelRows(db, { tenantId })).filter((c) => wanted.has(c.id) && campaignCanUse(c));
  if (lanes.length === 0) return waitFor('channel', started + config.CAMPAIGN_CHANNEL_RECHECK);

  const limits: ClaimLimits = {
    channelPerMinute: definition.quotas.perChannelPerMinute ?? 0,
    channelPerHour: definition.quotas.perChannelPerHour ?? 0,
    channelPerDay: definition.quotas.perChannelPerDay ?? 0,
    tenantPerDay: definition.quotas.perTenantPerDay ?? 0,
    recipientPerDay: definition.quotas.perRecipientPerDay ?? 0,
    minuteMs: config.SEND_QUOTA_MINUTE_WINDOW,
    hourMs: config.SEND_QUOTA_HOUR_WINDOW,
    dayMs: config.SEND_QUOTA_DAY_WINDOW,
  };
  let budget = req.maxSends - processed;
  let stoppedAs: CampaignState | undefined;
  let lastPoll = started;
  let polling: Promise<void> | undefined;

  /** While lanes wait: now and then, whether the campaign was paused or cancelled meanwhile (one read for all lanes). */
  const pollStatus = async () => {
    if (stoppedAs || clock() - lastPoll < config.CAMPAIGN_STATUS_POLL) return;
    lastPoll = clock();
    polling ??= campaignStatus(db, { campaignId: req.campaignId })
      .then((status) => {
        if (status !== 'running') stoppedAs = status ?? 'cancelled';
      })
      .finally(() => (polling = undefined));
    await polling;
  };

  /** Waits until `until` on the campaign clock, in slices, ending early when the batch stops. */
  const waitUntil = async (until: number) => {
    for (let left = until - clock(); left > 0 && !stoppedAs; left = until - clock()) {
      await sleep(Math.min(left, 1_000));
      await pollStatus();
    }
  };

  const progress = setInterval(() => hooks.progress?.(processed), 1_000);

  const lane = async (channelId: string): Promise<LaneEnd> => {
    let nextAt = started;
    /** The planned time of the next send on the minute quota's even grid. */
    let grid = started;
    for (;;) {
      if (stoppedAs) return { kind: 'stopped' };
      if (budget <= 0) return { kind: 'page' };
      let now = clock();
      if (now - started >= req.maxMs) return { kind: 'continue' };
      if (!sendingAllowed(now, schedule)) return { kind: 'wait', waitingFor: 'window', until: nextSendingTime(now, schedule) };
      if (nextAt > now) {
        await waitUntil(nextAt);
        continue;
      }
      now = clock();
      const claim = await claimCampaignRecipient(db, { campaignId: req.campaignId, tenantId, channelId, now, limits });
      switch (claim.kind) {
        case 'stopped':
          stoppedAs ??= claim.status ?? 'cancelled';
          return { kind: 'stopped' };
        case 'empty':
          return { kind: 'empty' };
        case 'full':
          if (claim.reopenAt - now > config.CAMPAIGN_WAIT_IN_BATCH) return { kind: 'wait', waitingFor: 'quota', until: claim.reopenAt };
          nextAt = claim.reopenAt;
          continue;
        case 'capped':
          budget--;
          processed++;
          continue;
        case 'claimed':
          break;
      }
      budget--;
      ({ grid, nextAt } = nextChannelSend({ grid, now, random: Math.random(), minuteMs: limits.minuteMs }, definition.quotas, definition.pacing));
      const recipient = claim.recipient;
      const idempotencyKey = campaignSendKey(req.campaignId, recipient.id);
      let outcome: SendOutcome;
      try {
        const sent = await deliverCounted(deps, {
          tenantId,
          channelId,
          contactKey: recipient.phone,
          message: renderForRecipient(definition.message, recipientValues(recipient)),
          idempotencyKey,
        });
        await recorded(() => recordCampaignSent(db, { recipientId: recipient.id, messageId: sent.messageId, now: clock() }));
        processed++;
        continue;
      } catch (err) {
        outcome = outcomeOfError(err, config);
      }
      if (outcome.kind === 'final') {
        const { status, reason, channelUnusable } = outcome;
        const messageId = await messageIdByIdempotencyKey(db, { idempotencyKey });
        await recorded(() => recordCampaignNotSent(db, { recipientId: recipient.id, status, reason, messageId, now: clock() }));
        processed++;
        // Bad credentials, or the channel is gone: every send on it would fail alike.
        if (channelUnusable) return { kind: 'wait', waitingFor: 'channel', until: clock() + config.CAMPAIGN_CHANNEL_RECHECK };
        continue;
      }
      // Back to the queue (bound to this channel), and this lane waits as long as it was told.
      const { mayHaveGone, afterMs, waitingFor } = outcome;
      await recorded(() => releaseCampaignRecipient(db, { recipientId: recipient.id, mayHaveGone }));
      budget++;
      const until = clock() + afterMs;
      if (afterMs > config.CAMPAIGN_WAIT_IN_BATCH) return { kind: 'wait', waitingFor, until };
      nextAt = Math.max(nextAt, until);
    }
  };

  /** A bookkeeping write after a send, retried a few times: failing it would leave the claim for the next batch. */
  const recorded = async <T>(write: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await write();
      } catch (err) {
        if (i >= 4) throw err;
        deps.log.warn({ err, campaignId: req.campaignId }, 'recording a campaign send failed; retrying');
        await sleep(100 * 2 ** i);
      }
    }
  };

  let ends: LaneEnd[];
  try {
    ends = await Promise.all(lanes.map((c) => lane(c.id)));
  } finally {
    clearInterval(progress);
  }
  hooks.progress?.(processed);

  if (stoppedAs) return result({ kind: 'stopped' as const, status: stoppedAs });
  if (ends.some((e) => e.kind === 'page')) return result({ kind: 'page' as const });
  if (ends.some((e) => e.kind === 'continue')) return result({ kind: 'continue' as const });
  const waits = ends.filter((e): e is Extract<LaneEnd, { kind: 'wait' }> => e.kind === 'wait');
  if (waits.length > 0) {
    const first = waits.reduce((a, b) => (b.until < a.until ? b : a));
    return waitFor(first.waitingFor, first.until);
  }
  // Every lane found nothing to take: done, unless recipients are left bound to a channel no lane could use.
  const done = await completeCampaign(db, { campaignId: req.campaignId, now: clock() });
  if (done.completed) return result({ kind: 'completed' as const });
  if (done.status !== 'running') return result({ kind: 'stopped' as const, status: done.status });
  return waitFor('channel', clock() + config.CAMPAIGN_CHANNEL_RECHECK);
}

export type CampaignAction = 'pause' | 'resume' | 'cancel';

const TRANSITIONS: Record<CampaignAction, { from: CampaignState[] }> = {
  pause: { from: ['scheduled', 'running', 'waiting'] },
  resume: { from: ['paused'] },
  cancel: { from: ['scheduled', 'running', 'waiting', 'paused'] },
};

/**
 * A pause, resume or cancel asked of the campaign's workflow: the row changes where its
 * status allows, and a pause or cancel then waits until no claim of the campaign is in flight
 * (claims younger than CAMPAIGN_SEND_LEASE; an older one's worker died). A claim needs the row
 * `running` and locks it for share, so once the row says paused no new send is claimed; and
 * once the sends in flight have finished, none of the campaign's is under way: the answer
 * comes after the last send started.
 */
export async function changeCampaignStatus(
  deps: ServiceDeps,
  params: { campaignId: string; action: CampaignAction; workflowNow: number; startAt?: number },
): Promise<CampaignTransition> {
  const config = configOf(deps);
  const clock = campaignClock(config, params.workflowNow);
  const now = clock();
  const to: CampaignState =
    params.action === 'pause' ? 'paused' : params.action === 'cancel' ? 'cancelled' : params.startAt !== undefined && params.startAt > now ? 'scheduled' : 'running';
  const t = await transitionCampaign(deps.db, { campaignId: params.campaignId, from: TRANSITIONS[params.action].from, to, now });
  const status = t.status ?? 'cancelled';
  if (status === 'paused' || status === 'cancelled') {
    const deadline = now + config.CAMPAIGN_SEND_LEASE;
    while ((await countSendsInFlight(deps.db, { campaignId: params.campaignId, since: clock() - config.CAMPAIGN_SEND_LEASE })) > 0 && clock() < deadline) {
      await sleep(config.CAMPAIGN_DRAIN_POLL);
    }
  }
  return { applied: t.applied, status };
}
