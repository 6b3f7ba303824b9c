/**
 * Delivery statuses reported by providers (message_status_events) and their effect on the
 * message rows: a status moves a message forward only, and one that arrives before its row
 * waits for it.
 */
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import { MESSAGE_ATTRIBUTION, NOT_WARMUP } from './conversationEvents';
import type { MessageStatus } from '../../domain/records';
import { messages, messageStatusEvents } from '../schema';

/** Delivery statuses move forward only: queued → sent → delivered → read/played. failed is terminal. */
const RANK: Record<string, number> = { received: 0, queued: 0, sent: 1, delivered: 2, read: 3, played: 4 };

/** Statuses a row may be in for `next` to apply. */
export function statusesBefore(next: MessageStatus): MessageStatus[] {
  if (next === 'failed') return ['queued', 'sent', 'delivered'];
  const rank = RANK[next] ?? 0;
  return (Object.keys(RANK) as MessageStatus[]).filter((s) => s !== 'received' && RANK[s] < rank);
}

export interface StatusUpdate {
  channelId: string;
  providerMessageId: string;
  status: MessageStatus;
  occurredAt: Date;
  error?: Record<string, unknown>;
}

/**
 * Moves the message forward when the update is newer; returns whether a row changed. One
 * statement, which also logs what changed for zapflow's own sends (conversation_events, at
 * the report's own time): message_delivered when the message first counts as delivered (a
 * read implies it), message_read when first read (or played), message_failed.
 */
export async function applyStatus(db: Db, update: StatusUpdate): Promise<boolean> {
  if (update.status === 'received' || update.status === 'queued') return false;
  const [row] = await queryPrepared<{ changed: number }>(db, APPLY_STATUS, [
    update.channelId,
    update.providerMessageId,
    update.status,
    update.occurredAt.toISOString(),
    update.error ? JSON.stringify(update.error) : null,
    `{${statusesBefore(update.status).join(',')}}`,
  ]);
  return Number(row?.changed ?? 0) > 0;
}

/*
 * `x` locks the row first (FOR UPDATE reads the latest committed version, after waiting for a
 * concurrent report), so the transitions it sees are the ones this statement makes: two reports
 * applied at once never both log a delivery.
 */
const APPLY_STATUS = `
with x as (
  select id, tenant_id, channel_id, contact_id, author, idempotency_key, delivered_at, read_at
    from messages
   where channel_id = $1::uuid and provider_message_id = $2::text and status = any($6::text[])
   for update
), m as (
  update messages set
    status = $3::text,
    sent_at = case when $3::text = 'sent' then coalesce(messages.sent_at, $4::timestamptz) else messages.sent_at end,
    delivered_at = case when $3::text in ('delivered', 'read', 'played') then coalesce(messages.delivered_at, $4::timestamptz) else messages.delivered_at end,
    read_at = case when $3::text in ('read', 'played') then coalesce(messages.read_at, $4::timestamptz) else messages.read_at end,
    failed_at = case when $3::text = 'failed' then coalesce(messages.failed_at, $4::timestamptz) else messages.failed_at end,
    error = coalesce($5::text::jsonb, messages.error),
    updated_at = now()
  from x where messages.id = x.id
  returning messages.id
), logged as (
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, message_id)
  select x.tenant_id, $4::timestamptz, k.kind, x.channel_id, a.funnel_id, a.campaign_id, x.contact_id, x.id
    from x
    cross join lateral (${MESSAGE_ATTRIBUTION}) a
    cross join lateral (values
      ('message_delivered', x.delivered_at is null and $3::text in ('delivered', 'read', 'played')),
      ('message_read', x.read_at is null and $3::text in ('read', 'played')),
      ('message_failed', $3::text = 'failed')) k(kind, yes)
   where k.yes and x.author = 'zapflow' and ${NOT_WARMUP}
)
select count(*)::int as changed from m`;

/**
 * Records a provider status report and applies it. A report for a message not stored yet
 * stays unapplied and is applied by applyPendingStatuses when the row appears.
 * Returns false for a duplicate report.
 */
export async function recordStatus(db: Db, update: StatusUpdate & { webhookEventId?: number }): Promise<boolean> {
  const inserted = await db
    .insert(messageStatusEvents)
    .values({
      channelId: update.channelId,
      providerMessageId: update.providerMessageId,
      status: update.status,
      error: update.error,
      occurredAt: update.occurredAt,
      webhookEventId: update.webhookEventId,
    })
    .onConflictDoNothing()
    .returning({ id: messageStatusEvents.id });
  if (inserted.length === 0) return false;
  const exists = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.channelId, update.channelId), eq(messages.providerMessageId, update.providerMessageId)))
    .limit(1);
  if (exists.length > 0) {
    await applyStatus(db, update);
    await db.update(messageStatusEvents).set({ appliedAt: sql`now()` }).where(eq(messageStatusEvents.id, inserted[0].id));
  }
  return true;
}

/** Applies, in order, statuses that arrived before their message row existed. */
export async function applyPendingStatuses(db: Db, params: { channelId: string; providerMessageId: string }): Promise<void> {
  const pending = await db
    .select()
    .from(messageStatusEvents)
    .where(
      and(
        eq(messageStatusEvents.channelId, params.channelId),
        eq(messageStatusEvents.providerMessageId, params.providerMessageId),
        isNull(messageStatusEvents.appliedAt),
      ),
    )
    .orderBy(asc(messageStatusEvents.occurredAt), asc(messageStatusEvents.id));
  for (const row of pending) {
    await applyStatus(db, {
      channelId: row.channelId,
      providerMessageId: row.providerMessageId,
      status: row.status as MessageStatus,
      occurredAt: row.occurredAt,
      error: row.error ?? undefined,
    });
    await db.update(messageStatusEvents).set({ appliedAt: sql`now()` }).where(eq(messageStatusEvents.id, row.id));
  }
}

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

/** Every status report for one provider message, oldest first (applied or not). */
export async function listStatusEvents(db: Db, params: { channelId: string; providerMessageId: string }) {
  return db
    .select()
    .from(messageStatusEvents)
    .where(and(eq(messageStatusEvents.channelId, params.channelId), eq(messageStatusEvents.providerMessageId, params.providerMessageId)))
    .orderBy(asc(messageStatusEvents.occurredAt), asc(messageStatusEvents.id));
}

/**
 * Retention: deletes up to `limit` status events stored more than `olderThanMs` ago, oldest
 * first (by message_status_events_created_idx), and returns how many. The message rows keep
 * the statuses they reached.
 */
export async function deleteOldStatusEvents(db: Db, params: { olderThanMs: number; limit: number }): Promise<number> {
  const rows = await db
    .delete(messageStatusEvents)
    .where(
      sql`${messageStatusEvents.id} = any(array(
        select s.id from message_status_events s
        where s.created_at < now() - ${params.olderThanMs}::float8 * interval '1 millisecond'
        order by s.created_at limit ${params.limit}::int for update skip locked))`,
    )
    .returning({ id: messageStatusEvents.id });
  return rows.length;
}
