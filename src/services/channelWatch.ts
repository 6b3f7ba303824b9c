/**
 * Watching numbers: starting and signalling each channel's workflow (`channel:<id>`), and
 * what that workflow's activities do when a number stays down, comes back or its quality
 * drops: tell the tenant's admin contact (through another connected channel of the tenant,
 * else note that nobody could be told), wake the campaigns that wait for the channel, and
 * ask the provider for the state when events go quiet.
 *
 * The database is the truth: the ingest (and the API) record every change before the
 * workflow hears of it; the workflow only decides when to act.
 */
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { getChannelById } from '../db/queries/channels';
import {
  appendChannelNote,
  campaignsUsingChannel,
  listUnwatchedChannels,
  markChannelsWatched,
  recordChannelState,
  setChannelAlerted,
  usableChannelsOfTenant,
} from '../db/queries/channelStates';
import { getTenant } from '../db/queries/tenants';
import { stateFromProvider, type ChannelState } from '../domain/channelState';
import type { ChannelEvent, ChannelWatchInput, ChannelWatchTiming } from '../domain/channelWatch';
import { tenantPriority } from '../domain/priorities';
import { TenantIdKey } from '../domain/searchAttributes';
import { campaignWorkflowId, channelWorkflowId } from '../domain/workflowIds';
import type { Logger } from '../log';
import { signalIfRunning } from '../temporal/signals';
import { campaignChannelsChangedSignal, channelEventSignal, WorkflowType } from '../workflows/definitions';
import { channelTarget, deliverCounted } from './delivery';
import type { ServiceDeps } from './deps';

export function channelWatchTiming(config: Config): ChannelWatchTiming {
  return { graceMs: config.CHANNEL_DISCONNECT_GRACE, pollMs: config.CHANNEL_WATCH_POLL, maxEvents: config.CHANNEL_WATCH_MAX_EVENTS };
}

export interface WatchDeps {
  client: Client;
  taskQueue: string;
  config: Config;
}

/**
 * Starts the channel's workflow if it is not running, and hands it `event` when given
 * (signalWithStart: one call either way).
 */
export async function watchChannel(deps: WatchDeps, params: { channelId: string; tenantId: string; event?: ChannelEvent }): Promise<void> {
  const input: ChannelWatchInput = { channelId: params.channelId, tenantId: params.tenantId, timing: channelWatchTiming(deps.config) };
  const options = {
    workflowId: channelWorkflowId(params.channelId),
    taskQueue: deps.taskQueue,
    args: [input] as [ChannelWatchInput],
    typedSearchAttributes: [{ key: TenantIdKey, value: params.tenantId }],
    priority: tenantPriority('channel', params.tenantId),
    staticSummary: `Channel ${params.channelId}`,
  };
  if (params.event) {
    await deps.client.workflow.signalWithStart(WorkflowType.channel, { ...options, signal: channelEventSignal, signalArgs: [params.event] });
  } else {
    await deps.client.workflow.start(WorkflowType.channel, { ...options, workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING });
  }
}

/**
 * At worker start: a workflow for every channel that has none yet (operator-added ones,
 * channels from before this feature), in pages. Channels already watched cost nothing.
 */
export async function ensureChannelWatches(deps: WatchDeps & { db: Db; log: Logger }): Promise<number> {
  let started = 0;
  for (;;) {
    const page = await listUnwatchedChannels(deps.db, { limit: 200 });
    if (page.length === 0) return started;
    const ok: string[] = [];
    for (const c of page) {
      try {
        await watchChannel(deps, { channelId: c.id, tenantId: c.tenantId });
        ok.push(c.id);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, channelId: c.id }, 'channel workflow could not be started; the next worker start tries again');
      }
    }
    await markChannelsWatched(deps.db, { channelIds: ok });
    started += ok.length;
    if (ok.length < page.length) return started;
  }
}

// ─── what the channel workflow's activities do ───

export interface AdminNotice {
  told: boolean;
  /** The channel the notice went through, or why nobody could be told. */
  via?: string;
  note?: string;
}

