/**
 * Warm-up plans as business operations: create one (two or more of the tenant's own numbers,
 * windows in the tenant's timezone, a ramp of rounds per day, the delay between rounds, turns
 * per round, phrases or topics) and start its workflow (`warmup:<id>`); read it with its
 * progress per local day (rounds planned, done, failed, skipped and why, messages exchanged,
 * from warmup_rounds); list them; pause, resume or cancel it through its workflow's updates.
 * The rounds themselves are services/warmupRounds.ts, run by the workflow's activity.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { findTenantChannel, getChannelById, type ChannelRow } from '../db/queries/channels';
import { getTenant } from '../db/queries/tenants';
import {
  deleteWarmup,
  getWarmup,
  insertWarmup,
  listWarmups,
  transitionWarmup,
  warmupDayTotals,
  warmupReasons,
  type WarmupRow,
} from '../db/queries/warmups';
import { DomainError } from '../domain/errors';
import { FailureType } from '../domain/failures';
import type { TimeWindow } from '../domain/followUpWindow';
import { tenantPriority } from '../domain/priorities';
import type { Provider } from '../domain/records';
import { TenantIdKey } from '../domain/searchAttributes';
import { daysBetween, localDay, roundsForDay, type WarmupPlan, type WarmupRamp, type WarmupStatus } from '../domain/warmup';
import { warmupWorkflowId } from '../domain/workflowIds';
import type { Logger } from '../log';
import { cancelWarmupUpdate, pauseWarmupUpdate, resumeWarmupUpdate, WorkflowType } from '../workflows/definitions';
import type { warmupWorkflow } from '../workflows/warmup';
import type { WarmupTiming, WarmupTransition, WarmupWorkflowInput } from '../workflows/warmupTypes';

export interface WarmupServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
  log: Logger;
  /** Tag the workflow with TenantId (off for servers without zapflow's search attributes). */
  searchAttributes?: boolean;
}

/** `POST /api/warmups`, as the API parsed it. */
export interface CreateWarmupInput {
  name?: string;
  /** Instance names (external ids or display names) or channel ids: two or more. */
  channels: string[];
  windows: TimeWindow[];
  days?: number[];
  ramp: WarmupRamp;
  delayMs: number;
  turnsPerRound: number;
  phrases?: string[];
  topics?: string[];
  ai?: boolean;
}

/** What a warm-up row's `definition` holds (the table's columns hold the rest). */
export interface WarmupDefinition {
  channels: Array<{ id: string; name: string; provider: Provider }>;
  windows: TimeWindow[];
  days?: number[];
  /** The tenant's timezone when the plan was made: its windows and days are in it. */
  timezone: string;
  ramp: WarmupRamp;
  delayMs: number;
  turnsPerRound: number;
  phrases?: string[];
  topics?: string[];
  ai: boolean;
  /** Day 0 of the ramp (local YYYY-MM-DD). */
  startDay: string;
}

export function warmupDefinitionOf(stored: Record<string, unknown>): WarmupDefinition {
  return stored as unknown as WarmupDefinition;
}

export interface WarmupDayView {
  day: string;
  /** Rounds the ramp plans for the day. */
  planned: number;
  done: number;
  failed: number;
  skipped: number;
  messages: number;
}

