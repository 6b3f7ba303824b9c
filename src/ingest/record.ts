/**
 * Durable ingest: the raw webhook and everything it implies (message rows, contacts,
 * statuses, connection state) are written in one transaction before the provider gets its
 * 200. A message row is unique on (channel, provider message id): a re-delivery finds it
 * and dispatches nothing new.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
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

/** Marks a message handed to its workflow; the event becomes `dispatched` with its last message. */
export async function markDispatched(db: Db, params: { messageId: string }): Promise<void> {
  const [row] = await db
    .update(messages)
    .set({ dispatchedAt: sql`now()` })
    .where(and(eq(messages.id, params.messageId), sql`${messages.dispatchedAt} is null`))
    .returning({ eventId: messages.webhookEventId });
  if (!row?.eventId) return;
  await db
    .update(webhookEvents)
    .set({ status: 'dispatched', processedAt: sql`now()` })
    .where(
      and(
        eq(webhookEvents.id, row.eventId),
        eq(webhookEvents.status, 'pending'),
        sql`not exists (select 1 from ${messages} m where m.webhook_event_id = ${row.eventId} and m.triggers_automation and m.dispatched_at is null)`,
      ),
    );
}