/**
 * Tells the tenant's admin contact, through their own channel unless it is the one in
 * trouble, else through another usable channel of the tenant. Never throws for a notice that
 * cannot go out: the outcome says why, and the channel's history records it.
 */
export async function tellAdmin(
  deps: ServiceDeps,
  params: { tenantId: string; aboutChannelId: string; text: string; idempotencyKey: string },
): Promise<AdminNotice> {
  const tenant = await getTenant(deps.db, { tenantId: params.tenantId });
  const admin = tenant?.settings.adminContact;
  if (!admin?.phone) return { told: false, note: 'the tenant has no admin contact (settings.adminContact)' };
  const usable = await usableChannelsOfTenant(deps.db, { tenantId: params.tenantId, except: params.aboutChannelId });
  const via = usable.find((c) => c.id === admin.channelId) ?? usable[0];
  if (!via) return { told: false, note: 'no other connected channel of the tenant to tell the admin through' };
  try {
    await deliverCounted(deps, {
      tenantId: params.tenantId,
      channelId: via.id,
      contactKey: admin.phone,
      message: { type: 'text', text: params.text },
      idempotencyKey: params.idempotencyKey,
      allowOptedOut: true,
    });
    return { told: true, via: via.id };
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, tenantId: params.tenantId }, 'admin notice about a channel failed');
    return { told: false, via: via.id, note: `the notice failed: ${(err as Error).message}`.slice(0, 200) };
  }
}

/** Appends the outcome of a notice to the channel's history (state unchanged), so "was anyone told" has an answer. */
async function noteNotice(db: Db, params: { channelId: string; tenantId: string; state: string; what: string; notice: AdminNotice }): Promise<void> {
  const outcome = params.notice.told ? `admin told via ${params.notice.via}` : `nobody told: ${params.notice.note ?? 'unknown'}`;
  await appendChannelNote(db, { channelId: params.channelId, tenantId: params.tenantId, state: params.state, reason: `${params.what}: ${outcome}` });
}

const labelOf = (c: { name: string | null; externalId: string; phoneNumber: string | null }) =>
  `${c.name ?? c.externalId}${c.phoneNumber ? ` (+${c.phoneNumber})` : ''}`;

/**
 * The grace is over: if the number is still down, the admin is told and alerted_at set.
 * `stillDown: false` (with the state) when it came back meanwhile.
 */
export async function alertChannelDown(
  deps: ServiceDeps,
  params: { channelId: string; downSince: number },
): Promise<{ stillDown: boolean; state: string; notice?: AdminNotice }> {
  const channel = await getChannelById(deps.db, { channelId: params.channelId });
  if (!channel) return { stillDown: false, state: 'deleted' };
  if (channel.connectionState !== 'disconnected' && channel.connectionState !== 'closed') return { stillDown: false, state: channel.connectionState };
  // Marked first: the outage is "alerted" once zapflow tried, told or not (the history says which).
  await setChannelAlerted(deps.db, { channelId: channel.id, at: new Date() });
  const minutes = Math.max(1, Math.round((Date.now() - params.downSince) / 60_000));
  const what = channel.connectionState === 'closed' ? 'foi desconectado (logout) e precisa de um novo QR' : 'está desconectado do WhatsApp';
  const notice = await tellAdmin(deps, {
    tenantId: channel.tenantId,
    aboutChannelId: channel.id,
    // Portuguese, as the tenants' admins read it (like the opt-out digest).
    text: `⚠️ zapflow: o número ${labelOf(channel)} ${what} (há ${minutes} min). As campanhas nele esperam e as mensagens ficam retidas até ele reconectar.`,
    idempotencyKey: `channel-down:${channel.id}:${params.downSince}`,
  });
  await noteNotice(deps.db, { channelId: channel.id, tenantId: channel.tenantId, state: channel.connectionState, what: 'outage alert', notice });
  return { stillDown: true, state: channel.connectionState, notice };
}

/**
 * The number can send again (reconnected, or its quality recovered): the campaigns waiting
 * for it look now, and the admin hears it is back when they were told it was down.
 */
