/**
 * SQL of sending: message attempts, quota counters, pacing, schedules, API idempotency keys.
 * Every function takes `db` first so it runs inside transactions and tests alike.
 */
import { and, asc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
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

/** The channel of a send, as delivery needs it. */
export type SendChannel = Pick<
  typeof channels.$inferSelect,
  'id' | 'tenantId' | 'provider' | 'externalId' | 'baseUrl' | 'credentials' | 'settings'
> & { tenantSettings: (typeof tenants.$inferSelect)['settings'] };

export interface OpenedSend {
  channel: SendChannel;
  /** The recipient, when a contact row exists for them. */
  contact?: { id: string; optedOutAt: Date | null; lastInboundAt: Date | null };
  /** Undefined when the channel belongs to another tenant: nothing was written. */
  row?: OutboundRow;
}

/**
 * The start of every send, in one statement: the channel with its tenant's settings (quota
 * overrides), the recipient's contact row (opt-out, last inbound message), and the
 * outbound row for the idempotency key: inserted the first time, returned as stored on
 * every later call (the no-op update makes RETURNING yield the existing row). No row is
 * written for a channel of another tenant. zapflow's own sends trigger no automation: the
 * dispatcher must not hand them to the contact workflow (the column defaults to true, for
 * what the ingest files). Undefined when the channel does not exist.
 */
export async function openOutboundSend(
  db: Db,
  params: { tenantId: string; channelId: string; contactKey: string; type: string; body: string; payload: unknown; idempotencyKey: string },
): Promise<OpenedSend | undefined> {
  const [r] = await queryPrepared<{
    channelId: string;
    channelTenantId: string;
    provider: SendChannel['provider'];
    externalId: string;
    baseUrl: string | null;
    credentials: SendChannel['credentials'];
    settings: SendChannel['settings'];
    tenantSettings: SendChannel['tenantSettings'];
    contactId: string | null;
    optedOutAt: number | null;
    lastInboundAt: number | null;
    messageId: string | null;
    messageChannelId: string;
    providerMessageId: string | null;
    status: OutboundRow['status'];
    error: Record<string, unknown> | null;
  }>(db, OPEN_OUTBOUND_SEND, [
    params.channelId,
    params.tenantId,
    params.contactKey,
    params.type,
    params.body,
    JSON.stringify(params.payload),
    params.idempotencyKey,
  ]);
  if (!r) return undefined;
  const ms = (v: number | null) => (v === null ? null : new Date(v));
  return {
    channel: {
      id: r.channelId,
      tenantId: r.channelTenantId,
      provider: r.provider,
      externalId: r.externalId,
      baseUrl: r.baseUrl,
      credentials: r.credentials,
      settings: r.settings,
      tenantSettings: r.tenantSettings,
    },
    contact: r.contactId === null ? undefined : { id: r.contactId, optedOutAt: ms(r.optedOutAt), lastInboundAt: ms(r.lastInboundAt) },
    row:
      r.messageId === null
        ? undefined
        : { id: r.messageId, channelId: r.messageChannelId, providerMessageId: r.providerMessageId, status: r.status, error: r.error },
  };
}

const OPEN_OUTBOUND_SEND = `
with ch as (
  select c.id, c.tenant_id, c.provider, c.external_id, c.base_url, c.credentials, c.settings, t.settings as tenant_settings
    from channels c join tenants t on t.id = c.tenant_id
   where c.id = $1::uuid
), ct as (
  select id, opted_out_at, last_inbound_at from contacts where tenant_id = $2::uuid and phone = $3::text
), m as (
  insert into messages (tenant_id, channel_id, contact_id, direction, author, type, body, payload, idempotency_key, status, triggers_automation)
  select $2::uuid, ch.id, (select id from ct), 'outbound', 'zapflow', $4::text, $5::text, $6::text::jsonb, $7::text, 'queued', false
    from ch where ch.tenant_id = $2::uuid
  on conflict (idempotency_key) do update set idempotency_key = excluded.idempotency_key
  returning id, channel_id, provider_message_id, status, error
)
select ch.id as "channelId", ch.tenant_id as "channelTenantId", ch.provider, ch.external_id as "externalId", ch.base_url as "baseUrl",
       ch.credentials, ch.settings, ch.tenant_settings as "tenantSettings",
       ct.id as "contactId",
       (extract(epoch from ct.opted_out_at) * 1000)::float8 as "optedOutAt",
       (extract(epoch from ct.last_inbound_at) * 1000)::float8 as "lastInboundAt",
       m.id as "messageId", m.channel_id as "messageChannelId", m.provider_message_id as "providerMessageId", m.status, m.error
  from ch left join ct on true left join m on true`;

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
  await queryPrepared(db, RECORD_SENT, [
    params.messageId,
    params.providerMessageId,
    params.error === null ? null : JSON.stringify(params.error),
    params.outcome,
    params.duplicateRisk,
    params.attempt,
  ]);
}

