/**
 * Messages: the inbound webhook's single statement, the dispatcher's pending messages and
 * its marks, and what conversations read (a contact's history, messages by id, echoes of
 * our own sends, what AI derives from them). Outbound rows and attempts are in sends.ts.
 */
import { and, asc, desc, eq, gt, inArray, isNull, ne, notInArray, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import type { WebhookEventStatus } from '../../domain/records';
import { channels, contacts, messages } from '../schema';

export type MessageRow = typeof messages.$inferSelect;

// ─── inbound: the webhook's statement ───

/**
 * message_received's value_ms: a contact's reply to zapflow, the ms from zapflow's last send to
 * this message; null when it is not a reply (not from the contact, nothing sent to them yet, or
 * the contact already wrote since that send). `c` is the contact with its last_outbound_at; the
 * earlier messages are found through messages_contact_idx (`self`: this message's id, when it
 * is visible to the subquery). `author` and `at` are the message's parameters.
 */
function replyMs(author: string, at: string, self?: string): string {
  return `case when ${author}::text = 'contact' and c.last_outbound_at is not null and not exists (
        select 1 from messages x
        where x.contact_id = c.id and x.created_at > c.last_outbound_at and x.direction = 'inbound' and x.author = 'contact'
          ${self ? `and x.id <> ${self}::uuid` : ''})
      then least(greatest(0, extract(epoch from (${at}::timestamptz - c.last_outbound_at)) * 1000), 2147483647)::int end`;
}

/**
 * recordSingleInbound's statement: a constant text, so it is prepared once per connection.
 * A new message is logged (conversation_events, message_received) in the same statement.
 */
const RECORD_SINGLE_INBOUND = `
  with ids as (select nextval('webhook_events_id_seq')::bigint as event_id),
  c as (
    insert into contacts (tenant_id, phone, name, last_inbound_at)
    values ($1::uuid, $3::text, $4::text, $5::timestamptz)
    on conflict (tenant_id, phone) do update set
      name = coalesce(excluded.name, contacts.name),
      last_inbound_at = greatest(excluded.last_inbound_at, contacts.last_inbound_at),
      updated_at = now()
    returning id, last_outbound_at
  ),
  m as (
    insert into messages (tenant_id, channel_id, contact_id, direction, author, type, body, payload,
      provider_message_id, status, webhook_event_id, triggers_automation, provider_timestamp)
    select $1::uuid, $2::uuid, c.id, 'inbound', $6::text, $7::text, $8::text, $9::text::jsonb,
      $10::text, 'received', ids.event_id, $11::boolean, $12::timestamptz
    from c, ids
    on conflict (channel_id, provider_message_id) do nothing
    returning id
  ),
  logged as (
    insert into conversation_events (tenant_id, occurred_at, kind, channel_id, contact_id, message_id, value_ms)
    -- the subquery of replyMs sees the messages as they were before this statement
    select $1::uuid, $12::timestamptz, 'message_received', $2::uuid, c.id, m.id, ${replyMs('$6', '$12')}
    from m, c
    where $17::boolean
  ),
  ev as (
    insert into webhook_events (id, provider, tenant_id, channel_id, channel_key, event_type, status, raw_body, processed_at)
    select ids.event_id, $13::text, $1::uuid, $2::uuid, $14::text, $15::text,
      case when not exists (select 1 from m) then 'duplicate' when $11::boolean then 'pending' else 'processed' end,
      $16::text,
      case when exists (select 1 from m) and $11::boolean then null else now() end
    from ids
    returning id, status
  )
  select ev.id::float8 as "eventId", ev.status, (select id::text from m) as "messageId",
    exists (select 1 from message_status_events s
      where s.channel_id = $2::uuid and s.provider_message_id = $10::text and s.applied_at is null) as "hasPending"
  from ev`;

/**
 * The common webhook, exactly one inbound message for a known channel, in one statement: one
 * round trip instead of a transaction of six. The event id is drawn first so the message row
 * can point at it, the contact is upserted, the message inserted unless it is a re-delivery
 * (and then logged as message_received), and the event row written with its final status.
 * One statement is atomic like the
 * transaction it replaces. `hasPending`: status reports that arrived before this message.
 */
export async function recordInboundMessage(
  db: Db,
  params: {
    tenantId: string;
    channelId: string;
    contactKey: string;
    /** The contact's name and this message's time as their last inbound time; null for a person on the business phone. */
    contactName: string | null;
    lastInboundAt: string | null;
    author: string;
    type: string;
    text: string | null;
    payload: Record<string, unknown>;
    providerMessageId: string;
    triggersAutomation: boolean;
    providerTimestamp: string;
    provider: string;
    channelKey: string;
    eventType: string | null;
    rawBody: string;
    /** Log message_received (false: a message from one of the tenant's own numbers, no contact's). */
    logReceived?: boolean;
  },
): Promise<{ eventId: number; status: WebhookEventStatus; messageId: string | null; hasPending: boolean }> {
  const [row] = await queryPrepared<{ eventId: number; status: WebhookEventStatus; messageId: string | null; hasPending: boolean }>(db, RECORD_SINGLE_INBOUND, [
    params.tenantId,
    params.channelId,
    params.contactKey,
    params.contactName,
    params.lastInboundAt,
    params.author,
    params.type,
    params.text,
    JSON.stringify(params.payload),
    params.providerMessageId,
    params.triggersAutomation,
    params.providerTimestamp,
    params.provider,
    params.channelKey,
    params.eventType,
    params.rawBody,
    params.logReceived !== false,
  ]);
  return { ...row, eventId: Number(row.eventId) };
}

/** Any other inbound or echoed message of a webhook (inside its transaction); undefined when it was stored before. */
export async function insertWebhookMessage(
  db: Db,
  values: Omit<typeof messages.$inferInsert, 'id' | 'createdAt' | 'updatedAt'>,
): Promise<string | undefined> {
  const [row] = await db
    .insert(messages)
    .values(values)
    .onConflictDoNothing({ target: [messages.channelId, messages.providerMessageId] })
    .returning({ id: messages.id });
  return row?.id;
}

/**
 * Logs a new inbound message of a webhook's transaction (message_received; the single-message
 * webhook does it inside recordInboundMessage). Call it after the message row is inserted.
 */
export async function logInboundMessage(
  db: Db,
  params: { tenantId: string; channelId: string; contactId: string; messageId: string; author: string; occurredAt: Date },
): Promise<void> {
  await queryPrepared(db, LOG_INBOUND_MESSAGE, [params.tenantId, params.channelId, params.contactId, params.messageId, params.author, params.occurredAt.toISOString()]);
}

const LOG_INBOUND_MESSAGE = `
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, contact_id, message_id, value_ms)
  select $1::uuid, $6::timestamptz, 'message_received', $2::uuid, c.id, $4::uuid, ${replyMs('$5', '$6', '$4')}
  from contacts c where c.id = $3::uuid`;

// ─── dispatch: pending inbound messages ───

/**
 * A stored message the dispatcher hands to its contact workflow, with what the workflow needs
 * to know. Its tenant's settings are not in it: the dispatcher reads them once per tenant
 * per batch (tenantSettingsByIds), not once per row.
 */
export interface PendingMessage {
  id: string;
  tenantId: string;
  channelId: string;
  contactKey: string;
  providerMessageId: string;
  direction: 'inbound' | 'outbound';
  author: 'contact' | 'zapflow' | 'human' | 'api';
  type: string;
  body: string | null;
  payload: Record<string, unknown>;
  providerTimestamp: Date | null;
  createdAt: Date;
  contactName: string | null;
  optedOutAt: Date | null;
  pausedUntil: Date | null;
  lastOutboundAt: Date | null;
}

function selectPending(db: Db) {
  return db
    .select({
      id: messages.id,
      tenantId: messages.tenantId,
      channelId: messages.channelId,
      contactKey: contacts.phone,
      providerMessageId: messages.providerMessageId,
      direction: messages.direction,
      author: messages.author,
      type: messages.type,
      body: messages.body,
      payload: messages.payload,
      providerTimestamp: messages.providerTimestamp,
      createdAt: messages.createdAt,
      contactName: contacts.name,
      optedOutAt: contacts.optedOutAt,
      pausedUntil: contacts.pausedUntil,
      lastOutboundAt: contacts.lastOutboundAt,
    })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId));
}