export interface WarmupView {
  id: string;
  name?: string;
  state: WarmupStatus;
  createdAt: string;
  channels: WarmupDefinition['channels'];
  windows: TimeWindow[];
  days?: number[];
  timezone: string;
  ramp: WarmupRamp;
  delayMs: number;
  turnsPerRound: number;
  phrases?: string[];
  topics?: string[];
  ai: boolean;
  progress?: {
    rounds: { done: number; failed: number; skipped: number };
    messages: number;
    days: WarmupDayView[];
    /** Why rounds were skipped (a number down, a quota full…) or failed, per day, newest first. */
    skips: Array<{ day: string; status: string; reason: string; count: number; from: string; until?: string }>;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const invalid = (field: string, message: string) => new DomainError('Invalid', message, field);
const label = (c: Pick<ChannelRow, 'externalId' | 'name'>) => c.name ?? c.externalId;

/** The settings a warm-up's workflow runs with. */
export function warmupTiming(config: Config, turnsPerRound: number): WarmupTiming {
  return {
    recheckMs: config.WARMUP_CHANNEL_RECHECK,
    heartbeatTimeoutMs: config.WARMUP_HEARTBEAT_TIMEOUT,
    // Every turn's longest pause and send, twice over: a slow provider does not time a round out.
    roundMaxMs: 2 * turnsPerRound * (config.WARMUP_REPLY_PAUSE_MAX + config.PROVIDER_TIMEOUT) + 60_000,
    roundsPerRun: config.WARMUP_ROUNDS_PER_RUN,
  };
}

async function resolveChannels(db: Db, tenantId: string, names: string[]): Promise<ChannelRow[]> {
  const found = new Map<string, ChannelRow>();
  for (const [i, name] of names.entries()) {
    const byId = UUID.test(name) ? await getChannelById(db, { channelId: name }) : undefined;
    const channel = byId?.tenantId === tenantId ? byId : await findTenantChannel(db, { tenantId, instanceName: name });
    // Another tenant's channel is indistinguishable from an unknown one.
    if (!channel) throw invalid(`channels.${i}`, `channel "${name}" not found`);
    if (found.has(channel.id)) throw invalid(`channels.${i}`, `channel "${name}" is listed twice`);
    found.set(channel.id, channel);
  }
  return [...found.values()];
}

/** `POST /api/warmups`: the row, then its workflow (the row is removed again when Temporal refuses). */
export async function createWarmup(
  deps: WarmupServiceDeps,
  params: { tenantId: string; input: CreateWarmupInput; now?: number },
): Promise<WarmupView> {
  const { db, config } = deps;
  const { tenantId, input } = params;
  const now = params.now ?? Date.now();
  const channels = await resolveChannels(db, tenantId, input.channels);
  if (channels.length < 2) throw invalid('channels', 'a warm-up needs two or more of your numbers: they talk to each other');
  const unsupported = channels.filter((c) => c.provider === 'meta');
  if (unsupported.length > 0) {
    // Meta numbers need a template to open a conversation, and are warmed up by Meta's own tiers.
    throw invalid('channels', `${unsupported.map(label).join(', ')}: Meta numbers are not warmed up (their messaging limit grows with Meta's tiers)`);
  }
  if (!input.phrases?.length && !input.topics?.length) throw invalid('phrases', 'give phrases or topics: what the numbers talk about');
  if (input.ai && !config.OPENAI_API_KEY) throw invalid('ai', 'AI is not configured on this server (OPENAI_API_KEY): give phrases or topics without ai');
  const tenant = await getTenant(db, { tenantId });
  const timezone = tenant?.timezone ?? 'UTC';

  const warmupId = randomUUID();
  const definition: WarmupDefinition = {
    channels: channels.map((c) => ({ id: c.id, name: label(c), provider: c.provider })),
    windows: input.windows,
    ...(input.days?.length ? { days: input.days } : {}),
    timezone,
    ramp: input.ramp,
    delayMs: input.delayMs,
    turnsPerRound: input.turnsPerRound,
    ...(input.phrases?.length ? { phrases: input.phrases } : {}),
    ...(input.topics?.length ? { topics: input.topics } : {}),
    ai: input.ai ?? false,
    startDay: localDay(now, timezone),
  };
  const row = await insertWarmup(db, {
    id: warmupId,
    tenantId,
    name: input.name ?? null,
    channelIds: channels.map((c) => c.id),
    definition: definition as unknown as Record<string, unknown>,
  });

  const plan: WarmupPlan = {
    schedule: { windows: definition.windows, days: definition.days, timezone },
    ramp: definition.ramp,
    delayMs: definition.delayMs,
    startDay: definition.startDay,
  };
  const workflowInput: WarmupWorkflowInput = { warmupId, tenantId, plan, timing: warmupTiming(config, definition.turnsPerRound) };
  try {
    await deps.temporal.workflow.start<typeof warmupWorkflow>(WorkflowType.warmup, {
      workflowId: warmupWorkflowId(warmupId),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [workflowInput],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      priority: tenantPriority('warmup', tenantId),
      staticSummary: `Warm-up${input.name ? ` "${input.name}"` : ''}: ${definition.channels.map((c) => c.name).join(', ')}, ${definition.ramp.start}→${definition.ramp.cap} rounds a day`,
      ...(deps.searchAttributes === false ? {} : { typedSearchAttributes: [{ key: TenantIdKey, value: tenantId }] }),
    });
  } catch (err) {
    deps.log.error({ err, warmupId }, 'could not start the warm-up workflow');
    await deleteWarmup(db, { warmupId }).catch(() => {});
    throw new DomainError('Unavailable', 'the workflow engine is unavailable; create the warm-up again later');
  }
  return viewOf(row, await progressOf(db, row));
}

async function progressOf(db: Db, row: WarmupRow): Promise<NonNullable<WarmupView['progress']>> {
  const d = warmupDefinitionOf(row.definition);
  const totals = await warmupDayTotals(db, { warmupIds: [row.id] });
  const today = localDay(Date.now(), d.timezone);
  const byDay = new Map(totals.map((t) => [t.day, t]));
  if (row.status !== 'cancelled' && !byDay.has(today) && daysBetween(d.startDay, today) >= 0) {
    byDay.set(today, { warmupId: row.id, day: today, done: 0, failed: 0, skipped: 0, messages: 0 });
  }
  const days = [...byDay.values()]
    .sort((a, b) => a.day.localeCompare(b.day))
    .map((t) => ({ day: t.day, planned: roundsForDay(d.ramp, daysBetween(d.startDay, t.day)), done: t.done, failed: t.failed, skipped: t.skipped, messages: t.messages }));
  const reasons = await warmupReasons(db, { warmupId: row.id, limit: 100 });
  const sum = (k: 'done' | 'failed' | 'skipped' | 'messages') => days.reduce((n, t) => n + t[k], 0);
  return {
    rounds: { done: sum('done'), failed: sum('failed'), skipped: sum('skipped') },
    messages: sum('messages'),
    days,
    skips: reasons.map((r) => ({
      day: r.day,
      status: r.status,
      reason: r.reason,
      count: r.n,
      from: r.from.toISOString(),
      ...(r.until ? { until: r.until.toISOString() } : {}),
    })),
  };
}

function viewOf(row: WarmupRow, progress?: WarmupView['progress']): WarmupView {
  const d = warmupDefinitionOf(row.definition);
  return {
    id: row.id,
    ...(row.name ? { name: row.name } : {}),
    state: row.status as WarmupStatus,
    createdAt: row.createdAt.toISOString(),
    channels: d.channels,
    windows: d.windows,
    ...(d.days ? { days: d.days } : {}),
    timezone: d.timezone,
    ramp: d.ramp,
    delayMs: d.delayMs,
    turnsPerRound: d.turnsPerRound,
    ...(d.phrases ? { phrases: d.phrases } : {}),
    ...(d.topics ? { topics: d.topics } : {}),
    ai: d.ai,
    ...(progress ? { progress } : {}),
  };
}

async function warmupOf(db: Db, tenantId: string, warmupId: string): Promise<WarmupRow> {
  const row = UUID.test(warmupId) ? await getWarmup(db, { tenantId, warmupId }) : undefined;
  // Another tenant's warm-up is indistinguishable from an unknown one.
  if (!row) throw new DomainError('NotFound', `warm-up ${warmupId} not found`);
  return row;
}

/** `GET /api/warmups/:id`: the plan and its progress. */
export async function getWarmupView(db: Db, params: { tenantId: string; warmupId: string }): Promise<WarmupView> {
  const row = await warmupOf(db, params.tenantId, params.warmupId);
  return viewOf(row, await progressOf(db, row));
}

const encodeCursor = (parts: string[]) => Buffer.from(parts.join('|')).toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8').split('|');

/** `GET /api/warmups`: newest first, each with its progress. */
export async function listWarmupViews(
  db: Db,
  params: { tenantId: string; status?: WarmupStatus; limit: number; cursor?: string },
): Promise<{ warmups: WarmupView[]; nextCursor: string | null }> {
  let before: { createdAt: Date; id: string } | undefined;
  if (params.cursor) {
    const [at, id] = decodeCursor(params.cursor);
    const createdAt = new Date(at ?? '');
    if (Number.isNaN(createdAt.getTime()) || !UUID.test(id ?? '')) throw invalid('cursor', 'is not a cursor this list gave');
    before = { createdAt, id: id };
  }
  const rows = await listWarmups(db, { tenantId: params.tenantId, status: params.status, before, limit: params.limit + 1 });
  const page = rows.slice(0, params.limit);
  const last = page[page.length - 1];
  const views: WarmupView[] = [];
  for (const row of page) views.push(viewOf(row, await progressOf(db, row)));
  return {
    warmups: views,
    nextCursor: rows.length > params.limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
  };
}

export type WarmupAction = 'pause' | 'resume' | 'cancel';

const TRANSITIONS: Record<WarmupAction, { from: WarmupStatus[]; to: WarmupStatus }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['running', 'paused'], to: 'cancelled' },
};

