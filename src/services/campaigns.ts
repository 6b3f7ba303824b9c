/**
 * Campaigns as business operations: create one (channels, message, audience resolved into
 * recipient rows in bulk, refused with the reason when it could send nothing), read it with
 * its counts, list them and their recipients, and pause, resume or cancel it through its
 * workflow's updates (`campaign:<id>`). The sending itself is services/campaignSender.ts,
 * run by the workflow's activities.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { isUniqueViolation } from '../db/errors';
import { findTenantChannel, getChannelById, type ChannelRow } from '../db/queries/channels';
import {
  campaignCounts,
  deleteCampaign,
  getCampaign,
  insertCampaign,
  insertRecipientsFromContacts,
  insertRecipientsFromPhones,
  listCampaignRecipients,
  listCampaigns,
  logCreationSkips,
  tenantHasImport,
  type CampaignRow,
  type RecipientTally,
} from '../db/queries/campaigns';
import type { CampaignPacing, CampaignQuotas, CampaignState, CampaignWait } from '../domain/campaign';
import { DomainError } from '../domain/errors';
import { FailureType } from '../domain/failures';
import type { TimeWindow } from '../domain/followUpWindow';
import { phoneFromClient } from '../domain/phone';
import { tenantPriority } from '../domain/priorities';
import type { CampaignRecipientStatus } from '../domain/records';
import { CampaignIdKey, TenantIdKey } from '../domain/searchAttributes';
import { campaignWorkflowId } from '../domain/workflowIds';
import type { Logger } from '../log';
import type { OutboundMessage } from '../providers/types';
import { cancelCampaignUpdate, pauseCampaignUpdate, resumeCampaignUpdate, WorkflowType } from '../workflows/definitions';
import type { campaignWorkflow } from '../workflows/campaign';
import type { CampaignTiming, CampaignWorkflowInput } from '../workflows/types';
import { definitionOf, type CampaignDefinition } from './campaignDefinition';
import { campaignCanUse, type CampaignAction } from './campaignSender';

export interface CampaignServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
  log: Logger;
  /** Tag the workflow with TenantId/CampaignId (off for servers without zapflow's search attributes). */
  searchAttributes?: boolean;
}

export type CampaignAudience = { tags: string[] } | { importId: string } | { phones: string[] };

/** `POST /api/campaigns`, as the API parsed it. */
export interface CreateCampaignInput {
  name: string;
  /** Instance names (external ids or display names) or channel ids. */
  channels: string[];
  message: OutboundMessage;
  audience: CampaignAudience;
  /** Epoch ms; absent: at once. */
  startAt?: number;
  windows: TimeWindow[];
  days?: number[];
  quotas: CampaignQuotas;
  pacing: CampaignPacing;
}

export interface CampaignCountsView {
  recipients: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  read: number;
  replied: number;
  clicked: number;
  failed: number;
  skipped: number;
  /** Skipped recipients by reason: opted_out, invalid_number, not_on_whatsapp, duplicate, recipient_cap. */
  skippedBy: Record<string, number>;
  /** Failed recipients by failure type (WindowClosed, ProviderRejected…). */
  failedBy: Record<string, number>;
}

