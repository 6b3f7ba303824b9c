/**
 * Outbound messages and their provider attempts: the statements every send runs (open the
 * row, start an attempt behind the quota and pacing gates, record the answer), each one
 * round trip. See services/delivery.ts for the order they run in.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import type { AttemptOutcome } from '../../domain/records';
import { channels, messageAttempts, messages, tenants } from '../schema';
import { MESSAGE_ATTRIBUTION, NOT_WARMUP, SEND_KIND_ROWS } from './conversationEvents';
import { COUNT_QUOTA, MS, windowsJson, type QuotaSlot } from './quotas';

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
  'id' | 'tenantId' | 'provider' | 'externalId' | 'baseUrl' | 'credentials' | 'settings' | 'connectionState'
> & { tenantSettings: (typeof tenants.$inferSelect)['settings']; tenantTimezone: string };

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
    connectionState: string;
    tenantSettings: SendChannel['tenantSettings'];
    tenantTimezone: string;
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
      connectionState: r.connectionState,
      tenantSettings: r.tenantSettings,
      tenantTimezone: r.tenantTimezone,
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
  select c.id, c.tenant_id, c.provider, c.external_id, c.base_url, c.credentials, c.settings, c.connection_state, t.settings as tenant_settings, t.timezone as tenant_timezone
    from channels c join tenants t on t.id = c.tenant_id
   where c.id = $1::uuid and c.deleted_at is null
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
       ch.credentials, ch.settings, ch.connection_state as "connectionState", ch.tenant_settings as "tenantSettings", ch.tenant_timezone as "tenantTimezone",
       ct.id as "contactId",
       (extract(epoch from ct.opted_out_at) * 1000)::float8 as "optedOutAt",
       (extract(epoch from ct.last_inbound_at) * 1000)::float8 as "lastInboundAt",
       m.id as "messageId", m.channel_id as "messageChannelId", m.provider_message_id as "providerMessageId", m.status, m.error
  from ch left join ct on true left join m on true`;

/** A queued send that will not go out (refused, given up): failed, and logged as message_failed, in one statement. */
export async function markMessageFailed(db: Db, params: { messageId: string; error: Record<string, unknown> }): Promise<void> {
  await queryPrepared(db, MARK_MESSAGE_FAILED, [params.messageId, JSON.stringify(params.error)]);
}

const MARK_MESSAGE_FAILED = `
with x as (
  update messages set status = 'failed', failed_at = now(), error = $2::text::jsonb, updated_at = now()
   where id = $1::uuid and status = 'queued'
  returning id, tenant_id, channel_id, contact_id, idempotency_key
)
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, message_id)
select x.tenant_id, now(), 'message_failed', x.channel_id, a.funnel_id, a.campaign_id, x.contact_id, x.id
  from x cross join lateral (${MESSAGE_ATTRIBUTION}) a
 where ${NOT_WARMUP}`;

/** Notes on a queued row why it is not out yet (waiting for quota, last transient error). */
export async function noteMessageError(db: Db, params: { messageId: string; error: Record<string, unknown> }): Promise<void> {
  await db
    .update(messages)
    .set({ error: params.error, updatedAt: sql`now()` })
    .where(and(eq(messages.id, params.messageId), eq(messages.status, 'queued')));
}

/**
 * Records an accepted send in one statement: the message row (sent, provider id), the
 * attempt, the contact's last outbound time, and, the first time the row is sent, its events
 * (conversation_events): message_sent (with its funnel and campaign; see MESSAGE_ATTRIBUTION),
 * plus followup_sent or ai_reply for those sends (SEND_KEYS).
 *
 * First-response time, on message_sent's value_ms: when the contact has written since
 * zapflow's previous send to them, this send answers them, and the value is the ms from the
 * first of those unanswered messages (its provider time) to now. Whatever zapflow sends counts
 * (AI reply, funnel step, API or scheduled send, follow-up, campaign); a person typing on the
 * business phone does not (that is not a send of zapflow's).
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

/*
 * `x` is the row before this statement, locked (`m` updates through it, so it is read first: a
 * row this statement has updated is invisible to FOR UPDATE). `pc` is the
 * contact before its last_outbound_at moves; the first unanswered message is found through
 * messages_contact_idx (contact, created_at), only when there is one.
 */
const RECORD_SENT = `
with x as (
  select id, tenant_id, channel_id, contact_id, idempotency_key, sent_at from messages where id = $1::uuid for update
), m as (
  update messages
     set provider_message_id = $2::text, status = 'sent', sent_at = coalesce(messages.sent_at, now()), updated_at = now(), error = $3::text::jsonb
    from x where messages.id = x.id
  returning messages.contact_id
), a as (
  update message_attempts
     set finished_at = now(), outcome = $4::text, provider_message_id = $2::text, duplicate_risk = $5::boolean
   where message_id = $1::uuid and attempt = $6::int
), pc as (
  select c.id, c.last_outbound_at from contacts c
   where c.id = (select contact_id from x) and c.last_inbound_at > coalesce(c.last_outbound_at, '-infinity'::timestamptz)
), waiting as (
  select (select coalesce(i.provider_timestamp, i.created_at) from messages i
           where i.contact_id = pc.id and i.created_at > coalesce(pc.last_outbound_at, '-infinity'::timestamptz)
             and i.direction = 'inbound' and i.author = 'contact'
           order by i.created_at limit 1) as since
    from pc
), logged as (
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, message_id, value_ms)
  select x.tenant_id, now(), k.kind, x.channel_id, attr.funnel_id, attr.campaign_id, x.contact_id, x.id,
         case when k.kind = 'message_sent' then
           (select least(greatest(0, extract(epoch from (now() - w.since)) * 1000), 2147483647)::int from waiting w where w.since is not null)
         end
    from x
    cross join lateral (${MESSAGE_ATTRIBUTION}) attr
    cross join lateral (${SEND_KIND_ROWS}) k
   where x.sent_at is null and ${NOT_WARMUP}
)
update contacts set last_outbound_at = now() where id = (select contact_id from m)`;

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