/** A pause, resume or cancel asked of the warm-up's workflow: the row changes where its status allows. */
export async function changeWarmupStatus(db: Db, params: { warmupId: string; action: WarmupAction }): Promise<WarmupTransition> {
  const { from, to } = TRANSITIONS[params.action];
  const t = await transitionWarmup(db, { warmupId: params.warmupId, from, to });
  return { applied: t.applied, status: t.status ?? 'cancelled' };
}

const UPDATES = { pause: pauseWarmupUpdate, resume: resumeWarmupUpdate, cancel: cancelWarmupUpdate } as const;

function updateFailureType(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/**
 * `POST /api/warmups/:id/pause|resume|cancel`: an update of the warm-up's workflow, answered
 * once the row has changed; a round in flight stops before its next turn.
 */
export async function controlWarmup(
  deps: WarmupServiceDeps,
  params: { tenantId: string; warmupId: string; action: WarmupAction },
): Promise<WarmupView> {
  const row = await warmupOf(deps.db, params.tenantId, params.warmupId);
  try {
    await deps.temporal.workflow.getHandle(warmupWorkflowId(row.id)).executeUpdate(UPDATES[params.action]);
  } catch (err) {
    const now = await warmupOf(deps.db, params.tenantId, params.warmupId);
    if (updateFailureType(err) === FailureType.WarmupNotActive || now.status === 'cancelled') {
      throw new DomainError('Conflict', `warm-up is ${now.status}: it cannot be ${params.action === 'pause' ? 'paused' : params.action === 'resume' ? 'resumed' : 'cancelled'}`);
    }
    deps.log.error({ err, warmupId: row.id, action: params.action }, 'warm-up update failed');
    throw new DomainError('Unavailable', `the workflow engine did not answer; ${params.action} again later`);
  }
  return getWarmupView(deps.db, params);
}
