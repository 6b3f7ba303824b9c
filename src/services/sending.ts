/**
 * Sending through the API: send now, schedule, cancel, reschedule, and what became of a
 * message. Each operation validates against the tenant's own channels, records its rows,
 * then hands the work to a workflow (`send:<messageId>`, `schedule:<scheduleId>`).
 *
 * `Idempotency-Key`: the first request claims the key with the id of the resource it will
 * create, before any work. A retry finds the claim, and either returns the stored answer or
 * (if the first request died half-way) redoes the same, idempotent work with the same id.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { findTenantChannel, getChannelExternalId } from '../db/queries/channels';
import { upsertContact } from '../db/queries/contacts';
import { claimIdempotencyKey, releaseIdempotencyKey, storeIdempotentResponse } from '../db/queries/idempotencyKeys';
import { getMessageStatus, getTenantMessage } from '../db/queries/messages';
import { getSchedule, insertSchedule, transitionSchedule, type ScheduleRow } from '../db/queries/schedules';
import { insertQueuedSend, listAttempts, markMessageFailed } from '../db/queries/sends';
import { listStatusEvents } from '../db/queries/statuses';
import { DomainError } from '../domain/errors';
import { FailureType } from '../domain/failures';
import { tenantPriority } from '../domain/priorities';
import { ContactPhoneKey, TenantIdKey } from '../domain/searchAttributes';
import { scheduleWorkflowId, sendWorkflowId } from '../domain/workflowIds';
import type { Logger } from '../log';
import type { OutboundMessage } from '../providers/types';
import { cancelScheduleUpdate, rescheduleUpdate, scheduleWakeAt, WorkflowType } from '../workflows/definitions';
import { bodyOf, type DeliverRequest } from './delivery';
import type { scheduledSendWorkflow, sendMessageWorkflow } from '../workflows/sending';
import type { ScheduledSendInput, ScheduleView } from '../workflows/types';

export interface SendingServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
  log: Logger;
  /** Tag workflows with TenantId/ContactPhone (off for servers without zapflow's search attributes). */
  searchAttributes?: boolean;
}

/** Failures of a sending operation; the API maps each kind to one status. */
export class SendingError extends DomainError {
  override name = 'SendingError';
}

export interface SendInput {
  instanceName: string;
  /** Canonical phone key. */
  phoneNumber: string;
  message: OutboundMessage;
}

/** The idempotency key of an API send's message row (the delivery finds the row by it). */
export const sendMessageKey = (messageId: string) => `send:${messageId}`;

export interface Answer<T> {
  statusCode: number;
  body: T;
}

export interface SendAccepted {
  success: true;
  status: 'queued';
  messageId: string;
}

export interface ScheduleAccepted {
  success: true;
  scheduleId: string;
  scheduledFor: string;
  message: string;
}

export const SCHEDULED_MESSAGE = 'Mensagem agendada com sucesso';

function requestHash(operation: string, value: unknown): string {
  return `${operation}:${createHash('sha256').update(JSON.stringify(value)).digest('hex')}`;
}

async function resolveChannel(db: Db, tenantId: string, instanceName: string) {
  const channel = await findTenantChannel(db, { tenantId, instanceName });
  // Another tenant's instance is indistinguishable from an unknown one.
  if (!channel) throw new SendingError('NotFound', `instance "${instanceName}" not found`, 'instanceName');
  return channel;
}

/**
 * Runs `work` at most once per (tenant, Idempotency-Key) as far as the client can tell.
 * Without a key, every call is new.
 */
