import { Context } from '@temporalio/activity';
import { openCredentials } from '../db/credentials';
import { loadConfig, type Config } from '../config';
import type { Db } from '../db/client';
import type { ChannelRow } from '../db/queries/channels';
import type { ContactRow } from '../db/queries/contacts';
import { isUniqueViolation } from '../db/errors';
import { pacingNextAt } from '../db/queries/quotas';
import { findSandboxSend } from '../db/queries/sandbox';
import {
  finishAttempt,
  markMessageFailed,
  noteMessageError,
  openOutboundSend,
  recordSent,
  reopenRefusedSend,
  removeOwnEcho,
  startSendAttempt,
  type OutboundRow,
  type SendStart,
} from '../db/queries/sends';
import { applyPendingStatuses, applyStatus, hasPendingStatuses, listStatusEvents } from '../db/queries/statuses';
import { isDownState } from '../domain/channelWatch';
import { FailureType, type SendRefusal } from '../domain/failures';
import type { MessageStatus, Provider } from '../domain/records';
import { sendsTotal } from '../metrics';
import { ProviderError, type ProviderErrorKind } from '../providers/errors';
import type { ChannelTarget, OutboundMessage } from '../providers/types';
import type { ServiceDeps } from './deps';
import {
  pacingDeferral,
  pacingRequest,
  pruneQuotaNow,
  quotaDeferral,
  quotaReservation,
  quotaWindows,
  SendDeferred,
  sendPolicy,
} from './quotas';

/** Quotas, pacing and attempt limits come from `config`; absent: read once from the environment. */
export type DeliveryDeps = Pick<ServiceDeps, 'db' | 'providers' | 'log' | 'config'>;

export interface DeliverRequest {
  tenantId: string;
  channelId: string;
  contactKey: string;
  message: OutboundMessage;
  /** Stable per logical send (workflow id + step): a retry finds the same row. */
  idempotencyKey: string;
  /** The opt-out confirmation is the one message an opted-out contact still gets. */
  allowOptedOut?: boolean;
  /**
   * Do not call the provider before this time (epoch ms). Scheduled sends start a little
   * early, do their checks and bookkeeping, and go out at this exact moment.
   */
  notBefore?: number;
  /** Longest in-process wait for `notBefore` (guards against a worker clock running behind). */
  maxWaitMs?: number;
  /**
   * An operator's replay (epoch ms of its start): a send of this key that was refused before
   * then (nothing was delivered) is tried again; one of unknown outcome still never repeats.
   */
  retryRefusedBefore?: number;
  /**
   * Not counted in the tenant's daily quota (the channel's quotas still count it): a warm-up's
   * messages between the tenant's own numbers are no sends to its contacts.
   */
  outsideTenantQuota?: boolean;
}

export interface DeliverResult {
  messageId: string;
  providerMessageId: string;
  /** True when an earlier attempt had already sent it: nothing was sent now. */
  alreadySent: boolean;
  /** Provider attempts made for this message (this one included). */
  attempts?: number;
  /** Sent again after an attempt whose outcome is unknown and cannot be checked: it may arrive twice. */
  duplicateRisk?: boolean;
}

export type RefusalReason = SendRefusal;

/** Refusals that retrying cannot fix; the activity layer makes them non-retryable. */
export class DeliveryRefused extends Error {
  override name = 'DeliveryRefused';
  constructor(
    message: string,
    readonly reason: RefusalReason,
  ) {
    super(message);
  }
}

export function channelTarget(channel: Pick<ChannelRow, 'id' | 'provider' | 'externalId' | 'baseUrl' | 'credentials'>): ChannelTarget {
  return {
    id: channel.id,
    provider: channel.provider,
    externalId: channel.externalId,
    baseUrl: channel.baseUrl,
    // Opened here, just before a provider call: nowhere else needs the plaintext.
    credentials: openCredentials(channel.credentials),
  };
}

export function bodyOf(message: OutboundMessage): string {
  switch (message.type) {
    case 'text':
      return message.text;
    case 'media':
      return message.caption ?? '';
    case 'buttons':
    case 'list':
      return message.text;
    case 'template':
      return `[template ${message.name}]`;
  }
}

/** SendDeferred's scope when the channel is down (disconnected, closed): campaigns wait for the channel, not a quota. */
export const CHANNEL_DOWN_SCOPE = 'channel';

