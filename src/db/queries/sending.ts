/**
 * SQL of sending: message attempts, quota counters, pacing, schedules, API idempotency keys.
 * Every function takes `db` first so it runs inside transactions and tests alike.
 */
import { and, asc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import {
  apiIdempotencyKeys,
  channels,
  contacts,
  messageAttempts,
  messages,
  messageStatusEvents,
  sandboxOutbox,
  scheduledMessages,
  sendPacing,
  sendQuotaCounters,
  tenants,
  type AttemptOutcome,
  type ScheduleStatus,
} from '../schema';

/** `db.execute` answers an array (postgres.js) or `{ rows }` (PGlite). */
function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/** Postgres unique_violation, whichever driver raised it (postgres.js puts it on the error, drizzle on its cause). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === '23505') return true;
  }
  return false;
}

// ─── messages ───

/** What delivery needs of a message row. */
export interface OutboundRow {
  id: string;
  channelId: string;
  providerMessageId: string | null;
  status: (typeof messages.$inferSelect)['status'];
  error: Record<string, unknown> | null;
}

/**
 * The outbound row for an idempotency key: inserted the first time, returned as stored on
 * every later call (one round trip: the no-op update makes RETURNING yield the existing row).
 */
export async function upsertOutboundMessage(db: Db, values: typeof messages.$inferInsert & { idempotencyKey: string }): Promise<OutboundRow> {
  const [row] = await db
    .insert(messages)
    .values(values)
    .onConflictDoUpdate({ target: messages.idempotencyKey, set: { idempotencyKey: sql`excluded.idempotency_key` } })
    .returning({
      id: messages.id,
      channelId: messages.channelId,
      providerMessageId: messages.providerMessageId,
      status: messages.status,
      error: messages.error,
    });
  return row!;
}

export async function markMessageFailed(db: Db, params: { messageId: string; error: Record<string, unknown> }): Promise<void> {
  await db
    .update(messages)
    .set({ status: 'failed', failedAt: sql`now()`, error: params.error, updatedAt: sql`now()` })
    .where(and(eq(messages.id, params.messageId), inArray(messages.status, ['queued'])));
}

/** Notes on a queued row why it is not out yet (waiting for quota, last transient error). */
export async function noteMessageError(db: Db, params: { messageId: string; error: Record<string, unknown> }): Promise<void> {
  await db
    .update(messages)
    .set({ error: params.error, updatedAt: sql`now()` })
    .where(and(eq(messages.id, params.messageId), eq(messages.status, 'queued')));
}

/**
 * Records an accepted send in one statement: the message row (sent, provider id), the
 * attempt, and the contact's last outbound time.
 */
export async function recordSent(
  db: Db,
  params: { messageId: string; attempt: number; providerMessageId: string; outcome: AttemptOutcome; error: Record<string, unknown> | null; duplicateRisk: boolean },
): Promise<void> {
  const error = params.error === null ? sql`null` : sql`${JSON.stringify(params.error)}::jsonb`;
  await db.execute(sql`
    with m as (
      update messages
         set provider_message_id = ${params.providerMessageId}, status = 'sent', sent_at = coalesce(sent_at, now()),
             updated_at = now(), error = ${error}
       where id = ${params.messageId}
      returning contact_id
    ), a as (
      update message_attempts
         set finished_at = now(), outcome = ${params.outcome}, provider_message_id = ${params.providerMessageId},
             duplicate_risk = ${params.duplicateRisk}
       where message_id = ${params.messageId} and attempt = ${params.attempt}
    )
    update contacts set last_outbound_at = now() where id = (select contact_id from m)`);
}

/**
 * Removes the provider's echo of our own send (Evolution reports API sends back as
 * `fromMe` messages) when it was stored before we recorded the provider id, so the unique
 * (channel, provider id) key can go to our row. Returns whether an echo was removed.
 */
export async function removeOwnEcho(db: Db, params: { channelId: string; providerMessageId: string; keepId: string }): Promise<boolean> {
  const rows = await db
    .delete(messages)
    .where(
      and(
        eq(messages.channelId, params.channelId),
        eq(messages.providerMessageId, params.providerMessageId),
        sql`${messages.id} <> ${params.keepId}`,
        eq(messages.direction, 'outbound'),
        sql`${messages.idempotencyKey} is null`,
      ),
    )
    .returning({ id: messages.id });
  return rows.length > 0;
}

/** Every status report for one provider message, oldest first (applied or not). */
export async function listStatusEvents(db: Db, params: { channelId: string; providerMessageId: string }) {
  return db
    .select()
    .from(messageStatusEvents)
    .where(and(eq(messageStatusEvents.channelId, params.channelId), eq(messageStatusEvents.providerMessageId, params.providerMessageId)))
    .orderBy(asc(messageStatusEvents.occurredAt), asc(messageStatusEvents.id));
}

// ─── attempts ───

export interface AttemptStart {
  /** Undefined when another attempt is in flight, or when the attempts are exhausted. */
  attempt?: number;
  /** `maxTransientFailures` transient failures already: no attempt was opened. */
  exhausted: boolean;
  /** Earlier attempts that failed transiently (retry or uncertain). */
  transientFailures: number;
  /** An earlier attempt may have sent it (timeout, or a worker lost mid-call). */
  uncertain: boolean;
}

/**
 * Opens attempt n+1 of a message in one statement. An unfinished attempt younger than
 * `leaseMs` means another worker is calling the provider right now: no attempt is opened.
 * Older unfinished attempts belong to a lost worker and are closed as uncertain.
 * Two workers racing here collide on the unique (message, attempt) key: the loser sees
 * "in flight".
 */
export async function beginAttempt(db: Db, params: { messageId: string; leaseMs: number; maxTransientFailures: number }): Promise<AttemptStart> {
  const lease = `${Math.max(0, Math.round(params.leaseMs))} milliseconds`;
  try {
    const result = await db.execute(sql`
      with prev as (
        select coalesce(max(attempt), 0) as n,
               count(*) filter (where outcome in ('retry', 'uncertain')) as failures,
               coalesce(bool_or(outcome = 'uncertain'), false) as uncertain,
               coalesce(bool_or(finished_at is null and started_at > now() - ${lease}::interval), false) as busy,
               coalesce(bool_or(finished_at is null and started_at <= now() - ${lease}::interval), false) as lost
          from message_attempts where message_id = ${params.messageId}
      ), lost as (
        update message_attempts
           set finished_at = now(), outcome = 'uncertain',
               error = '{"reason":"WorkerLost","message":"no result recorded: the worker was lost during the provider call"}'::jsonb
         where message_id = ${params.messageId} and finished_at is null and started_at <= now() - ${lease}::interval
      ), ins as (
        insert into message_attempts (message_id, attempt)
        select ${params.messageId}, n + 1 from prev
         where not busy and failures + (case when lost then 1 else 0 end) < ${params.maxTransientFailures}
        returning attempt
      )
      select (select attempt from ins) as attempt, failures::int as failures, (uncertain or lost) as uncertain, lost, busy from prev`);
    const [row] = rowsOf<{ attempt: number | null; failures: number; uncertain: boolean; lost: boolean; busy: boolean }>(result);
    const transientFailures = Number(row?.failures ?? 0) + (row?.lost ? 1 : 0);
    return {
      attempt: row?.attempt ?? undefined,
      exhausted: !row?.busy && transientFailures >= params.maxTransientFailures,
      transientFailures,
      uncertain: Boolean(row?.uncertain),
    };
  } catch (err) {
    if (isUniqueViolation(err)) return { attempt: undefined, exhausted: false, transientFailures: 0, uncertain: false };
    throw err;
  }
}

export async function finishAttempt(
  db: Db,
  params: { messageId: string; attempt: number; outcome: AttemptOutcome; error?: Record<string, unknown>; duplicateRisk?: boolean },
): Promise<void> {
  await db
    .update(messageAttempts)
    .set({ finishedAt: sql`now()`, outcome: params.outcome, error: params.error, duplicateRisk: params.duplicateRisk ?? false })
    .where(and(eq(messageAttempts.messageId, params.messageId), eq(messageAttempts.attempt, params.attempt)));
}

export async function listAttempts(db: Db, params: { messageId: string }) {
  return db.select().from(messageAttempts).where(eq(messageAttempts.messageId, params.messageId)).orderBy(asc(messageAttempts.attempt));
}

/** The sandbox provider honours idempotency keys: what it recorded for one, if anything. */
export async function findSandboxSend(db: Db, params: { idempotencyKey: string }): Promise<string | undefined> {
  const [row] = await db
    .select({ providerMessageId: sandboxOutbox.providerMessageId })
    .from(sandboxOutbox)
    .where(eq(sandboxOutbox.idempotencyKey, params.idempotencyKey))
    .limit(1);
  return row?.providerMessageId;
}

// ─── quotas and pacing ───

export interface QuotaSlot {
  scope: string;
  windowStart: Date;
  limit: number;
}

/**
 * Counts one send in every slot in one statement and returns the new counts, in the order
 * given. Callers pass slots in a fixed order (tenant, then channel by window) so concurrent
 * upserts lock rows in the same order and never deadlock.
 */
export async function incrementQuotas(db: Db, slots: QuotaSlot[]): Promise<number[]> {
  if (slots.length === 0) return [];
  const rows = await db
    .insert(sendQuotaCounters)
    .values(slots.map((s) => ({ scope: s.scope, windowStart: s.windowStart, count: 1 })))
    .onConflictDoUpdate({ target: [sendQuotaCounters.scope, sendQuotaCounters.windowStart], set: { count: sql`${sendQuotaCounters.count} + 1` } })
    .returning({ scope: sendQuotaCounters.scope, windowStart: sendQuotaCounters.windowStart, count: sendQuotaCounters.count });
  const byKey = new Map(rows.map((r) => [`${r.scope}|${r.windowStart.getTime()}`, r.count]));
  return slots.map((s) => byKey.get(`${s.scope}|${s.windowStart.getTime()}`) ?? 0);
}

/** Gives back sends counted by incrementQuotas (refused, or failed without sending). */
export async function decrementQuotas(db: Db, slots: Array<{ scope: string; windowStart: Date }>): Promise<void> {
  if (slots.length === 0) return;
  await db
    .update(sendQuotaCounters)
    .set({ count: sql`greatest(${sendQuotaCounters.count} - 1, 0)` })
    .where(or(...slots.map((s) => and(eq(sendQuotaCounters.scope, s.scope), eq(sendQuotaCounters.windowStart, s.windowStart))))!);
}

/** Drops counters of windows that ended long ago. */
export async function pruneQuotaCounters(db: Db, params: { before: Date }): Promise<void> {
  await db.delete(sendQuotaCounters).where(sql`${sendQuotaCounters.windowStart} < ${params.before.toISOString()}::timestamptz`);
}

/**
 * Takes the channel's next pacing slot at or after `notBefore`, unless it lies more than
 * `maxWaitMs` beyond it. Returns the slot, or `{ nextAt }` (the channel's next free time)
 * when the slot is too far away and was not taken.
 */
export async function takePacingSlot(
  db: Db,
  params: { channelId: string; notBefore: Date; gapMs: number; maxWaitMs: number },
): Promise<{ slot: Date } | { nextAt: Date }> {
  const start = sql`${params.notBefore.toISOString()}::timestamptz`;
  const gap = sql`${`${Math.round(params.gapMs)} milliseconds`}::interval`;
  const limit = sql`${new Date(params.notBefore.getTime() + params.maxWaitMs).toISOString()}::timestamptz`;
  const rows = await db
    .insert(sendPacing)
    .values({ channelId: params.channelId, nextAt: sql`${start} + ${gap}` })
    .onConflictDoUpdate({
      target: sendPacing.channelId,
      set: { nextAt: sql`greatest(${sendPacing.nextAt}, ${start}) + ${gap}` },
      setWhere: sql`${sendPacing.nextAt} <= ${limit}`,
    })
    .returning({ nextAt: sendPacing.nextAt });
  if (rows[0]) return { slot: new Date(rows[0].nextAt.getTime() - Math.round(params.gapMs)) };
  const [row] = await db.select({ nextAt: sendPacing.nextAt }).from(sendPacing).where(eq(sendPacing.channelId, params.channelId));
  return { nextAt: row?.nextAt ?? params.notBefore };
}

// ─── schedules ───

export type ScheduleRow = typeof scheduledMessages.$inferSelect;

export async function insertSchedule(db: Db, values: typeof scheduledMessages.$inferInsert & { id: string }): Promise<ScheduleRow> {
  await db.insert(scheduledMessages).values(values).onConflictDoNothing({ target: scheduledMessages.id });
  const [row] = await db.select().from(scheduledMessages).where(eq(scheduledMessages.id, values.id));
  return row!;
}

export async function getSchedule(db: Db, params: { tenantId: string; scheduleId: string }): Promise<ScheduleRow | undefined> {
  const [row] = await db
    .select()
    .from(scheduledMessages)
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.tenantId, params.tenantId)))
    .limit(1);
  return row;
}

