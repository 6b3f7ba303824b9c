/**
 * Durable ingest: the raw webhook and everything it implies (message rows, contacts,
 * statuses, connection state) are written in one transaction before the provider gets its
 * 200. A message row is unique on (channel, provider message id): a re-delivery finds it
 * and dispatches nothing new.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { queryPrepared } from '../db/prepared';
import { upsertContact } from '../db/queries/contacts';
import { channels, messages, webhookEvents, type MessageStatus, type Provider, type WebhookEventStatus } from '../db/schema';
import type { MessageEvent, NormalisedEvent, StatusEvent } from '../domain/events';
import { contactKey } from '../domain/phone';
import { applyPendingStatuses, recordStatus } from '../services/statuses';
import type { RoutedChannel } from './channelDirectory';

export interface IngestItem {
  /** The channel this item belongs to; null when its key matched no channel (unroutable). */
  routed: RoutedChannel | null;
  channelKey: string | null;
  event: NormalisedEvent;
}

export interface IngestInput {
  provider: Provider;
  rawBody: string;
  eventType: string | null;
  items: IngestItem[];
  /** Set when the body was authenticated but did not parse: stored as rejected. */
  parseError?: { message: string; path: string };
  /** Channel of the request when known without parsing (LancePilot token, rejected bodies). */
  requestChannel?: RoutedChannel | null;
}

export interface IngestOutcome {
  eventId: number;
  status: WebhookEventStatus;
  /** Message rows to hand to contact workflows (new, from a contact or a human on the phone). */
  toDispatch: string[];
  counts: { messages: number; duplicates: number; statuses: number; unroutable: number };
}

/** Messages that reach the contact workflow: the contact's own and a human typing on the phone. */
function dispatchable(event: MessageEvent, routed: RoutedChannel): boolean {
  if (event.author === 'api') return false; // echo of our own API send
  if (event.chatType === 'broadcast') return false;
  if (event.chatType === 'group' && !routed.channel.settings.allowGroups) return false;
  return true;
}