async function idempotent<T extends object>(
  deps: SendingServiceDeps,
  params: { tenantId: string; key?: string; hash: string },
  work: (resourceId: string, fresh: boolean) => Promise<Answer<T>>,
): Promise<Answer<T>> {
  if (!params.key) return work(randomUUID(), true);
  const { row, fresh } = await claimIdempotencyKey(deps.db, {
    tenantId: params.tenantId,
    key: params.key,
    requestHash: params.hash,
    resourceId: randomUUID(),
  });
  if (row.requestHash !== params.hash) {
    throw new SendingError('Conflict', 'this Idempotency-Key was already used for a different request');
  }
  if (row.response && row.statusCode) return { statusCode: row.statusCode, body: row.response as T };
  const answer = await work(row.resourceId, fresh);
  await storeIdempotentResponse(deps.db, {
    tenantId: params.tenantId,
    key: params.key,
    statusCode: answer.statusCode,
    response: answer.body as Record<string, unknown>,
  });
  return answer;
}

function isAlreadyStarted(err: unknown): boolean {
  return (err as Error)?.name === 'WorkflowExecutionAlreadyStartedError';
}

function searchAttributes(deps: SendingServiceDeps, tenantId: string, phone: string) {
  if (deps.searchAttributes === false) return {};
  return {
    typedSearchAttributes: [
      { key: TenantIdKey, value: tenantId },
      { key: ContactPhoneKey, value: phone },
    ],
  };
}

/** POST send-message: a queued row now, the delivery in `send:<messageId>`. */
export async function sendMessage(
  deps: SendingServiceDeps,
  params: { tenantId: string; input: SendInput; idempotencyKey?: string },
): Promise<Answer<SendAccepted>> {
  const { db } = deps;
  const channel = await resolveChannel(db, params.tenantId, params.input.instanceName);
  return idempotent(deps, { tenantId: params.tenantId, key: params.idempotencyKey, hash: requestHash('send', params.input) }, async (messageId) => {
    const contact = await upsertContact(db, { tenantId: params.tenantId, phone: params.input.phoneNumber });
    const idempotencyKey = sendMessageKey(messageId);
    await insertQueuedSend(db, {
      messageId,
      tenantId: params.tenantId,
      channelId: channel.id,
      contactId: contact.id,
      type: params.input.message.type,
      body: bodyOf(params.input.message),
      payload: params.input.message,
      idempotencyKey,
    });
    const request: DeliverRequest = {
      tenantId: params.tenantId,
      channelId: channel.id,
      contactKey: params.input.phoneNumber,
      message: params.input.message,
      idempotencyKey,
    };
    try {
      await deps.temporal.workflow.start<typeof sendMessageWorkflow>(WorkflowType.sendMessage, {
        workflowId: sendWorkflowId(messageId),
        taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
        args: [request],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        priority: tenantPriority('apiSend', params.tenantId),
        staticSummary: `Send ${params.input.message.type} → ${params.input.phoneNumber} via ${channel.externalId}`,
        ...searchAttributes(deps, params.tenantId, params.input.phoneNumber),
      });
    } catch (err) {
      if (!isAlreadyStarted(err)) {
        deps.log.error({ err, messageId }, 'could not start the send workflow');
        // Without a key the client cannot retry this message: close the row rather than
        // leave it queued for ever. With a key, its retry redoes the start.
        if (!params.idempotencyKey) {
          await markMessageFailed(db, { messageId, error: { reason: 'NotQueued', message: 'workflow engine unavailable' } }).catch(() => {});
        }
        throw new SendingError('Unavailable', 'the workflow engine is unavailable; retry (with the same Idempotency-Key) later');
      }
    }
    return { statusCode: 200, body: { success: true, status: 'queued', messageId } };
  });
}

/** The rules of a schedule time; undefined when `at` is acceptable. */
export function scheduleTimeProblem(at: number, now: number, maxAheadMs: number): string | undefined {
  if (!Number.isFinite(at)) return 'must be an ISO 8601 date-time with offset, e.g. 2025-03-10T14:30:00-03:00';
  if (at <= now) return 'must be in the future';
  if (at > now + maxAheadMs) return `must be at most ${Math.round(maxAheadMs / 86_400_000)} days ahead`;
  return undefined;
}