/**
 * An operator's replay of a send that was refused or given up (the row is failed): the
 * provider never took it, so the same key may try again. Reopened only when no attempt may
 * have gone out (none sent, recovered or uncertain): a send of unknown outcome never repeats.
 * The row goes back to queued and a `reopened` attempt marks where its transient failures
 * count from. Only rows that failed before `failedBefore` (the replay's start), so a send that
 * fails again during the replay stays failed. True when it was reopened.
 */
export async function reopenRefusedSend(db: Db, params: { messageId: string; failedBefore: Date }): Promise<boolean> {
  const [row] = await queryPrepared<{ reopened: boolean }>(db, REOPEN_REFUSED_SEND, [params.messageId, params.failedBefore.toISOString()]);
  return Boolean(row?.reopened);
}

const REOPEN_REFUSED_SEND = `
with m as (
  update messages set status = 'queued', error = null, failed_at = null, updated_at = now()
   where id = $1::uuid and status = 'failed' and failed_at < $2::timestamptz and provider_message_id is null
     and not exists (select 1 from message_attempts a where a.message_id = $1::uuid and a.outcome in ('sent', 'recovered', 'uncertain'))
  returning id
), marker as (
  insert into message_attempts (message_id, attempt, finished_at, outcome)
  select m.id, coalesce((select max(attempt) from message_attempts where message_id = $1::uuid), 0) + 1, now(), 'reopened' from m
)
select exists (select 1 from m) as reopened`;

/** The message row of an idempotency key (a schedule's, an API send's), if one was opened. */
export async function messageIdByIdempotencyKey(db: Db, params: { idempotencyKey: string }): Promise<string | undefined> {
  const [row] = await db.select({ id: messages.id }).from(messages).where(eq(messages.idempotencyKey, params.idempotencyKey));
  return row?.id;
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
  if (!row.quotaOk) return { stage: 'quota', counts: row.counts };
  if (!row.go) return { stage: 'pacing' };
  const transientFailures = Number(row.failures) + (row.lost ? 1 : 0);
  return {
    stage: 'attempt',
    slot: row.slotAt ?? undefined,
    attempt: row.attempt ?? undefined,
    exhausted: !row.busy && transientFailures >= params.maxTransientFailures,
    transientFailures,
    uncertain: Boolean(row.uncertain),
  };
}

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
         -- transient failures since the send was last reopened by a replay (reopenRefusedSend)
         count(*) filter (where outcome in ('retry', 'uncertain')
           and attempt > coalesce((select max(attempt) from message_attempts where message_id = $2::uuid and outcome = 'reopened'), 0)) as failures,
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

/** Whether the message of this idempotency key has gone out (the provider accepted it). */
export async function isSentWithKey(db: Db, params: { idempotencyKey: string }): Promise<boolean> {
  const [row] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.idempotencyKey, params.idempotencyKey), sql`${messages.providerMessageId} is not null`));
  return Boolean(row);
}

/**
 * The queued row of an API send, under the id the API chose (a retried request with the same
 * Idempotency-Key inserts nothing). Our own send: nothing for the dispatcher.
 */
export async function insertQueuedSend(
  db: Db,
  params: { messageId: string; tenantId: string; channelId: string; contactId: string; type: string; body: string; payload: unknown; idempotencyKey: string },
): Promise<void> {
  await db
    .insert(messages)
    .values({
      id: params.messageId,
      tenantId: params.tenantId,
      channelId: params.channelId,
      contactId: params.contactId,
      direction: 'outbound',
      author: 'zapflow',
      type: params.type,
      body: params.body,
      payload: params.payload as Record<string, unknown>,
      idempotencyKey: params.idempotencyKey,
      status: 'queued',
      triggersAutomation: false,
    })
    .onConflictDoNothing();
}

/**
 * Retention: deletes up to `limit` provider attempts started more than `olderThanMs` ago,
 * oldest first (by message_attempts_started_idx), and returns how many. Kept: attempts whose
 * outcome is uncertain or that never finished, the only record that a send may have gone out
 * (reopenRefusedSend and startSendAttempt read it, so a replay never sends such a message
 * twice); they are rare.
 */
export async function deleteOldAttempts(db: Db, params: { olderThanMs: number; limit: number }): Promise<number> {
  const rows = await db
    .delete(messageAttempts)
    .where(
      sql`${messageAttempts.id} = any(array(
        select a.id from message_attempts a
        where a.started_at < now() - ${params.olderThanMs}::float8 * interval '1 millisecond'
          and a.finished_at is not null and a.outcome is distinct from 'uncertain'
        order by a.started_at limit ${params.limit}::int for update skip locked))`,
    )
    .returning({ id: messageAttempts.id });
  return rows.length;
}