/** Messages announced a moment ago, in the order they were stored. */
export async function loadMessagesToDispatch(db: Db, params: { ids: string[]; limit?: number }): Promise<PendingMessage[]> {
  if (params.ids.length === 0) return [];
  return selectPending(db)
    .where(inArray(messages.id, params.ids))
    .orderBy(asc(messages.createdAt), asc(messages.providerTimestamp))
    .limit(params.limit ?? 1000) as Promise<PendingMessage[]>;
}

/**
 * The oldest messages still waiting for their workflow (Temporal did not take them, or their
 * announcement was lost), older than a second so the announced path goes first; dead letters
 * are left out. The predicate is exactly messages_undispatched_idx's, so this is an index scan.
 */
export async function scanMessagesToDispatch(db: Db, params: { limit: number }): Promise<PendingMessage[]> {
  return selectPending(db)
    .where(
      and(
        eq(messages.triggersAutomation, true),
        isNull(messages.dispatchedAt),
        isNull(messages.deadAt),
        sql`${messages.createdAt} < now() - interval '1 second'`,
      ),
    )
    .orderBy(asc(messages.createdAt), asc(messages.providerTimestamp))
    .limit(params.limit) as Promise<PendingMessage[]>;
}

/** Messages stored but not yet handed to Temporal, dead letters aside (for /metrics and tests). */
export async function countDispatchBacklog(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(messages)
    .where(and(eq(messages.triggersAutomation, true), isNull(messages.dispatchedAt), isNull(messages.deadAt)));
  return row?.n ?? 0;
}