/** POST schedule-message: a schedule row and its `schedule:<id>` workflow. */
export async function scheduleMessage(
  deps: SendingServiceDeps,
  params: { tenantId: string; input: SendInput; scheduledFor: number; idempotencyKey?: string; now?: number },
): Promise<Answer<ScheduleAccepted>> {
  const { db, config } = deps;
  const channel = await resolveChannel(db, params.tenantId, params.input.instanceName);
  const hash = requestHash('schedule', { ...params.input, scheduledFor: params.scheduledFor });
  return idempotent(deps, { tenantId: params.tenantId, key: params.idempotencyKey, hash }, async (scheduleId, fresh) => {
    // Checked after the key: a retry past the time still gets its first answer.
    const problem = fresh ? scheduleTimeProblem(params.scheduledFor, params.now ?? Date.now(), config.SCHEDULE_MAX_AHEAD) : undefined;
    if (problem) {
      if (params.idempotencyKey) await releaseIdempotencyKey(db, { tenantId: params.tenantId, key: params.idempotencyKey });
      throw new SendingError('Invalid', problem, 'scheduledFor');
    }
    await upsertContact(db, { tenantId: params.tenantId, phone: params.input.phoneNumber });
    const row = await insertSchedule(db, {
      id: scheduleId,
      tenantId: params.tenantId,
      channelId: channel.id,
      contactKey: params.input.phoneNumber,
      message: params.input.message,
      scheduledFor: new Date(params.scheduledFor),
      dispatch: config.SCHEDULE_DISPATCH,
    });
    const input: ScheduledSendInput = {
      scheduleId,
      tenantId: params.tenantId,
      channelId: channel.id,
      contactKey: params.input.phoneNumber,
      message: params.input.message,
      scheduledFor: row.scheduledFor.getTime(),
      prefireMs: config.SCHEDULE_PREFIRE,
      // The row's flag, not today's setting: a retried request finds the row of the first.
      ...(row.dispatch ? { settleAfterMs: config.SCHEDULE_SETTLE_AFTER, claimTtlMs: config.SCHEDULE_CLAIM_TTL } : {}),
    };
    await startScheduleWorkflow(deps, input, !params.idempotencyKey, params.now);
    return {
      statusCode: 202,
      body: { success: true, scheduleId, scheduledFor: row.scheduledFor.toISOString(), message: SCHEDULED_MESSAGE },
    };
  });
}

/**
 * Starts a schedule's workflow with a start delay that ends when it must wake: when
 * dispatched, SCHEDULE_SETTLE_AFTER after its time (a dispatcher sends it); else
 * SCHEDULE_PREFIRE before. Until then the schedule costs no workflow task, no timer and no
 * worker cache (a cancel or reschedule wakes it early).
 */
export async function startScheduleWorkflow(deps: SendingServiceDeps, input: ScheduledSendInput, closeOnFailure = false, now = Date.now()): Promise<void> {
  const delayMs = Math.floor(scheduleWakeAt(input, input.scheduledFor) - now);
  try {
    await deps.temporal.workflow.start<typeof scheduledSendWorkflow>(WorkflowType.scheduledSend, {
      workflowId: scheduleWorkflowId(input.scheduleId),
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      args: [input],
      ...(delayMs > 0 ? { startDelay: delayMs } : {}),
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      priority: tenantPriority('scheduledSend', input.tenantId),
      staticSummary: `Scheduled ${input.message.type} → ${input.contactKey} at ${new Date(input.scheduledFor).toISOString()}`,
      staticDetails: `Schedule ${input.scheduleId} (tenant ${input.tenantId}); reschedules and cancels arrive as updates`,
      ...searchAttributes(deps, input.tenantId, input.contactKey),
    });
  } catch (err) {
    if (isAlreadyStarted(err)) return;
    deps.log.error({ err, scheduleId: input.scheduleId }, 'could not start the schedule workflow');
    if (closeOnFailure) {
      await transitionSchedule(deps.db, {
        scheduleId: input.scheduleId,
        from: ['scheduled'],
        to: 'failed',
        set: { error: { reason: 'NotQueued', message: 'workflow engine unavailable' } },
      }).catch(() => {});
    }
    throw new SendingError('Unavailable', 'the workflow engine is unavailable; retry (with the same Idempotency-Key) later');
  }
}

