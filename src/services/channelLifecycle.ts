/**
 * A number's life through the tenant API (and `zapflow channels create|qr|state`): creating an
 * Evolution instance and its channel, the QR to pair it, restart, logout, deletion, and the
 * views (state, phone number, last change, quotas, quality; never credentials).
 *
 * Creation is all or nothing: the instance is created on Evolution first (the step that can
 * be refused), then the channel row; if the row cannot be written the instance is deleted
 * again, so a failure leaves neither.
 */
import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { getChannelById, insertChannel, listChannelRows, type ChannelRow } from '../db/queries/channels';
import {
  campaignsUsingChannel,
  countChannelsByState,
  deleteChannelRow,
  retireChannel,
  lastStateChanges,
  listChannelStateChanges,
  markChannelsWatched,
  recordChannelState,
  stateChangeBefore,
  storeChannelQr,
} from '../db/queries/channelStates';
import { stateFromProvider, type ChannelState } from '../domain/channelState';
import { isDownState } from '../domain/channelWatch';
import { DomainError } from '../domain/errors';
import type { Logger } from '../log';
import { createEvolutionInstance, deleteEvolutionInstance, type EvolutionServer } from '../providers/evolution';
import { ProviderError } from '../providers/errors';
import type { ProviderClient, ProviderRegistry, QrCode } from '../providers/types';
import { channelWorkflowId } from '../domain/workflowIds';
import { signalIfRunning } from '../temporal/signals';
import { channelEventSignal } from '../workflows/definitions';
import { watchChannel, type WatchDeps } from './channelWatch';
import { channelTarget } from './delivery';
import { sendPolicy } from './quotas';

export interface LifecycleDeps {
  db: Db;
  config: Config;
  providers: ProviderRegistry;
  log: Logger;
  /** Starts and signals channel workflows; absent (CLI without Temporal): the next worker start watches new channels. */
  watch?: WatchDeps;
}