/**
 * Marks messages handed to their workflows, in one statement; an event becomes `dispatched`
 * with its last message. The NOT EXISTS reads the snapshot before this update, so the
 * messages marked here are excluded by id.
 */
export async function markDispatchedBatch(db: Db, params: { messageIds: string[] }): Promise<void> {
  if (params.messageIds.length === 0) return;
  await queryPrepared(db, MARK_DISPATCHED, [uuidArray(params.messageIds)]);
}

/*
 * Committed asynchronously (synchronous_commit off for this statement's transaction only):
 * a mark lost in a crash only makes the scan re-signal a message its workflow has already
 * seen. A synchronous commit here would queue the webhooks' own commits behind its WAL flush,
 * and it rewrites two wide rows (the message and its raw event) per id. The setting is local
 * to the implicit transaction, so the pooled connection keeps synchronous commits.
 *
 * The "(…) is true" predicates are on purpose: no index can serve them, so the marked ids
 * drive both updates through the primary keys. Plain predicates let the planner start from
 * the pending-status and pending-message indexes instead, and with statistics taken while
 * nothing was pending (after a quiet spell) it did: every mark read the whole backlog (250 ms a
 * call behind 30,000 pending events).
 */
export const MARK_DISPATCHED = `
  with relaxed as (select set_config('synchronous_commit', 'off', true)),
  m as (
    update messages set dispatched_at = now()
    where id = any($1::uuid[]) and (dispatched_at is null) is true and exists (select from relaxed)
    returning webhook_event_id
  )
  update webhook_events e set status = 'dispatched', processed_at = now()
  from (select distinct webhook_event_id as id from m where webhook_event_id is not null) d
  where e.id = d.id
    and (e.status = 'pending') is true
    and not exists (
      select 1 from messages x
      where x.webhook_event_id = e.id and x.triggers_automation and x.dispatched_at is null
        and not (x.id = any($1::uuid[]))
    )`;

// ─── dispatch: dead letters ───