const RECORD_SENT = `
with m as (
  update messages
     set provider_message_id = $2::text, status = 'sent', sent_at = coalesce(sent_at, now()), updated_at = now(), error = $3::text::jsonb
   where id = $1::uuid
  returning contact_id
), a as (
  update message_attempts
     set finished_at = now(), outcome = $4::text, provider_message_id = $2::text, duplicate_risk = $5::boolean
   where message_id = $1::uuid and attempt = $6::int
)
update contacts set last_outbound_at = now() where id = (select contact_id from m)`;

/**
 * Whether status reports for this provider message wait for their row (they arrived before
 * the send was recorded). Asked after recordSent has committed, not inside it: a report
 * filed while that statement ran saw no row to apply to, and only a later statement sees it.
 */
export async function hasPendingStatuses(db: Db, params: { channelId: string; providerMessageId: string }): Promise<boolean> {
  const [row] = await queryPrepared<{ pending: boolean }>(db, HAS_PENDING_STATUSES, [params.channelId, params.providerMessageId]);
  return Boolean(row?.pending);
}

const HAS_PENDING_STATUSES = `
select exists (
  select 1 from message_status_events
   where channel_id = $1::uuid and provider_message_id = $2::text and applied_at is null
) as pending`;

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

export type SendStart =
  /** A quota window is over its limit: counted all the same (give it back), nothing else done. */
  | { stage: 'quota'; counts: number[] }
  /** Counted in every window, but the pacing slot lies too far away: not taken, no attempt. */
  | { stage: 'pacing' }
  /** Counted, slot taken (`slot`, epoch ms; undefined without pacing), and step 3's outcome. */
  | ({ stage: 'attempt'; slot?: number } & AttemptStart);

/**
 * The gates of a send and its attempt, in one statement, each step only when the one
 * before let it through:
 * 1. counts the send in every quota window (`windows`, in their fixed order; see incrementQuotas);
 * 2. when no window is over its limit and pacing is on, takes the channel's next pacing
 *    slot at or after `pacing.start`, unless it lies more than `pacing.maxWaitMs` beyond;
 * 3. then opens attempt n+1 of the message. An unfinished attempt younger than `leaseMs`
 *    means another worker is calling the provider right now: no attempt is opened. Older
 *    unfinished attempts belong to a lost worker and are closed as uncertain.
 * Two workers racing to open the same attempt collide on the unique (message, attempt)
 * key: the statement fails as a whole (nothing counted, no slot taken) with a unique
 * violation, which means "in flight".
 * Locks are taken in the order the final SELECT reads the steps (quota rows, in the
 * windows' fixed order; then the pacing row; then the attempts), the same for every send,
 * so concurrent sends never deadlock on each other.
 */
export async function startSendAttempt(
  db: Db,
  params: {
    messageId: string;
    windows: QuotaSlot[];
    pacing?: { channelId: string; start: number; gapMs: number; maxWaitMs: number };
    leaseMs: number;
    maxTransientFailures: number;
  },
): Promise<SendStart> {
  const { pacing } = params;
  const [row] = await queryPrepared<{
    quotaOk: boolean;
    counts: number[];
    go: boolean;
    slotAt: number | null;
    attempt: number | null;
    failures: number;
    uncertain: boolean;
    lost: boolean;
    busy: boolean;
  }>(db, START_SEND_ATTEMPT, [
    windowsJson(params.windows),
    params.messageId,
    Math.max(0, Math.round(params.leaseMs)),
    params.maxTransientFailures,
    pacing !== undefined,
    pacing?.channelId ?? null,
    pacing ? new Date(pacing.start).toISOString() : null,
    pacing ? Math.round(pacing.gapMs) : null,
    pacing ? new Date(pacing.start + pacing.maxWaitMs).toISOString() : null,
  ]);
  if (!row!.quotaOk) return { stage: 'quota', counts: row!.counts };
  if (!row!.go) return { stage: 'pacing' };
  const transientFailures = Number(row!.failures) + (row!.lost ? 1 : 0);
  return {
    stage: 'attempt',
    slot: row!.slotAt ?? undefined,
    attempt: row!.attempt ?? undefined,
    exhausted: !row!.busy && transientFailures >= params.maxTransientFailures,
    transientFailures,
    uncertain: Boolean(row!.uncertain),
  };
}

const MS = `* interval '1 millisecond'`;

/** Step 1 of startSendAttempt and all of incrementQuotas: windows as JSON in $1, counted in order of `i`. */
const COUNT_QUOTA = `
quota_window as (
  select * from jsonb_to_recordset($1::text::jsonb) as w(i int, scope text, window_start timestamptz, lim int)
), quota_count as (
  insert into send_quota_counters (scope, window_start, count)
  select scope, window_start, 1 from quota_window order by i
  on conflict (scope, window_start) do update set count = send_quota_counters.count + 1
  returning scope, window_start, count
), quota as (
  select w.i, c.count, c.count > w.lim as over
    from quota_window w join quota_count c on c.scope = w.scope and c.window_start = w.window_start
)`;