class ChannelNotFound extends DomainError {
  override name = 'ChannelNotFound';
  constructor(id: string) {
    super('NotFound', `channel ${id} not found`);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant's channel; another tenant's (or an unknown id) is not found alike. */
async function tenantChannel(db: Db, tenantId: string, channelId: string): Promise<ChannelRow> {
  const row = UUID.test(channelId) ? await getChannelById(db, { channelId }) : undefined;
  if (!row || row.tenantId !== tenantId) throw new ChannelNotFound(channelId);
  return row;
}

function evolutionServer(config: Config): EvolutionServer {
  const missing = (['EVOLUTION_BASE_URL', 'EVOLUTION_API_KEY', 'ZAPFLOW_PUBLIC_URL'] as const).filter((k) => !config[k]);
  if (missing.length > 0) {
    throw new DomainError('Unavailable', `connecting numbers through Evolution is not configured on this server: set ${missing.join(', ')}`);
  }
  return { baseUrl: config.EVOLUTION_BASE_URL!, apiKey: config.EVOLUTION_API_KEY!, timeoutMs: config.PROVIDER_TIMEOUT };
}

/** A provider's refusal or silence, as the API answers it: 502 with Evolution's reason. */
function upstream(what: string, err: unknown): DomainError {
  if (err instanceof ProviderError) {
    const reason = err.details.code === 'timeout' || err.details.status === undefined ? `unreachable (${err.message})` : err.message;
    return new DomainError('BadGateway', `Evolution ${what} failed: ${reason}`);
  }
  return new DomainError('BadGateway', `Evolution ${what} failed: ${(err as Error).message}`);
}

/** An instance name unique across tenants: the label's slug and a random suffix. */
export function instanceNameFor(label: string): string {
  const slug = label
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32);
  return `zf-${slug || 'number'}-${randomBytes(4).toString('hex')}`;
}

export const createChannelSchema = z.strictObject({
  provider: z.literal('evolution', { message: 'must be "evolution" (Meta and LancePilot numbers are added by an operator)' }),
  name: z.string({ message: 'is required: a label for the number' }).trim().min(1, 'is required: a label for the number').max(100, 'must be at most 100 characters'),
});
export type CreateChannelInput = z.input<typeof createChannelSchema>;

export async function createEvolutionChannel(deps: LifecycleDeps, params: { tenantId: string; input: unknown }) {
  const input = createChannelSchema.parse(params.input);
  const server = evolutionServer(deps.config);
  const instanceName = instanceNameFor(input.name);
  const webhookSecret = randomBytes(24).toString('base64url');
  let created;
  try {
    created = await createEvolutionInstance(server, {
      instanceName,
      webhookUrl: `${deps.config.ZAPFLOW_PUBLIC_URL!.replace(/\/+$/, '')}/webhooks/evolution`,
      webhookSecret,
    });
  } catch (err) {
    throw upstream('instance creation', err);
  }
  let row: ChannelRow | undefined;
  try {
    row = await insertChannel(deps.db, {
      tenantId: params.tenantId,
      provider: 'evolution',
      externalId: created.instanceName,
      name: input.name,
      baseUrl: server.baseUrl,
      credentials: { apiKey: created.token, webhookSecret },
      settings: {},
    });
    if (!row) throw new Error(`a channel for instance ${created.instanceName} exists already`);
    await recordChannelState(deps.db, { channelId: row.id, state: 'creating', reason: 'instance created' });
    if (created.qr) {
      await storeChannelQr(deps.db, { channelId: row.id, qr: created.qr });
      await recordChannelState(deps.db, { channelId: row.id, state: 'qr', reason: 'instance created with a QR' });
    }
  } catch (err) {
    // Nothing half-created: the instance goes again (its row, if any, too).
    if (row) await deleteChannelRow(deps.db, { channelId: row.id, tenantId: params.tenantId }).catch(() => undefined);
    await deleteEvolutionInstance(server, created.instanceName).catch((e) =>
      deps.log.error({ err: (e as Error).message, instance: created.instanceName }, 'instance left on Evolution after a failed channel creation'),
    );
    throw err;
  }
  await startWatching(deps, row);
  const fresh = (await getChannelById(deps.db, { channelId: row.id }))!;
  return { id: fresh.id, instanceName: fresh.externalId, name: fresh.name, provider: fresh.provider, state: fresh.connectionState as ChannelState };
}

/** The channel's workflow, started now; failing that, the next worker start starts it (watched_at stays null). */
async function startWatching(deps: LifecycleDeps, row: ChannelRow): Promise<void> {
  if (!deps.watch) return;
  try {
    await watchChannel(deps.watch, { channelId: row.id, tenantId: row.tenantId });
    await markChannelsWatched(deps.db, { channelIds: [row.id] });
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, channelId: row.id }, 'channel workflow not started; the next worker start starts it');
  }
}

// ─── views ───

type StateChangeRow = Awaited<ReturnType<typeof listChannelStateChanges>>[number];

function changeView(c: StateChangeRow) {
  return { state: c.state, previous: c.previous, reason: c.reason, at: c.at.toISOString() };
}