function messagePayload(event: MessageEvent): Record<string, unknown> {
  const { button, media, reaction, location, contacts, replyTo, referral, groupId, contact } = event;
  return Object.fromEntries(
    Object.entries({ button, media, reaction, location, contacts, replyTo, referral, groupId, lid: contact.lid, chatType: event.chatType }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

const STATUS_MAP: Record<StatusEvent['status'], MessageStatus | null> = {
  pending: null,
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  played: 'played',
  failed: 'failed',
};

export async function recordWebhook(db: Db, input: IngestInput): Promise<IngestOutcome> {
  const single = singleInbound(input);
  if (single) return recordSingleInbound(db, input, single);
  return db.transaction(async (tx) => {
    const routedChannels = new Map(
      input.items.filter((i) => i.routed).map((i) => [i.routed!.channel.id, i.routed!] as const),
    );
    if (input.requestChannel) routedChannels.set(input.requestChannel.channel.id, input.requestChannel);
    const only = routedChannels.size === 1 ? [...routedChannels.values()][0] : undefined;
    const firstKey = input.items.find((i) => i.channelKey)?.channelKey ?? null;

    const [event] = await tx
      .insert(webhookEvents)
      .values({
        provider: input.provider,
        tenantId: only?.tenant.id,
        channelId: only?.channel.id,
        channelKey: only?.channel.externalId ?? firstKey,
        eventType: input.eventType,
        status: 'received',
        rawBody: input.rawBody,
        error: input.parseError,
      })
      .returning({ id: webhookEvents.id });
    const eventId = event!.id;
    const counts = { messages: 0, duplicates: 0, statuses: 0, unroutable: 0 };
    const toDispatch: string[] = [];
    let effects = 0;

    if (input.parseError) {
      await tx.update(webhookEvents).set({ status: 'rejected', processedAt: sql`now()` }).where(eq(webhookEvents.id, eventId));
      return { eventId, status: 'rejected', toDispatch, counts };
    }

    for (const item of input.items) {
      if (!item.routed) {
        if (item.event.kind !== 'unknown') counts.unroutable++;
        continue;
      }
      const { channel, tenant } = item.routed;
      const ev = item.event;
      switch (ev.kind) {
        case 'message': {
          const key = contactKey(ev.contact);
          if (!key) break;
          const fromContact = ev.author === 'contact' && ev.direction === 'inbound';
          const contact = await upsertContact(tx, {
            tenantId: tenant.id,
            phone: key,
            name: fromContact ? ev.contact.name : undefined,
            lastInboundAt: fromContact ? new Date(ev.timestamp) : undefined,
          });
          const triggers = dispatchable(ev, item.routed);
          const inserted = await tx
            .insert(messages)
            .values({
              tenantId: tenant.id,
              channelId: channel.id,
              contactId: contact.id,
              direction: ev.direction,
              author: ev.author,
              type: ev.type,
              body: ev.text,
              payload: messagePayload(ev),
              providerMessageId: ev.providerMessageId,
              status: ev.direction === 'inbound' ? 'received' : 'sent',
              webhookEventId: eventId,
              triggersAutomation: triggers,
              providerTimestamp: new Date(ev.timestamp),
              sentAt: ev.direction === 'outbound' ? new Date(ev.timestamp) : undefined,
            })
            .onConflictDoNothing({ target: [messages.channelId, messages.providerMessageId] })
            .returning({ id: messages.id });
          if (inserted.length === 0) {
            counts.duplicates++;
            break;
          }
          counts.messages++;
          effects++;
          await applyPendingStatuses(tx, { channelId: channel.id, providerMessageId: ev.providerMessageId });
          if (triggers) toDispatch.push(inserted[0]!.id);
          break;
        }
        case 'status': {
          const status = STATUS_MAP[ev.status];
          if (!status) break;
          const fresh = await recordStatus(tx, {
            channelId: channel.id,
            providerMessageId: ev.providerMessageId,
            status,
            occurredAt: new Date(ev.timestamp),
            error: ev.error as Record<string, unknown> | undefined,
            webhookEventId: eventId,
          });
          if (fresh) {
            counts.statuses++;
            effects++;
          } else counts.duplicates++;
          break;
        }
        case 'connection':
          await tx
            .update(channels)
            .set({ connectionState: ev.state, connectionUpdatedAt: sql`now()`, updatedAt: sql`now()` })
            .where(eq(channels.id, channel.id));
          effects++;
          break;
        case 'qrcode':
          if (!ev.error) {
            await tx
              .update(channels)
              .set({
                qrCode: { code: ev.code, base64: ev.base64, pairingCode: ev.pairingCode ?? null, at: new Date().toISOString() },
                updatedAt: sql`now()`,
              })
              .where(eq(channels.id, channel.id));
          }
          effects++;
          break;
        case 'unknown':
          break;
      }
    }

    let status: WebhookEventStatus;
    if (toDispatch.length > 0) status = 'pending';
    else if (routedChannels.size === 0 && counts.unroutable > 0) status = 'unroutable';
    else if (effects > 0) status = 'processed';
    else if (counts.duplicates > 0) status = 'duplicate';
    else if (counts.unroutable > 0) status = 'unroutable';
    else status = 'ignored';
    const error = counts.unroutable > 0 && status !== 'unroutable' ? { message: `${counts.unroutable} item(s) for unknown channels` } : undefined;
    await tx
      .update(webhookEvents)
      .set({ status, processedAt: status === 'pending' ? null : sql`now()`, ...(error ? { error } : {}) })
      .where(eq(webhookEvents.id, eventId));
    return { eventId, status, toDispatch, counts };
  });
}

/**
 * Marks messages handed to their workflows, in one statement; an event becomes `dispatched`
 * with its last message. The NOT EXISTS reads the snapshot before this update, so the
 * messages marked here are excluded by id.
 */
export async function markDispatchedBatch(db: Db, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await queryPrepared(db, MARK_DISPATCHED, [uuidArray(messageIds)]);
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

interface SingleInbound {
  routed: RoutedChannel;
  event: MessageEvent;
  key: string;
}

/** The common webhook: exactly one inbound message for a known channel (a contact wrote). */
function singleInbound(input: IngestInput): SingleInbound | undefined {
  if (input.parseError || input.items.length !== 1) return undefined;
  const [item] = input.items;
  if (!item?.routed || item.event.kind !== 'message' || item.event.direction !== 'inbound') return undefined;
  if (input.requestChannel && input.requestChannel.channel.id !== item.routed.channel.id) return undefined;
  const key = contactKey(item.event.contact);
  return key ? { routed: item.routed, event: item.event, key } : undefined;
}

/**
 * A uuid[] parameter as an array literal: drizzle's `sql` expands a JS array into a list of
 * parameters, which `= any(…)` cannot take. Uuids need no quoting.
 */
export function uuidArray(ids: string[]): string {
  return `{${ids.join(',')}}`;
}


/** recordSingleInbound's statement: a constant text, so it is prepared once per connection. */
const RECORD_SINGLE_INBOUND = `
  with ids as (select nextval('webhook_events_id_seq')::bigint as event_id),
  c as (
    insert into contacts (tenant_id, phone, name, last_inbound_at)
    values ($1::uuid, $3::text, $4::text, $5::timestamptz)
    on conflict (tenant_id, phone) do update set
      name = coalesce(excluded.name, contacts.name),
      last_inbound_at = greatest(excluded.last_inbound_at, contacts.last_inbound_at),
      updated_at = now()
    returning id
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
 * The common webhook in one statement, so one round trip instead of a transaction of six:
 * the event id is drawn first so the message row can point at it, the contact is upserted,
 * the message inserted unless it is a re-delivery, and the event row written with its final
 * status. One statement is atomic like the transaction it replaces. Statuses that arrived
 * before this message (in practice they concern outbound messages) are applied after it.
 */
async function recordSingleInbound(db: Db, input: IngestInput, single: SingleInbound): Promise<IngestOutcome> {
  const { routed, event: ev, key } = single;
  const { channel, tenant } = routed;
  const fromContact = ev.author === 'contact';
  const triggers = dispatchable(ev, routed);
  const at = new Date(ev.timestamp).toISOString();
  const [row] = await queryPrepared<{ eventId: number; status: WebhookEventStatus; messageId: string | null; hasPending: boolean }>(db, RECORD_SINGLE_INBOUND, [
    tenant.id,
    channel.id,
    key,
    fromContact ? (ev.contact.name ?? null) : null,
    fromContact ? at : null,
    ev.author,
    ev.type,
    ev.text ?? null,
    JSON.stringify(messagePayload(ev)),
    ev.providerMessageId,
    triggers,
    at,
    input.provider,
    channel.externalId,
    input.eventType,
    input.rawBody,
  ]);
  const eventId = Number(row!.eventId);
  const inserted = row!.messageId !== null;
  if (inserted && row!.hasPending) await applyPendingStatuses(db, { channelId: channel.id, providerMessageId: ev.providerMessageId });
  return {
    eventId,
    status: row!.status,
    toDispatch: inserted && triggers ? [row!.messageId!] : [],
    counts: { messages: inserted ? 1 : 0, duplicates: inserted ? 0 : 1, statuses: 0, unroutable: 0 },
  };
}