/** Meta's customer service window: free-form messages only within 24 h of the contact's last message. */
export const META_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The failure a provider's permanent refusal is recorded and reported as. */
export const REFUSAL_OF_KIND: Record<Exclude<ProviderErrorKind, 'retryable' | 'rate_limited'>, RefusalReason> = {
  invalid_recipient: FailureType.RecipientInvalid,
  window_closed: FailureType.WindowClosed,
  auth: FailureType.ProviderAuth,
  permanent: FailureType.ProviderRejected,
};

/** Transport failures after which the request may have reached the provider. */
const UNCERTAIN_CODES = new Set(['timeout', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'network']);
/**
 * Gateway answers: a proxy in front of the provider (Evolution behind nginx, Meta's edge)
 * took the request and lost or timed out on the upstream, which may have sent the message.
 */
const UNCERTAIN_STATUSES = new Set([502, 504]);

/** Whether a transient failure may have gone out all the same (like a timeout). */
function outcomeUnknown(err: ProviderError): boolean {
  return UNCERTAIN_CODES.has(err.details.code ?? '') || UNCERTAIN_STATUSES.has(err.details.status ?? 0);
}

let envConfig: Config | undefined;
function configOf(deps: DeliveryDeps): Config {
  return deps.config ?? (envConfig ??= loadConfig());
}

/** Reasons a send is refused before any provider call; undefined when it may go. */
export function refusalFor(
  params: { provider: Provider; message: OutboundMessage; allowOptedOut?: boolean; now: number },
  contact: Pick<ContactRow, 'optedOutAt' | 'lastInboundAt'> | undefined,
): { reason: RefusalReason; message: string } | undefined {
  if (contact?.optedOutAt && !params.allowOptedOut) return { reason: 'OptedOut', message: 'contact opted out' };
  if (params.provider === 'meta' && params.message.type !== 'template') {
    const last = contact?.lastInboundAt?.getTime();
    if (last === undefined || params.now - last > META_WINDOW_MS) {
      return {
        reason: 'WindowClosed',
        message:
          last === undefined
            ? 'the contact never wrote to this number: outside the 24-hour window only a template can be sent'
            : `the contact last wrote at ${new Date(last).toISOString()}, more than 24 hours ago: only a template can be sent`,
      };
    }
  }
  return undefined;
}

/**
 * Sends one message exactly once per idempotency key. Records the intent (a queued row)
 * before anything else; refuses what cannot succeed (opt-out, Meta's 24-hour window) on the
 * row; counts quota and takes a pacing slot (or defers with a retry delay); opens a
 * numbered attempt (one at a time per message) and calls the provider with the message id
 * as idempotency key; records the provider id. A retry returns the recorded provider id.
 *
 * A send that goes out costs four statements: openOutboundSend (channel, contact and the
 * row), startSendAttempt (quota, pacing slot and attempt), recordSent, and the check for
 * status reports that arrived before the row knew its provider id. Every other statement
 * is on a path where the send waits, fails or is refused.
 */