export interface CampaignView {
  id: string;
  name: string;
  state: CampaignState;
  waitingFor?: CampaignWait;
  until?: string;
  startAt?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  channels: CampaignDefinition['channels'];
  message: OutboundMessage;
  audience: CampaignDefinition['audience'];
  windows: TimeWindow[];
  days?: number[];
  quotas: CampaignQuotas;
  pacing: CampaignPacing;
  counts?: CampaignCountsView;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The settings a campaign's workflow runs with (carried across its runs). */
export function campaignTiming(config: Config): CampaignTiming {
  return {
    pageSize: config.CAMPAIGN_PAGE_SIZE,
    batchMaxMs: config.CAMPAIGN_BATCH_MAX,
    heartbeatTimeoutMs: config.CAMPAIGN_HEARTBEAT_TIMEOUT,
    leaseMs: config.CAMPAIGN_SEND_LEASE,
  };
}

const invalid = (field: string, message: string) => new DomainError('Invalid', message, field);

async function resolveChannels(db: Db, tenantId: string, names: string[]): Promise<ChannelRow[]> {
  const found = new Map<string, ChannelRow>();
  for (const [i, name] of names.entries()) {
    const byId = UUID.test(name) ? await getChannelById(db, { channelId: name }) : undefined;
    const channel = byId?.tenantId === tenantId ? byId : await findTenantChannel(db, { tenantId, instanceName: name });
    // Another tenant's channel is indistinguishable from an unknown one.
    if (!channel) throw invalid(`channels.${i}`, `channel "${name}" not found`);
    found.set(channel.id, channel);
  }
  return [...found.values()];
}

const label = (c: Pick<ChannelRow, 'externalId' | 'name'>) => c.name ?? c.externalId;

/** Whether these channels can send this message at all; the reason (and field) when not. */
function checkChannels(channels: ChannelRow[], message: OutboundMessage): void {
  const usable = channels.filter((c) => campaignCanUse(c));
  if (usable.length === 0) {
    throw invalid('channels', `no connected channel: ${channels.map((c) => `${label(c)} is ${c.connectionState}`).join(', ')}`);
  }
  if (message.type === 'template') {
    // WhatsApp Web gateways (Evolution, Uazapi) have no templates.
    const evolution = channels.filter((c) => c.provider === 'evolution' || c.provider === 'uazapi');
    if (evolution.length > 0) {
      throw invalid('message.template', `Evolution and Uazapi numbers cannot send Meta templates (${evolution.map(label).join(', ')}): send text, media or buttons there`);
    }
  } else {
    const meta = channels.filter((c) => c.provider === 'meta');
    if (meta.length > 0) {
      throw invalid(
        'message',
        `${meta.map(label).join(', ')} ${meta.length > 1 ? 'are Meta numbers' : 'is a Meta number'}: a campaign reaches contacts outside the 24-hour window, where only a template can be sent; send a template`,
      );
    }
  }
}

const REASON_TEXT: Record<string, string> = {
  opted_out: 'opted out',
  invalid_number: 'invalid number',
  duplicate: 'duplicate',
};

function emptyAudienceMessage(tally: RecipientTally[], duplicates: number): string {
  const parts = tally.filter((t) => t.status === 'skipped').map((t) => `${t.n} ${REASON_TEXT[t.reason ?? ''] ?? t.reason}`);
  if (duplicates > 0) parts.push(`${duplicates} duplicate`);
  return parts.length > 0 ? `no recipient to send to: ${parts.join(', ')}` : 'no contact matches this audience';
}

/** `{phones}`: canonical and distinct in order, the entries that are no phone, and how many repeated an earlier one. */
export function splitPhones(entries: string[]): { phones: string[]; invalid: string[]; duplicates: number } {
  const phones: string[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  for (const entry of entries) {
    const phone = phoneFromClient(entry);
    const key = phone ?? entry.trim().slice(0, 64);
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    (phone ? phones : invalid).push(key);
  }
  return { phones, invalid, duplicates };
}

/**
 * `POST /api/campaigns`: the campaign row and its recipients in one transaction (refused,
 * with nothing written, when it could send nothing), then its workflow.
 */
export async function createCampaign(
  deps: CampaignServiceDeps,
  params: { tenantId: string; input: CreateCampaignInput; idempotencyKey?: string; now?: number },
): Promise<{ campaign: CampaignView; created: boolean }> {
  const { db, config } = deps;
  const { tenantId, input } = params;
  const now = params.now ?? Date.now();
  // With an Idempotency-Key the campaign's id is derived from it (and the tenant), so a client
  // retrying a POST whose answer it lost finds the campaign it made instead of sending twice.
  const campaignId = params.idempotencyKey !== undefined ? campaignIdForKey(tenantId, params.idempotencyKey) : randomUUID();
  const existing = params.idempotencyKey !== undefined ? await getCampaign(db, { tenantId, campaignId }) : undefined;
  if (existing) return { campaign: viewOf(existing, await countsOf(db, existing)), created: false };
  if (input.startAt !== undefined && input.startAt > now + config.SCHEDULE_MAX_AHEAD) {
    throw invalid('startAt', `must be at most ${Math.round(config.SCHEDULE_MAX_AHEAD / 86_400_000)} days ahead`);
  }
  const channels = await resolveChannels(db, tenantId, input.channels);
  checkChannels(channels, input.message);
  const audience = input.audience;
  if ('importId' in audience && !(await tenantHasImport(db, { tenantId, importId: audience.importId }))) {
    throw invalid('audience.importId', `import ${audience.importId} not found`);
  }
  const split = 'phones' in audience ? splitPhones(audience.phones) : undefined;

  const definition: CampaignDefinition = {
    channels: channels.map((c) => ({ id: c.id, name: label(c), provider: c.provider })),
    message: input.message,
    audience: 'phones' in audience ? { phones: audience.phones.length } : audience,
    windows: input.windows,
    ...(input.days?.length ? { days: input.days } : {}),
    quotas: input.quotas,
    pacing: input.pacing,
    duplicates: split?.duplicates ?? 0,
  };
  const store = () =>
    db.transaction(async (tx) => {
      const created = await insertCampaign(tx, {
        id: campaignId,
        tenantId,
        name: input.name,
        definition: definition as unknown as Record<string, unknown>,
        startAt: input.startAt !== undefined ? new Date(input.startAt) : null,
      });
      const tally = split
        ? await insertRecipientsFromPhones(tx, { campaignId, tenantId, phones: split.phones, invalid: split.invalid })
        : await insertRecipientsFromContacts(tx, { campaignId, tenantId, ...audience });
      const queued = tally.filter((t) => t.status === 'queued').reduce((n, t) => n + t.n, 0);
      if (queued === 0) throw invalid('audience', emptyAudienceMessage(tally, definition.duplicates));
      await logCreationSkips(tx, { campaignId, at: new Date(now) });
      return { created, queued };
    });
  let row: Awaited<ReturnType<typeof store>>;
  try {
    row = await store();
  } catch (err) {
    // The same key, twice at once: the other request committed the campaign first.
    const raced = isUniqueViolation(err) && params.idempotencyKey !== undefined ? await getCampaign(db, { tenantId, campaignId }) : undefined;
    if (!raced) throw err;
    return { campaign: viewOf(raced, await countsOf(db, raced)), created: false };
  }

  const workflowInput: CampaignWorkflowInput = { campaignId, tenantId, startAt: input.startAt, timing: campaignTiming(config) };
  try {
    await deps.temporal.workflow.start<typeof campaignWorkflow>(WorkflowType.campaign, {
      workflowId: campaignWorkflowId(campaignId),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [workflowInput],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      priority: tenantPriority('campaign', tenantId),
      staticSummary: `Campaign "${input.name}": ${row.queued} recipients via ${definition.channels.map((c) => c.name).join(', ')}`,
      ...(deps.searchAttributes === false
        ? {}
        : {
            typedSearchAttributes: [
              { key: TenantIdKey, value: tenantId },
              { key: CampaignIdKey, value: campaignId },
            ],
          }),
    });
  } catch (err) {
    deps.log.error({ err, campaignId }, 'could not start the campaign workflow');
    await deleteCampaign(db, { campaignId }).catch(() => {});
    throw new DomainError('Unavailable', 'the workflow engine is unavailable; create the campaign again later');
  }
  return { campaign: viewOf(row.created, await countsOf(db, row.created)), created: true };
}

/** A uuid (v4 layout) from sha-256 of the tenant and the client's key: the same pair, the same campaign. */
export function campaignIdForKey(tenantId: string, key: string): string {
  const h = createHash('sha256').update(`campaign\0${tenantId}\0${key}`).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function countsOf(db: Db, row: CampaignRow): Promise<CampaignCountsView> {
  const c = await campaignCounts(db, { campaignId: row.id });
  const duplicates = definitionOf(row.definition).duplicates ?? 0;
  const skippedBy = { ...c.skipped, ...(duplicates > 0 ? { duplicate: duplicates } : {}) };
  const skipped = Object.values(skippedBy).reduce((n, v) => n + v, 0);
  return {
    recipients: c.queued + c.sending + c.sent + c.failed + skipped,
    queued: c.queued,
    sending: c.sending,
    sent: c.sent,
    delivered: c.delivered,
    read: c.read,
    replied: c.replied,
    clicked: c.clicked,
    failed: c.failed,
    skipped,
    skippedBy,
    failedBy: c.failedReasons,
  };
}

function viewOf(row: CampaignRow, counts?: CampaignCountsView): CampaignView {
  const d = definitionOf(row.definition);
  const waiting = row.status === 'waiting';
  return {
    id: row.id,
    name: row.name,
    state: row.status,
    ...(waiting && row.waitingFor ? { waitingFor: row.waitingFor as CampaignWait } : {}),
    ...(waiting && row.waitingUntil ? { until: row.waitingUntil.toISOString() } : {}),
    ...(row.startAt ? { startAt: row.startAt.toISOString() } : {}),
    createdAt: row.createdAt.toISOString(),
    ...(row.startedAt ? { startedAt: row.startedAt.toISOString() } : {}),
    ...(row.finishedAt ? { finishedAt: row.finishedAt.toISOString() } : {}),
    channels: d.channels,
    message: d.message,
    audience: d.audience,
    windows: d.windows,
    ...(d.days ? { days: d.days } : {}),
    quotas: d.quotas,
    pacing: d.pacing,
    ...(counts ? { counts } : {}),
  };
}

async function campaignOf(db: Db, tenantId: string, campaignId: string): Promise<CampaignRow> {
  const row = UUID.test(campaignId) ? await getCampaign(db, { tenantId, campaignId }) : undefined;
  // Another tenant's campaign is indistinguishable from an unknown one.
  if (!row) throw new DomainError('NotFound', `campaign ${campaignId} not found`);
  return row;
}

/** `GET /api/campaigns/:id`: its state and counts. */
export async function getCampaignView(db: Db, params: { tenantId: string; campaignId: string }): Promise<CampaignView> {
  const row = await campaignOf(db, params.tenantId, params.campaignId);
  return viewOf(row, await countsOf(db, row));
}

const encodeCursor = (parts: string[]) => Buffer.from(parts.join('|')).toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8').split('|');

/** `GET /api/campaigns`: newest first, `limit` a page, `cursor` from the previous page's `nextCursor`. */
export async function listCampaignViews(
  db: Db,
  params: { tenantId: string; status?: CampaignState; limit: number; cursor?: string },
): Promise<{ campaigns: CampaignView[]; nextCursor: string | null }> {
  let before: { createdAt: Date; id: string } | undefined;
  if (params.cursor) {
    const [at, id] = decodeCursor(params.cursor);
    const createdAt = new Date(at ?? '');
    if (Number.isNaN(createdAt.getTime()) || !UUID.test(id ?? '')) throw invalid('cursor', 'is not a cursor this list gave');
    before = { createdAt, id: id };
  }
  const rows = await listCampaigns(db, { tenantId: params.tenantId, status: params.status, before, limit: params.limit + 1 });
  const page = rows.slice(0, params.limit);
  const last = page[page.length - 1];
  return {
    campaigns: page.map((r) => viewOf(r)),
    nextCursor: rows.length > params.limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
  };
}

export interface RecipientView {
  id: number;
  phone: string;
  status: CampaignRecipientStatus;
  reason?: string;
  channelId?: string;
  messageId?: string;
  sentAt?: string;
}

/** `GET /api/campaigns/:id/recipients?status=`: in order, a page at a time. */
export async function listRecipientViews(
  db: Db,
  params: { tenantId: string; campaignId: string; status?: CampaignRecipientStatus; limit: number; cursor?: string },
): Promise<{ recipients: RecipientView[]; nextCursor: string | null }> {
  await campaignOf(db, params.tenantId, params.campaignId);
  let afterId: number | undefined;
  if (params.cursor) {
    afterId = Number(decodeCursor(params.cursor)[0]);
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw invalid('cursor', 'is not a cursor this list gave');
  }
  const rows = await listCampaignRecipients(db, { campaignId: params.campaignId, status: params.status, afterId, limit: params.limit + 1 });
  const page = rows.slice(0, params.limit);
  const last = page[page.length - 1];
  return {
    recipients: page.map((r) => ({
      id: r.id,
      phone: r.phone,
      status: r.status,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.channelId ? { channelId: r.channelId } : {}),
      ...(r.messageId ? { messageId: r.messageId } : {}),
      ...(r.sentAt && r.status === 'sent' ? { sentAt: r.sentAt.toISOString() } : {}),
    })),
    nextCursor: rows.length > params.limit && last ? encodeCursor([String(last.id)]) : null,
  };
}

const UPDATES = { pause: pauseCampaignUpdate, resume: resumeCampaignUpdate, cancel: cancelCampaignUpdate } as const;

/** The failure type an update's rejection carries (WorkflowUpdateFailedError → ApplicationFailure). */
function updateFailureType(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/**
 * `POST /api/campaigns/:id/pause|resume|cancel`: an update of the campaign's workflow. It is
 * answered once the campaign row has changed and (pause, cancel) no send of the campaign is
 * in flight any more; then the campaign as it is now.
 */
export async function controlCampaign(
  deps: CampaignServiceDeps,
  params: { tenantId: string; campaignId: string; action: CampaignAction },
): Promise<CampaignView> {
  const row = await campaignOf(deps.db, params.tenantId, params.campaignId);
  try {
    await deps.temporal.workflow.getHandle(campaignWorkflowId(row.id)).executeUpdate(UPDATES[params.action]);
  } catch (err) {
    const now = await campaignOf(deps.db, params.tenantId, params.campaignId);
    if (updateFailureType(err) === FailureType.CampaignNotActive || now.status === 'completed' || now.status === 'cancelled') {
      throw new DomainError('Conflict', `campaign is ${now.status}: it cannot be ${params.action === 'pause' ? 'paused' : params.action === 'resume' ? 'resumed' : 'cancelled'}`);
    }
    deps.log.error({ err, campaignId: row.id, action: params.action }, 'campaign update failed');
    throw new DomainError('Unavailable', `the workflow engine did not answer; ${params.action} again later`);
  }
  return getCampaignView(deps.db, params);
}