/** Moves a schedule to `status` when it is in one of `from`; returns whether it moved. */
export async function transitionSchedule(
  db: Db,
  params: { scheduleId: string; from: ScheduleStatus[]; to: ScheduleStatus; set?: Partial<typeof scheduledMessages.$inferInsert> },
): Promise<boolean> {
  const extra: Record<string, unknown> = { ...params.set };
  if (params.to === 'cancelled') extra.cancelledAt = sql`now()`;
  if (params.to === 'sent') extra.sentAt = sql`now()`;
  const rows = await db
    .update(scheduledMessages)
    .set({ ...extra, status: params.to, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), inArray(scheduledMessages.status, params.from)))
    .returning({ id: scheduledMessages.id });
  return rows.length > 0;
}

export async function setScheduleTime(db: Db, params: { scheduleId: string; scheduledFor: Date }): Promise<void> {
  await db
    .update(scheduledMessages)
    .set({ scheduledFor: params.scheduledFor, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.status, 'scheduled')));
}

// ─── API lookups ───

/**
 * A tenant's channel by the name an API client knows it by: its external id (Evolution
 * instance name, Meta phone_number_id) or its display name. Another tenant's channel is
 * never returned.
 */
export async function findTenantChannel(db: Db, params: { tenantId: string; instanceName: string }) {
  const rows = await db
    .select()
    .from(channels)
    .where(and(eq(channels.tenantId, params.tenantId), or(eq(channels.externalId, params.instanceName), eq(channels.name, params.instanceName))))
    .limit(5);
  return rows.find((r) => r.externalId === params.instanceName) ?? rows[0];
}