export async function deliver(deps: DeliveryDeps, req: DeliverRequest): Promise<DeliverResult> {
  const { db } = deps;
  const config = configOf(deps);
  const opened = await openOutboundSend(db, {
    tenantId: req.tenantId,
    channelId: req.channelId,
    contactKey: req.contactKey,
    type: req.message.type,
    body: bodyOf(req.message),
    payload: req.message,
    idempotencyKey: req.idempotencyKey,
  });
  // Another tenant's channel is refused like an unknown one (and got no row).
  if (!opened?.row || opened.channel.tenantId !== req.tenantId) {
    throw new DeliveryRefused(`channel ${req.channelId} not found for tenant`, 'ChannelNotFound');
  }
  const { channel, contact, row } = opened;
  if (row.providerMessageId) {
    return { messageId: row.id, providerMessageId: row.providerMessageId, alreadySent: true };
  }
  const reopened =
    row.status === 'failed' &&
    req.retryRefusedBefore !== undefined &&
    (await reopenRefusedSend(db, { messageId: row.id, failedBefore: new Date(req.retryRefusedBefore) }));
  if (row.status === 'failed' && !reopened) {
    // Refused or given up earlier: the same key never tries again.
    const reason = (row.error?.reason as RefusalReason | undefined) ?? 'ProviderRejected';
    throw new DeliveryRefused(typeof row.error?.message === 'string' ? row.error.message : 'message failed earlier', (REFUSAL_OF_KIND as Record<string, RefusalReason>)[reason] ?? reason);
  }

  const now = Date.now();
  const refusal = refusalFor({ provider: channel.provider, message: req.message, allowOptedOut: req.allowOptedOut, now }, contact);
  if (refusal) {
    await markMessageFailed(db, { messageId: row.id, error: refusal });
    throw new DeliveryRefused(refusal.message, refusal.reason);
  }

  if (isDownState(channel.connectionState)) {
    // The number is disconnected or logged out: calling the provider would fail. The send
    // waits (funnel runs and campaigns alike) and looks again later; nothing was counted.
    const deferred = new SendDeferred(`channel ${channel.id} is ${channel.connectionState}: the send waits until it reconnects`, CHANNEL_DOWN_SCOPE, config.CHANNEL_DOWN_SEND_RETRY);
    await noteWaiting(db, row.id, deferred);
    throw deferred;
  }

  const policy = sendPolicy(config, { channel: channel.settings.sendLimits, tenant: channel.tenantSettings.sendLimits });
  const sendAt = Math.max(now, req.notBefore ?? 0);
  const windows = quotaWindows(policy, { tenantId: req.tenantId, channelId: channel.id, at: sendAt, timeZone: channel.tenantTimezone }).filter(
    (w) => !req.outsideTenantQuota || !w.scope.startsWith('tenant:'),
  );
  const pacing = pacingRequest(policy, { channelId: channel.id, notBefore: sendAt });
  let start: SendStart;
  try {
    start = await startSendAttempt(db, {
      messageId: row.id,
      windows,
      pacing,
      leaseMs: config.PROVIDER_TIMEOUT + 5_000,
      maxTransientFailures: config.SEND_MAX_ATTEMPTS,
    });
  } catch (err) {
    // Another worker opened this very attempt a moment ago (the statement counted nothing).
    if (isUniqueViolation(err)) throw new ProviderError('another attempt of this message is in flight', 'retryable', { code: 'in_flight' });
    throw err;
  }
  const quota = quotaReservation(db, windows);
  if (start.stage === 'quota') {
    await quota.release();
    const deferred = quotaDeferral(windows, start.counts, now)!;
    await noteWaiting(db, row.id, deferred);
    throw deferred;
  }
  pruneQuotaNow(db, policy, now);
  if (start.stage === 'pacing') {
    // Counted, but the slot is too far: say until when on the row, and give the count back.
    const nextAt = (await pacingNextAt(db, { channelId: channel.id })) ?? new Date(pacing!.start);
    const deferred = pacingDeferral(pacing!, nextAt);
    await noteWaiting(db, row.id, deferred);
    await quota.release().catch((err) => deps.log.warn({ err }, 'quota release failed'));
    throw deferred;
  }

  // Whether the quota stays counted: yes once sent or possibly sent; given back otherwise.
  let keepQuota = false;
  try {
    const goAt = start.slot ?? sendAt;
    if (start.exhausted) {
      keepQuota = start.uncertain;
      return await giveUp(db, row.id, start.transientFailures);
    }
    if (start.attempt === undefined) {
      // Another worker is calling the provider for this very message: let it finish.
      throw new ProviderError('another attempt of this message is in flight', 'retryable', { code: 'in_flight' });
    }
    const attempt = start.attempt;
    const providerKey = row.id;

    let duplicateRisk = false;
    if (start.uncertain) {
      // An earlier attempt may have gone out. Ask the provider where it can tell.
      const earlier = await lookupEarlierSend(deps, channel, providerKey);
      if (earlier) {
        keepQuota = true;
        await recordSentRow(deps, row, { attempt, providerMessageId: earlier, outcome: 'recovered', error: null, duplicateRisk: false });
        return { messageId: row.id, providerMessageId: earlier, alreadySent: true, attempts: attempt };
      }
      duplicateRisk = earlier === undefined;
    }

    // Wait for the due time (at most maxWaitMs: a worker clock behind the server's, or a
    // time-skipping test server, must not hold the send), then for the pacing slot beyond it.
    const untilDue = sendAt - Date.now();
    await pause(Math.max(0, req.maxWaitMs !== undefined ? Math.min(untilDue, req.maxWaitMs) : untilDue) + (goAt - sendAt));

    let providerMessageId: string;
    try {
      const result = await deps.providers[channel.provider].send(channelTarget(channel), req.contactKey, req.message, { idempotencyKey: providerKey });
      providerMessageId = result.providerMessageId;
    } catch (err) {
      keepQuota = await recordFailedAttempt(deps, row.id, attempt, err, start.transientFailures, config.SEND_MAX_ATTEMPTS, duplicateRisk);
      throw err;
    }
    keepQuota = true;
    const risk = duplicateRisk
      ? {
          uncertain: true,
          message: 'an earlier attempt timed out with unknown outcome and this provider cannot be asked: the contact may have received it twice',
        }
      : null;
    await recordSentRow(deps, row, { attempt, providerMessageId, outcome: 'sent', error: risk, duplicateRisk });
    return { messageId: row.id, providerMessageId, alreadySent: false, attempts: attempt, duplicateRisk };
  } finally {
    if (!keepQuota) await quota.release().catch((err) => deps.log.warn({ err }, 'quota release failed'));
  }
}