/**
 * Counts one refused dispatch per message and keeps its error, in one statement; a message at
 * `maxAttempts` refusals is dead (left out of the scan) and its webhook event, while pending,
 * becomes `dead` with the error. Returns the messages that died with this call. Messages
 * dispatched (or dead) meanwhile are left alone. Like MARK_DISPATCHED, the "(…) is true"
 * predicates keep the planner on the primary keys.
 */
export async function recordDispatchFailures(
  db: Db,
  params: { failures: Array<{ messageId: string; error: string }>; maxAttempts: number },
): Promise<Array<{ messageId: string; eventId: number | null; attempts: number; error: string }>> {
  if (params.failures.length === 0) return [];
  const failures = params.failures.map((f) => ({ id: f.messageId, error: f.error }));
  const rows = await queryPrepared<{ messageId: string; eventId: number | null; attempts: number; error: string }>(db, RECORD_DISPATCH_FAILURES, [
    JSON.stringify(failures),
    params.maxAttempts,
  ]);
  return rows.map((r) => ({ ...r, eventId: r.eventId === null ? null : Number(r.eventId) }));
}

const RECORD_DISPATCH_FAILURES = `
  with f as (
    select distinct on (id) id, error from jsonb_to_recordset($1::text::jsonb) as f(id uuid, error text)
  ),
  m as (
    update messages x set dispatch_attempts = x.dispatch_attempts + 1, dispatch_error = f.error,
      dead_at = case when x.dispatch_attempts + 1 >= $2::int then now() end
    from f
    where x.id = f.id and (x.dispatched_at is null and x.dead_at is null) is true
    returning x.id, x.webhook_event_id, x.dispatch_attempts, x.dead_at, f.error
  ),
  dead as (select * from m where dead_at is not null),
  ev as (
    update webhook_events e set status = 'dead',
      error = jsonb_build_object('message', 'dispatch failed ' || d.dispatch_attempts || ' times: ' || d.error)
    from (select distinct on (webhook_event_id) webhook_event_id as id, dispatch_attempts, error from dead
          where webhook_event_id is not null order by webhook_event_id) d
    where e.id = d.id and (e.status = 'pending') is true
  )
  select id::text as "messageId", webhook_event_id::float8 as "eventId", dispatch_attempts::int as attempts, error from dead`;

/** Dead letters (for /metrics): messages given up after DISPATCH_MAX_ATTEMPTS refused dispatches. */
export async function countDeadMessages(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(messages).where(sql`${messages.deadAt} is not null`);
  return row?.n ?? 0;
}

/**
 * Requeues the dead messages of these webhook events: their counters start again and the
 * scan takes them (the dispatcher of any process, no call to Temporal here); the events go
 * back to `pending` without the dead error. With `dryRun`, only says what would be requeued.
 * Returns, per event that had dead messages, how many.
 */
export async function requeueDeadMessages(
  db: Db,
  params: { eventIds: number[]; dryRun?: boolean },
): Promise<Array<{ eventId: number; messages: number }>> {
  if (params.eventIds.length === 0) return [];
  const rows = await queryPrepared<{ eventId: number; messages: number }>(db, params.dryRun ? DEAD_OF_EVENTS : REQUEUE_DEAD, [
    `{${params.eventIds.join(',')}}`,
  ]);
  return rows.map((r) => ({ eventId: Number(r.eventId), messages: Number(r.messages) }));
}

/** The dead messages of the events, through messages_undispatched_event_idx (dead ones are undispatched). */
const DEAD_OF_EVENTS = `
  select webhook_event_id::float8 as "eventId", count(*)::int as messages from messages
  where webhook_event_id = any($1::int[]) and dispatched_at is null and triggers_automation and dead_at is not null
  group by webhook_event_id order by webhook_event_id`;

const REQUEUE_DEAD = `
  with m as (
    update messages set dispatch_attempts = 0, dispatch_error = null, dead_at = null
    where webhook_event_id = any($1::int[]) and dispatched_at is null and triggers_automation and dead_at is not null
    returning webhook_event_id
  ),
  ev as (
    update webhook_events e set status = 'pending', error = null, processed_at = null
    where e.id in (select webhook_event_id from m) and e.status = 'dead'
  )
  select webhook_event_id::float8 as "eventId", count(*)::int as messages from m group by webhook_event_id order by webhook_event_id`;