export async function getTenantMessage(db: Db, params: { tenantId: string; messageId: string }) {
  const [row] = await db
    .select({
      message: messages,
      instanceName: channels.externalId,
      provider: channels.provider,
      phone: contacts.phone,
    })
    .from(messages)
    .innerJoin(channels, eq(channels.id, messages.channelId))
    .leftJoin(contacts, eq(contacts.id, messages.contactId))
    .where(and(eq(messages.id, params.messageId), eq(messages.tenantId, params.tenantId)))
    .limit(1);
  return row;
}

export async function getChannelExternalId(db: Db, params: { channelId: string }): Promise<string | undefined> {
  const [row] = await db.select({ externalId: channels.externalId }).from(channels).where(eq(channels.id, params.channelId));
  return row?.externalId;
}

// ─── API idempotency keys ───

export type IdempotencyRow = typeof apiIdempotencyKeys.$inferSelect;

/**
 * Claims an Idempotency-Key for a request: the first caller's row wins and later callers
 * get that same row (with the resource id chosen by the first, and its answer once stored).
 */
export async function claimIdempotencyKey(
  db: Db,
  params: { tenantId: string; key: string; requestHash: string; resourceId: string },
): Promise<{ row: IdempotencyRow; fresh: boolean }> {
  const inserted = await db.insert(apiIdempotencyKeys).values(params).onConflictDoNothing().returning();
  if (inserted[0]) return { row: inserted[0], fresh: true };
  const [row] = await db
    .select()
    .from(apiIdempotencyKeys)
    .where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
  return { row: row!, fresh: false };
}

export async function storeIdempotentResponse(
  db: Db,
  params: { tenantId: string; key: string; statusCode: number; response: Record<string, unknown> },
): Promise<void> {
  await db
    .update(apiIdempotencyKeys)
    .set({ statusCode: params.statusCode, response: params.response })
    .where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
}

export async function releaseIdempotencyKey(db: Db, params: { tenantId: string; key: string }): Promise<void> {
  await db.delete(apiIdempotencyKeys).where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
}

/** The channel of a send with its tenant's settings (quota overrides), in one query. */
export async function getChannelForSend(db: Db, params: { channelId: string }) {
  const [row] = await db
    .select({ channel: channels, tenantSettings: tenants.settings })
    .from(channels)
    .innerJoin(tenants, eq(tenants.id, channels.tenantId))
    .where(eq(channels.id, params.channelId))
    .limit(1);
  return row;
}