// ─── schedules: read, cancel, reschedule ───

export interface ScheduleDetails {
  id: string;
  status: ScheduleRow['status'];
  scheduledFor: string;
  instanceName: string | undefined;
  phoneNumber: string;
  message: Record<string, unknown>;
  messageId: string | null;
  messageStatus?: string;
  error: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  cancelledAt: string | null;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export async function getScheduleDetails(db: Db, params: { tenantId: string; scheduleId: string }): Promise<ScheduleDetails> {
  const row = await getSchedule(db, params);
  if (!row) throw new SendingError('NotFound', `schedule ${params.scheduleId} not found`);
  const instanceName = await getChannelExternalId(db, { channelId: row.channelId });
  const messageStatus = row.messageId ? await getMessageStatus(db, { messageId: row.messageId }) : undefined;
  return {
    id: row.id,
    status: row.status,
    scheduledFor: row.scheduledFor.toISOString(),
    instanceName,
    phoneNumber: row.contactKey,
    message: row.message,
    messageId: row.messageId,
    ...(messageStatus ? { messageStatus } : {}),
    error: row.error ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    sentAt: iso(row.sentAt),
    cancelledAt: iso(row.cancelledAt),
  };
}

/** How long the API waits for a schedule's workflow to take a cancel or reschedule. */
const UPDATE_TIMEOUT_MS = 15_000;

async function updateSchedule(
  deps: SendingServiceDeps,
  row: ScheduleRow,
  call: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<ScheduleView>,
): Promise<void> {
  const handle = deps.temporal.workflow.getHandle(scheduleWorkflowId(row.id));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SendingError('Unavailable', 'the schedule did not answer in time; retry')), UPDATE_TIMEOUT_MS);
  });
  try {
    await Promise.race([call(handle), timeout]);
  } catch (err) {
    if (err instanceof SendingError) throw err;
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    if ((err as Error).name === 'WorkflowUpdateFailedError' && cause?.type === FailureType.ScheduleNotPending) {
      throw new SendingError('Conflict', `too late: ${cause.message ?? 'the send has begun'}`);
    }
    if ((err as Error).name === 'WorkflowNotFoundError') {
      // The workflow has ended: the row tells how.
      const now = await getSchedule(deps.db, { tenantId: row.tenantId, scheduleId: row.id });
      throw new SendingError('Conflict', `too late: the schedule is ${now?.status ?? 'finished'}`);
    }
    deps.log.error({ err, scheduleId: row.id }, 'schedule update failed');
    throw new SendingError('Unavailable', 'the workflow engine is unavailable; retry later');
  } finally {
    clearTimeout(timer);
  }
}

/** DELETE: cancels a pending schedule (again: same answer); 409 once its send has begun. */
export async function cancelSchedule(deps: SendingServiceDeps, params: { tenantId: string; scheduleId: string }): Promise<ScheduleDetails> {
  const row = await getSchedule(deps.db, params);
  if (!row) throw new SendingError('NotFound', `schedule ${params.scheduleId} not found`);
  if (row.status !== 'cancelled') {
    if (row.status !== 'scheduled') throw new SendingError('Conflict', `too late: the schedule is ${row.status}`);
    await updateSchedule(deps, row, (h) => h.executeUpdate(cancelScheduleUpdate));
  }
  return getScheduleDetails(deps.db, params);
}