/** deliver(), counted in /metrics by outcome (sent, already sent, refused, waiting, retrying, failed). */
export async function deliverCounted(deps: DeliveryDeps, req: DeliverRequest): Promise<DeliverResult> {
  try {
    const result = await deliver(deps, req);
    sendsTotal.inc({ outcome: result.alreadySent ? 'already_sent' : 'sent' });
    return result;
  } catch (err) {
    sendsTotal.inc({ outcome: sendOutcomeOf(err) });
    throw err;
  }
}

function sendOutcomeOf(err: unknown): 'refused' | 'waiting' | 'retrying' | 'failed' {
  if (err instanceof DeliveryRefused) return 'refused';
  if (err instanceof SendDeferred) return 'waiting';
  if (err instanceof ProviderError) return err.kind === 'rate_limited' ? 'waiting' : err.retryable ? 'retrying' : 'failed';
  return 'retrying';
}

/**
 * A send that ended for good (its row is failed): a refusal, or a provider's permanent
 * answer; its failure type and message. Undefined for what may still pass (waits,
 * transient errors, anything unexpected).
 */
export function finalSendFailure(err: unknown): { type: RefusalReason; message: string } | undefined {
  if (err instanceof DeliveryRefused) return { type: err.reason, message: err.message };
  if (err instanceof ProviderError && !err.retryable) {
    return { type: REFUSAL_OF_KIND[err.kind as keyof typeof REFUSAL_OF_KIND] ?? FailureType.ProviderRejected, message: err.message };
  }
  return undefined;
}

async function noteWaiting(db: Db, messageId: string, err: SendDeferred): Promise<void> {
  // A quota wait keeps the reason clients know (RateLimited); a number that dropped says so.
  const reason = err.scope === CHANNEL_DOWN_SCOPE ? 'ChannelDown' : FailureType.RateLimited;
  await noteMessageError(db, { messageId, error: { reason, scope: err.scope, message: err.message, retryAt: err.retryAt.toISOString() } });
}

async function giveUp(db: Db, messageId: string, failures: number): Promise<never> {
  const message = `provider unavailable: gave up after ${failures} failed attempts`;
  await markMessageFailed(db, { messageId, error: { reason: 'ProviderUnavailable', message } });
  throw new DeliveryRefused(message, 'ProviderUnavailable');
}

/**
 * Classifies a failed provider call, records the attempt and the row, and says whether
 * the quota stays counted (the message may have gone out).
 */