const START_SEND_ATTEMPT = `
with ${COUNT_QUOTA}, quota_ok as (
  select not exists (select 1 from quota where over) as ok
), pace as (
  insert into send_pacing (channel_id, next_at)
  select $6::uuid, $7::timestamptz + $8::float8 ${MS} from quota_ok where ok and $5::boolean
  on conflict (channel_id) do update set next_at = greatest(send_pacing.next_at, $7::timestamptz) + $8::float8 ${MS}
   where send_pacing.next_at <= $9::timestamptz
  returning next_at
), go as (
  select 1 from quota_ok where ok and (not $5::boolean or exists (select 1 from pace))
), prev as (
  select coalesce(max(attempt), 0) as n,
         count(*) filter (where outcome in ('retry', 'uncertain')) as failures,
         coalesce(bool_or(outcome = 'uncertain'), false) as uncertain,
         coalesce(bool_or(finished_at is null and started_at > now() - $3::float8 ${MS}), false) as busy,
         coalesce(bool_or(finished_at is null and started_at <= now() - $3::float8 ${MS}), false) as lost
    from message_attempts where message_id = $2::uuid
), lost as (
  update message_attempts
     set finished_at = now(), outcome = 'uncertain',
         error = '{"reason":"WorkerLost","message":"no result recorded: the worker was lost during the provider call"}'::jsonb
   where message_id = $2::uuid and finished_at is null and started_at <= now() - $3::float8 ${MS}
     and exists (select 1 from go)
), ins as (
  insert into message_attempts (message_id, attempt)
  select $2::uuid, n + 1 from prev
   where exists (select 1 from go) and not busy and failures + (case when lost then 1 else 0 end) < $4::int
  returning attempt
)
select (select ok from quota_ok) as "quotaOk",
       (select coalesce(array_agg(count order by i), '{}') from quota)::int[] as counts,
       exists (select 1 from go) as go,
       (select (extract(epoch from next_at) * 1000)::float8 - $8::float8 from pace) as "slotAt",
       (select attempt from ins) as attempt, failures::int as failures, (uncertain or lost) as uncertain, lost, busy
  from prev`;

function windowsJson(windows: QuotaSlot[]): string {
  return JSON.stringify(windows.map((w, i) => ({ i, scope: w.scope, window_start: w.windowStart.toISOString(), lim: w.limit })));
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
  const [row] = await queryPrepared<{ counts: number[] }>(db, INCREMENT_QUOTAS, [windowsJson(slots)]);
  return row!.counts;
}

const INCREMENT_QUOTAS = `with ${COUNT_QUOTA} select (select coalesce(array_agg(count order by i), '{}') from quota)::int[] as counts`;

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

/** The channel's next free pacing time (after a send found its slot too far away). */
export async function pacingNextAt(db: Db, params: { channelId: string }): Promise<Date | undefined> {
  const [row] = await db.select({ nextAt: sendPacing.nextAt }).from(sendPacing).where(eq(sendPacing.channelId, params.channelId));
  return row?.nextAt;
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

/** Moves a pending schedule to a new time; false when it is no longer pending (a dispatcher took it). */
export async function setScheduleTime(db: Db, params: { scheduleId: string; scheduledFor: Date }): Promise<boolean> {
  const rows = await db
    .update(scheduledMessages)
    .set({ scheduledFor: params.scheduledFor, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.status, 'scheduled')))
    .returning({ id: scheduledMessages.id });
  return rows.length > 0;
}

/**
 * A dispatcher takes the dispatched schedules due by `until` (status `sending`, claimed now).
 * SKIP LOCKED: several workers' dispatchers never take the same one; a cancel or reschedule
 * (which need `scheduled`) and a claim cannot both win.
 */
export async function claimDueSchedules(db: Db, params: { until: Date; limit: number }): Promise<ScheduleRow[]> {
  return db
    .update(scheduledMessages)
    .set({ status: 'sending', claimedAt: sql`now()`, updatedAt: sql`now()` })
    .where(
      inArray(
        scheduledMessages.id,
        sql`(select id from ${scheduledMessages} where ${scheduledMessages.status} = 'scheduled' and ${scheduledMessages.dispatch}
          and ${scheduledMessages.scheduledFor} <= ${params.until.toISOString()}::timestamptz
          order by ${scheduledMessages.scheduledFor} limit ${params.limit} for update skip locked)`,
      ),
    )
    .returning();
}

/** A dispatcher hands a claimed send to its workflow (it failed in a way worth retrying). */
export async function releaseScheduleClaim(db: Db, params: { scheduleId: string }): Promise<void> {
  await db
    .update(scheduledMessages)
    .set({ claimedAt: null, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.status, 'sending')));
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