/** PATCH: moves a pending schedule to a new time (same rules as scheduling). */
export async function rescheduleSchedule(
  deps: SendingServiceDeps,
  params: { tenantId: string; scheduleId: string; scheduledFor: number; now?: number },
): Promise<ScheduleDetails> {
  const row = await getSchedule(deps.db, params);
  if (!row) throw new SendingError('NotFound', `schedule ${params.scheduleId} not found`);
  const problem = scheduleTimeProblem(params.scheduledFor, params.now ?? Date.now(), deps.config.SCHEDULE_MAX_AHEAD);
  if (problem) throw new SendingError('Invalid', problem, 'scheduledFor');
  if (row.status !== 'scheduled') throw new SendingError('Conflict', `too late: the schedule is ${row.status}`);
  await updateSchedule(deps, row, (h) => h.executeUpdate(rescheduleUpdate, { args: [{ scheduledFor: params.scheduledFor }] }));
  return getScheduleDetails(deps.db, params);
}

// ─── message history ───

export interface HistoryEntry {
  status: string;
  at: string;
  providerMessageId?: string;
  reason?: string;
  error?: Record<string, unknown>;
  source: 'zapflow' | 'provider';
}

export interface MessageDetails {
  id: string;
  direction: string;
  status: string;
  instanceName: string;
  phoneNumber: string | null;
  type: string;
  body: string | null;
  providerMessageId: string | null;
  error: Record<string, unknown> | null;
  createdAt: string;
  sentAt: string | null;
  deliveredAt: string | null;
  readAt: string | null;
  failedAt: string | null;
  history: HistoryEntry[];
  attempts: Array<{
    attempt: number;
    startedAt: string;
    finishedAt: string | null;
    outcome: string | null;
    providerMessageId: string | null;
    duplicateRisk: boolean;
    error: Record<string, unknown> | null;
  }>;
}

/** A message and what became of it: zapflow's own steps, then what the provider reported. */
export async function getMessageDetails(db: Db, params: { tenantId: string; messageId: string }): Promise<MessageDetails> {
  const found = await getTenantMessage(db, params);
  if (!found) throw new SendingError('NotFound', `message ${params.messageId} not found`);
  const m = found.message;
  const [attempts, events] = await Promise.all([
    listAttempts(db, { messageId: m.id }),
    m.providerMessageId ? listStatusEvents(db, { channelId: m.channelId, providerMessageId: m.providerMessageId }) : Promise.resolve([]),
  ]);

  const history: HistoryEntry[] = [];
  if (m.direction === 'outbound') history.push({ status: 'queued', at: m.createdAt.toISOString(), source: 'zapflow' });
  else history.push({ status: 'received', at: m.createdAt.toISOString(), source: 'provider' });
  const reported = new Set(events.map((e) => e.status));
  if (m.sentAt && !reported.has('sent')) {
    history.push({ status: 'sent', at: m.sentAt.toISOString(), providerMessageId: m.providerMessageId ?? undefined, source: 'zapflow' });
  }
  for (const e of events) {
    history.push({
      status: e.status,
      at: e.occurredAt.toISOString(),
      ...(e.status === 'sent' ? { providerMessageId: e.providerMessageId } : {}),
      ...(e.error ? { error: e.error } : {}),
      source: 'provider',
    });
  }
  if (m.status === 'failed' && !reported.has('failed')) {
    history.push({
      status: 'failed',
      at: (m.failedAt ?? m.updatedAt).toISOString(),
      reason: typeof m.error?.reason === 'string' ? m.error.reason : undefined,
      ...(m.error ? { error: m.error } : {}),
      source: 'zapflow',
    });
  }
  history.sort((a, b) => a.at.localeCompare(b.at));

  return {
    id: m.id,
    direction: m.direction,
    status: m.status,
    instanceName: found.instanceName,
    phoneNumber: found.phone,
    type: m.type,
    body: m.body,
    providerMessageId: m.providerMessageId,
    error: m.error ?? null,
    createdAt: m.createdAt.toISOString(),
    sentAt: iso(m.sentAt),
    deliveredAt: iso(m.deliveredAt),
    readAt: iso(m.readAt),
    failedAt: iso(m.failedAt),
    history,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: a.startedAt.toISOString(),
      finishedAt: iso(a.finishedAt),
      outcome: a.outcome,
      providerMessageId: a.providerMessageId,
      duplicateRisk: a.duplicateRisk,
      error: a.error ?? null,
    })),
  };
}