async function recordFailedAttempt(
  deps: DeliveryDeps,
  messageId: string,
  attempt: number,
  err: unknown,
  earlierFailures: number,
  maxAttempts: number,
  duplicateRisk: boolean,
): Promise<boolean> {
  const { db } = deps;
  if (!(err instanceof ProviderError)) {
    // A bug or an unexpected answer after the request left: treat the outcome as unknown.
    const error = { reason: 'Unexpected', message: String((err as Error)?.message ?? err) };
    await finishAttempt(db, { messageId, attempt, outcome: 'uncertain', error, duplicateRisk });
    await noteMessageError(db, { messageId, error: { ...error, uncertain: true } });
    return true;
  }
  const error = { reason: err.kind, message: err.message, code: err.details.code, status: err.details.status };
  if (err.kind === 'rate_limited') {
    await finishAttempt(db, { messageId, attempt, outcome: 'rate_limited', error, duplicateRisk });
    await noteMessageError(db, { messageId, error: { ...error, reason: FailureType.RateLimited } });
    return false;
  }
  if (err.kind === 'retryable') {
    const uncertain = outcomeUnknown(err);
    await finishAttempt(db, { messageId, attempt, outcome: uncertain ? 'uncertain' : 'retry', error, duplicateRisk });
    if (earlierFailures + 1 >= maxAttempts) {
      // The last allowed attempt failed: fail now rather than on the next retry.
      await markMessageFailed(db, {
        messageId,
        error: { reason: 'ProviderUnavailable', message: `gave up after ${earlierFailures + 1} failed attempts: ${err.message}`, uncertain },
      });
      throw new DeliveryRefused(`provider unavailable after ${earlierFailures + 1} attempts: ${err.message}`, 'ProviderUnavailable');
    }
    await noteMessageError(db, { messageId, error: { ...error, reason: 'Transient', uncertain } });
    return uncertain;
  }
  // Permanent: not on WhatsApp, window closed, bad credentials, invalid request.
  const reason = REFUSAL_OF_KIND[err.kind] ?? FailureType.ProviderRejected;
  await finishAttempt(db, { messageId, attempt, outcome: 'failed', error: { ...error, reason }, duplicateRisk });
  await markMessageFailed(db, { messageId, error: { ...error, reason } });
  return false;
}

/**
 * After an attempt with unknown outcome: the provider id of an earlier send of this key
 * where the provider can be asked; null when it was asked and has none; undefined when the
 * provider offers no way to ask (Evolution, Meta and LancePilot have no lookup by our key).
 */
async function lookupEarlierSend(deps: DeliveryDeps, channel: Pick<ChannelRow, 'provider'>, key: string): Promise<string | null | undefined> {
  if (channel.provider === 'sandbox') return (await findSandboxSend(deps.db, { idempotencyKey: key })) ?? null;
  return undefined;
}

/**
 * Records an accepted send. Retried a few times in-process: failing here after the
 * provider accepted would make a later attempt send again.
 */
async function recordSentRow(
  deps: DeliveryDeps,
  row: OutboundRow,
  params: { attempt: number; providerMessageId: string; outcome: 'sent' | 'recovered'; error: Record<string, unknown> | null; duplicateRisk: boolean },
): Promise<void> {
  const { db } = deps;
  for (let i = 0; ; i++) {
    try {
      try {
        await recordSent(db, { messageId: row.id, ...params });
        if (await hasPendingStatuses(db, { channelId: row.channelId, providerMessageId: params.providerMessageId })) {
          await applyPendingStatuses(db, { channelId: row.channelId, providerMessageId: params.providerMessageId });
        }
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // The provider's echo of this send was stored first: it is ours, take its place
        // and replay the statuses it had collected.
        await removeOwnEcho(db, { channelId: row.channelId, providerMessageId: params.providerMessageId, keepId: row.id });
        await recordSent(db, { messageId: row.id, ...params });
        for (const ev of await listStatusEvents(db, { channelId: row.channelId, providerMessageId: params.providerMessageId })) {
          await applyStatus(db, {
            channelId: ev.channelId,
            providerMessageId: ev.providerMessageId,
            status: ev.status as MessageStatus,
            occurredAt: ev.occurredAt,
            error: ev.error ?? undefined,
          });
        }
      }
      return;
    } catch (err) {
      if (i >= 4) throw err;
      deps.log.warn({ err, messageId: row.id }, 'recording a sent message failed; retrying');
      await new Promise((r) => setTimeout(r, 100 * 2 ** i));
    }
  }
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // not inside an activity (a script, a unit test)
  }
}

/** Waits; inside an activity the wait heartbeats and ends early (throws) when the activity is cancelled. */
async function pause(ms: number): Promise<void> {
  if (!(ms > 0)) return;
  const ctx = activityContext();
  if (!ctx) {
    await new Promise((r) => setTimeout(r, ms));
    return;
  }
  if (ctx.info.isLocal) {
    await ctx.sleep(ms); // no heartbeats in a local activity
    return;
  }
  const until = Date.now() + ms;
  for (let left = ms; left > 0; left = until - Date.now()) {
    ctx.heartbeat();
    await ctx.sleep(Math.min(left, 2_000));
  }
}