/** A channel as its tenant sees it: state, number, last change, quotas and quality; never credentials. */
export function channelPublicView(row: ChannelRow, config: Config, last?: StateChangeRow) {
  const policy = sendPolicy(config, { channel: row.settings.sendLimits });
  return {
    id: row.id,
    provider: row.provider,
    instanceName: row.externalId,
    name: row.name,
    state: row.connectionState,
    phoneNumber: row.phoneNumber,
    stateChangedAt: (last?.at ?? row.connectionUpdatedAt)?.toISOString() ?? null,
    lastChange: last ? changeView(last) : null,
    downSince: row.downSince?.toISOString() ?? null,
    alertedAt: row.alertedAt?.toISOString() ?? null,
    quality: row.provider === 'meta' || row.qualityRating || row.messagingLimit ? { rating: row.qualityRating, messagingLimit: row.messagingLimit } : null,
    quotas: policy.channel,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function listChannelViews(deps: Pick<LifecycleDeps, 'db' | 'config'>, params: { tenantId: string }) {
  const rows = await listChannelRows(deps.db, { tenantId: params.tenantId });
  const last = await lastStateChanges(deps.db, { channelIds: rows.map((r) => r.id) });
  return { channels: rows.map((r) => channelPublicView(r, deps.config, last.get(r.id))) };
}

export async function getChannelView(deps: Pick<LifecycleDeps, 'db' | 'config'>, params: { tenantId: string; channelId: string }) {
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const last = await lastStateChanges(deps.db, { channelIds: [row.id] });
  return channelPublicView(row, deps.config, last.get(row.id));
}

export const statesQuerySchema = z.object({
  from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with offset' }).optional(),
  to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with offset' }).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

/**
 * The channel's history, newest first; with `from`, also how long it was down in [from, to)
 * (disconnected or closed), counted from the recorded changes.
 */
export async function channelStates(deps: Pick<LifecycleDeps, 'db'>, params: { tenantId: string; channelId: string; query: unknown }) {
  const q = statesQuerySchema.parse(params.query ?? {});
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const from = q.from ? new Date(q.from) : undefined;
  const to = q.to ? new Date(q.to) : new Date();
  if (from && from >= to) throw new DomainError('Invalid', 'must be before `to`', 'from');
  const changes = await listChannelStateChanges(deps.db, { channelId: row.id, from, to: q.to ? to : undefined, limit: q.limit });
  let downtime: { from: string; to: string; downMs: number } | undefined;
  if (from) {
    const all = await listChannelStateChanges(deps.db, { channelId: row.id, from, to, limit: 10_000 });
    const before = await stateChangeBefore(deps.db, { channelId: row.id, at: from });
    downtime = { from: from.toISOString(), to: to.toISOString(), downMs: downtimeIn(before?.state, [...all].reverse(), from.getTime(), to.getTime()) };
  }
  return { channelId: row.id, state: row.connectionState, changes: changes.map(changeView), ...(downtime ? { downtime } : {}) };
}

/** Milliseconds spent down in [from, to), from the state at `from` and the changes after it (oldest first). */
export function downtimeIn(initial: string | undefined, changes: Array<{ state: string; at: Date }>, from: number, to: number): number {
  let down = initial !== undefined && isDownState(initial);
  let since = from;
  let total = 0;
  for (const c of changes) {
    const at = Math.min(Math.max(c.at.getTime(), from), to);
    if (down) total += at - since;
    down = isDownState(c.state);
    since = at;
  }
  if (down) total += to - since;
  return total;
}

// ─── pairing and control ───

/** `qr` as a data URL: Evolution's base64 image, or one drawn from the raw code. */
async function qrDataUrl(qr: QrCode): Promise<string | undefined> {
  if (qr.base64?.startsWith('data:')) return qr.base64;
  if (qr.base64) return `data:image/png;base64,${qr.base64}`;
  if (qr.code) return QRCode.toDataURL(qr.code);
  return undefined;
}

function requireLifecycle<K extends 'connect' | 'restart' | 'logout'>(row: ChannelRow, providers: ProviderRegistry, what: K): NonNullable<ProviderClient[K]> {
  const client = providers[row.provider];
  const fn = client[what];
  if (!fn) throw new DomainError('Conflict', `${row.provider} channels have no ${what === 'connect' ? 'QR code' : what} (the provider does not offer one)`);
  return fn.bind(client) as NonNullable<ProviderClient[K]>;
}

/**
 * The QR to scan: the stored one while younger than CHANNEL_QR_LIFETIME, else a fresh one
 * from the provider (`/instance/connect`). 409 once connected.
 */
export async function channelQr(deps: LifecycleDeps, params: { tenantId: string; channelId: string }) {
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const alreadyConnected = () => new DomainError('Conflict', `channel ${row.id} is connected already: no QR to scan (log it out first to pair another phone)`);
  if (row.connectionState === 'connected') throw alreadyConnected();
  const connect = requireLifecycle(row, deps.providers, 'connect');
  const lifetime = deps.config.CHANNEL_QR_LIFETIME;
  const stored = row.qrCode;
  const storedAt = stored ? Date.parse(stored.at) : NaN;
  if (stored && Number.isFinite(storedAt) && Date.now() - storedAt < lifetime) {
    const qr = await qrDataUrl(stored);
    if (qr) return { qr, code: stored.code, ...(stored.pairingCode ? { pairingCode: stored.pairingCode } : {}), expiresAt: new Date(storedAt + lifetime).toISOString() };
  }
  let result;
  try {
    result = await connect(channelTarget(row));
  } catch (err) {
    throw upstream('connect', err);
  }
  if (!result.qr) {
    const state = stateFromProvider(row.provider, result.state);
    await noteState(deps, row, state, `connect:${result.state}`);
    if (state === 'connected') throw alreadyConnected();
    throw new DomainError('BadGateway', `Evolution connect answered no QR (state ${result.state})`);
  }
  const at = new Date();
  await storeChannelQr(deps.db, { channelId: row.id, qr: result.qr, at });
  await noteState(deps, row, 'qr', 'connect');
  const qr = await qrDataUrl(result.qr);
  if (!qr) throw new DomainError('BadGateway', 'Evolution connect answered an empty QR');
  return { qr, code: result.qr.code, ...(result.qr.pairingCode ? { pairingCode: result.qr.pairingCode } : {}), expiresAt: new Date(at.getTime() + lifetime).toISOString() };
}

/** Records a state the API learnt and tells the channel's workflow. */
async function noteState(deps: LifecycleDeps, row: ChannelRow, state: ChannelState, reason: string): Promise<void> {
  const change = await recordChannelState(deps.db, { channelId: row.id, state, reason, unlessIn: state === 'qr' ? ['connected'] : undefined });
  if (change && deps.watch) {
    await watchChannel(deps.watch, {
      channelId: row.id,
      tenantId: row.tenantId,
      event: { kind: 'state', state: change.state, previous: change.previous, reason, at: change.at.getTime() },
    }).catch((err) => deps.log.warn({ err: (err as Error).message, channelId: row.id }, 'channel event not signalled'));
  }
}

export async function restartChannel(deps: LifecycleDeps, params: { tenantId: string; channelId: string }) {
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const restart = requireLifecycle(row, deps.providers, 'restart');
  try {
    await restart(channelTarget(row));
  } catch (err) {
    throw upstream('restart', err);
  }
  return getChannelView(deps, params);
}

/** Logs the number out (a new QR scan is needed): `closed`. */
export async function logoutChannel(deps: LifecycleDeps, params: { tenantId: string; channelId: string }) {
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const logout = requireLifecycle(row, deps.providers, 'logout');
  try {
    await logout(channelTarget(row));
  } catch (err) {
    throw upstream('logout', err);
  }
  await noteState(deps, row, 'closed', 'logout');
  return getChannelView(deps, params);
}

/**
 * Deletes the channel: logged out and deleted on Evolution, then retired (its messages and
 * state history are kept; nothing finds the channel any more). 409 while a campaign that has
 * not ended uses it.
 */
export async function deleteChannel(deps: LifecycleDeps, params: { tenantId: string; channelId: string }) {
  const row = await tenantChannel(deps.db, params.tenantId, params.channelId);
  const using = await campaignsUsingChannel(deps.db, { tenantId: params.tenantId, channelId: row.id });
  if (using.length > 0) {
    throw new DomainError('Conflict', `campaign(s) ${using.slice(0, 5).map((c) => `${c.id} (${c.status})`).join(', ')} use this channel: cancel them or wait until they end`);
  }
  if (row.provider === 'evolution') {
    const evolution = deps.providers.evolution;
    try {
      if (evolution.logout) await evolution.logout(channelTarget(row));
      const server = deps.config.EVOLUTION_BASE_URL && deps.config.EVOLUTION_API_KEY ? evolutionServer(deps.config) : undefined;
      // An operator-added instance on a server zapflow has no global key for is left there.
      if (server && row.baseUrl?.replace(/\/+$/, '') === server.baseUrl.replace(/\/+$/, '')) await deleteEvolutionInstance(server, row.externalId);
    } catch (err) {
      if (!(err instanceof ProviderError && err.details.code === 'instance_not_found')) throw upstream('instance deletion', err);
    }
  }
  await retireChannel(deps.db, { channelId: row.id, tenantId: params.tenantId });
  if (deps.watch) {
    await signalIfRunning(deps.watch.client, channelWorkflowId(row.id), channelEventSignal, { kind: 'deleted', at: Date.now() }).catch(() => undefined);
  }
  return { id: row.id, deleted: true };
}

/** For /health: channels counted by state across tenants (`{channels: {connected: 3, disconnected: 1}}`). */
export async function providersHealth(db: Db): Promise<{ channels: Record<string, number> }> {
  return { channels: await countChannelsByState(db) };
}