export async function channelRecovered(
  deps: ServiceDeps,
  params: { channelId: string; tellAdmin: boolean; why: 'connection' | 'quality'; key: string },
): Promise<{ woken: number; notice?: AdminNotice }> {
  const channel = await getChannelById(deps.db, { channelId: params.channelId });
  if (!channel) return { woken: 0 };
  const woken = await wakeCampaigns(deps, { tenantId: channel.tenantId, channelId: channel.id });
  if (!params.tellAdmin) return { woken };
  await setChannelAlerted(deps.db, { channelId: channel.id, at: null });
  const notice = await tellAdmin(deps, {
    tenantId: channel.tenantId,
    aboutChannelId: channel.id,
    text:
      params.why === 'connection'
        ? `✅ zapflow: o número ${labelOf(channel)} está conectado de novo. As campanhas e mensagens dele continuam.`
        : `✅ zapflow: a qualidade de ${labelOf(channel)} voltou a ${channel.qualityRating ?? 'normal'}. As campanhas nele continuam.`,
    idempotencyKey: `channel-back:${channel.id}:${params.key}`,
  });
  await noteNotice(deps.db, { channelId: channel.id, tenantId: channel.tenantId, state: channel.connectionState, what: 'recovery notice', notice });
  return { woken, notice };
}

/** Meta says the number's quality dropped (RED, a smaller messaging limit, a restricted account): the admin is told. */
export async function alertQualityDrop(deps: ServiceDeps, params: { channelId: string; reason: string; key: string }): Promise<{ notice?: AdminNotice }> {
  const channel = await getChannelById(deps.db, { channelId: params.channelId });
  if (!channel) return {};
  await setChannelAlerted(deps.db, { channelId: channel.id, at: new Date() });
  const held = channel.qualityRating === 'RED';
  const notice = await tellAdmin(deps, {
    tenantId: channel.tenantId,
    aboutChannelId: channel.id,
    text: `⚠️ zapflow: a Meta informa queda de qualidade em ${labelOf(channel)} (${params.reason}; qualidade ${channel.qualityRating ?? 'desconhecida'}, limite ${channel.messagingLimit ?? 'desconhecido'}).${held ? ' As campanhas nele esperam até a qualidade se recuperar.' : ''}`,
    idempotencyKey: `channel-quality:${channel.id}:${params.key}`,
  });
  await noteNotice(deps.db, { channelId: channel.id, tenantId: channel.tenantId, state: channel.connectionState, what: 'quality alert', notice });
  return { notice };
}

/** Signals the tenant's campaigns that wait for a channel and use this one. */
export async function wakeCampaigns(deps: ServiceDeps, params: { tenantId: string; channelId: string }): Promise<number> {
  if (!deps.temporal) return 0;
  const waiting = await campaignsUsingChannel(deps.db, { ...params, statuses: ['waiting'] });
  let woken = 0;
  for (const c of waiting.filter((w) => w.waitingFor === 'channel')) {
    if (await signalIfRunning(deps.temporal.client, campaignWorkflowId(c.id), campaignChannelsChangedSignal)) woken++;
  }
  return woken;
}

/**
 * Events went quiet: the provider's own word on the connection, recorded when it differs.
 * Providers that report no state (Meta, LancePilot say `open` when their API answers) become
 * `connected`. The phone number comes along when the provider gives it.
 */
export async function pollChannelState(deps: ServiceDeps, params: { channelId: string }): Promise<{ state: ChannelState | 'deleted'; changed: boolean; at: number }> {
  const channel = await getChannelById(deps.db, { channelId: params.channelId });
  if (!channel) return { state: 'deleted', changed: false, at: Date.now() };
  const provider = deps.providers[channel.provider];
  const answer = (await provider.connectionState(channelTarget(channel))) as { state: string; phoneNumber?: string; qualityRating?: string };
  const state = stateFromProvider(channel.provider, answer.state);
  const change = await recordChannelState(deps.db, {
    channelId: channel.id,
    state,
    reason: `poll:${answer.state}`,
    ...(answer.phoneNumber ? { phoneNumber: answer.phoneNumber.replace(/\D/g, '') } : {}),
  });
  return { state, changed: change !== undefined, at: (change?.at ?? new Date()).getTime() };
}