/**
 * A uuid[] parameter as an array literal: drizzle's `sql` expands a JS array into a list of
 * parameters, which `= any(…)` cannot take. Uuids need no quoting.
 */
export function uuidArray(ids: string[]): string {
  return `{${ids.join(',')}}`;
}



// ─── conversations ───

/** A contact's newest messages, newest first (failed sends and unsent rows left out). */
export async function recentMessagesOfContact(db: Db, params: { tenantId: string; contactKey: string; limit: number; excludeIds?: string[] }) {
  return db
    .select({
      id: messages.id,
      direction: messages.direction,
      author: messages.author,
      body: messages.body,
      aiText: messages.aiText,
      type: messages.type,
      createdAt: messages.createdAt,
      providerTimestamp: messages.providerTimestamp,
    })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId))
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        ne(messages.status, 'failed'),
        or(eq(messages.direction, 'inbound'), sql`${messages.providerMessageId} is not null`),
        params.excludeIds?.length ? notInArray(messages.id, params.excludeIds) : undefined,
      ),
    )
    .orderBy(desc(messages.createdAt))
    .limit(params.limit);
}

export async function messagesByIds(db: Db, params: { tenantId: string; ids: string[] }) {
  if (params.ids.length === 0) return [];
  return db
    .select()
    .from(messages)
    .where(and(eq(messages.tenantId, params.tenantId), inArray(messages.id, params.ids)))
    .orderBy(asc(messages.createdAt));
}

/**
 * A `fromMe` message that is really the provider's echo of our own send: zapflow sent that
 * provider id, or (the echo raced our bookkeeping) the same text to this contact moments ago.
 */
export async function isOwnEcho(db: Db, params: { tenantId: string; contactKey: string; providerMessageId: string; text?: string }): Promise<boolean> {
  const [byId] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.tenantId, params.tenantId), eq(messages.providerMessageId, params.providerMessageId), eq(messages.author, 'zapflow')))
    .limit(1);
  if (byId) return true;
  if (!params.text) return false;
  const [byText] = await db
    .select({ id: messages.id })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId))
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        eq(messages.author, 'zapflow'),
        eq(messages.body, params.text),
        gt(messages.createdAt, sql`now() - interval '2 minutes'`),
      ),
    )
    .limit(1);
  return Boolean(byText);
}

/** Text AI derived from a message's media (a voice note's transcript, an image's description). */
export async function setMessageAiText(db: Db, params: { messageId: string; text: string }): Promise<void> {
  await db.update(messages).set({ aiText: params.text, updatedAt: sql`now()` }).where(eq(messages.id, params.messageId));
}

/** Of these messages of the tenant, the ones not analysed yet, with their text. */
export async function unanalysedMessages(db: Db, params: { tenantId: string; ids: string[] }) {
  if (params.ids.length === 0) return [];
  return db
    .select({ id: messages.id, body: messages.body, aiText: messages.aiText })
    .from(messages)
    .where(and(eq(messages.tenantId, params.tenantId), inArray(messages.id, params.ids), isNull(messages.analysedAt)));
}

export async function recordMessageAnalysis(
  db: Db,
  params: { messageId: string; sentiment: number | null; emotion: string | null; satisfaction: number | null },
): Promise<void> {
  await db
    .update(messages)
    .set({ sentiment: params.sentiment, emotion: params.emotion, satisfaction: params.satisfaction, analysedAt: sql`now()`, updatedAt: sql`now()` })
    .where(eq(messages.id, params.messageId));
}

/** A message of the tenant with its channel's name and its contact's phone. */
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

export async function getMessageStatus(db: Db, params: { messageId: string }): Promise<string | undefined> {
  const [row] = await db.select({ status: messages.status }).from(messages).where(eq(messages.id, params.messageId));
  return row?.status;
}
