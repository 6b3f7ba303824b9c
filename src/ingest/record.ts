/**
 * Durable ingest: the raw webhook and everything it implies (message rows, contacts,
 * statuses, connection state, and their events in conversation_events: message_received,
 * message_delivered/read/failed) are written in one transaction before the provider gets its
 * 200. A message row is unique on (channel, provider message id): a re-delivery finds it
 * and dispatches nothing new.
 */
import type { Db } from '../db/client';
import { listChannelsByPhone, recordChannelQuality, recordChannelState, storeChannelQr, type StateChange } from '../db/queries/channelStates';
import { openCredentials } from '../db/credentials';
import { stateFromProvider } from '../domain/channelState';
import { isBadAccountEvent, isBadQuality, isLimitDowngrade, type ChannelEvent } from '../domain/channelWatch';
import { digitsOf } from '../domain/phone';
import { upsertContact } from '../db/queries/contacts';
import { insertWebhookEvent, setWebhookEventStatus } from '../db/queries/events';
import { insertWebhookMessage, logInboundMessage, recordInboundMessage } from '../db/queries/messages';
import { applyPendingStatuses, recordStatus } from '../db/queries/statuses';
import type { MessageEvent, NormalisedEvent, QualityEvent, StatusEvent } from '../domain/events';
import { canonicalPhone, contactKey } from '../domain/phone';
import type { MessageStatus, Provider, WebhookEventStatus } from '../domain/records';
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
  /** Connection and quality changes recorded: each goes to its channel's workflow after the commit. */
  channelEvents: ChannelSignal[];
  counts: { messages: number; duplicates: number; statuses: number; unroutable: number };
}

/** Messages that reach the contact workflow: the contact's own and a human typing on the phone. */
function dispatchable(event: MessageEvent, routed: RoutedChannel, key: string): boolean {
  if (event.author === 'api') return false; // echo of our own API send
  if (isOwnNumber(key, routed)) return false; // the tenant's numbers talking (a warm-up): no funnel, AI reply or follow-up
  if (event.chatType === 'broadcast') return false;
  if (event.chatType === 'group' && !routed.channel.settings.allowGroups) return false;
  return true;
}

/**
 * Whether the contact is one of the tenant's own numbers (a channel's phone_number): messages
 * between them are recorded, but start no automation and count in no metric. The routed
 * channel carries its tenant's numbers (one subquery with the channel lookup, cached with it).
 */
export function isOwnNumber(key: string, routed: RoutedChannel): boolean {
  const own = routed.tenant.ownNumbers;
  if (!own || own.length === 0) return false;
  return own.some((n) => (canonicalPhone(n) ?? n) === key);
}

function messagePayload(event: MessageEvent): Record<string, unknown> {
  const { button, media, reaction, location, contacts, replyTo, referral, groupId, contact, truncated } = event;
  return Object.fromEntries(
    Object.entries({ button, media, reaction, location, contacts, replyTo, referral, groupId, lid: contact.lid, chatType: event.chatType, truncated }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

/** A recorded change, addressed to its channel's workflow. */
export interface ChannelSignal {
  channelId: string;
  tenantId: string;
  event: ChannelEvent;
}

function stateSignal(change: StateChange): ChannelSignal {
  return {
    channelId: change.channelId,
    tenantId: change.tenantId,
    event: { kind: 'state', state: change.state, previous: change.previous, reason: change.reason, at: change.at.getTime() },
  };
}

/**
 * The channel a quality or account change is about. Meta names the number by its digits, not
 * its phone_number_id: a Meta channel with that phone number, of the tenant whose app signed
 * the body or sharing that app's secret (any, when the global secret signed it).
 */
async function qualityTarget(
  tx: Db,
  routed: RoutedChannel | null,
  requestChannel: RoutedChannel | null | undefined,
  ev: QualityEvent,
): Promise<RoutedChannel['channel'] | undefined> {
  if (routed) return routed.channel;
  if (!ev.displayPhoneNumber) return undefined;
  const candidates = await listChannelsByPhone(tx, { provider: 'meta', phoneNumber: ev.displayPhoneNumber });
  if (!requestChannel) return candidates[0];
  const signerSecret = openCredentials(requestChannel.channel.credentials).appSecret;
  return candidates.find(
    (c) => c.tenantId === requestChannel.tenant.id || (!!signerSecret && openCredentials(c.credentials).appSecret === signerSecret),
  );
}

/** Stores a quality change; its signal when something changed (a drop says so). */
async function recordQuality(tx: Db, channel: RoutedChannel['channel'], ev: QualityEvent): Promise<ChannelSignal | undefined> {
  const badAccount = ev.field === 'account_update' && isBadAccountEvent(ev.event);
  const rating = badAccount ? 'RED' : ev.qualityRating;
  const reason = [ev.field === 'account_update' ? `account:${ev.event ?? 'update'}` : `quality:${ev.event ?? rating ?? 'update'}`, ev.currentLimit ? `limit:${ev.currentLimit}` : '']
    .filter(Boolean)
    .join(' ');
  const result = await recordChannelQuality(tx, { channelId: channel.id, qualityRating: rating, messagingLimit: ev.currentLimit, reason });
  if (!result?.changed) return undefined;
  const previousLimit = ev.oldLimit ?? result.previousLimit;
  const dropped =
    (isBadQuality(rating) && !isBadQuality(result.previousRating)) ||
    isLimitDowngrade(previousLimit, ev.currentLimit) ||
    ev.event === 'DOWNGRADE' ||
    badAccount;
  return {
    channelId: channel.id,
    tenantId: result.tenantId,
    event: {
      kind: 'quality',
      qualityRating: rating ?? result.previousRating,
      messagingLimit: ev.currentLimit ?? result.previousLimit,
      dropped,
      reason,
      at: Date.now(),
    },
  };
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

    const eventId = await insertWebhookEvent(tx, {
      provider: input.provider,
      tenantId: only?.tenant.id,
      channelId: only?.channel.id,
      channelKey: only?.channel.externalId ?? firstKey,
      eventType: input.eventType,
      rawBody: input.rawBody,
      error: input.parseError,
    });
    const counts = { messages: 0, duplicates: 0, statuses: 0, unroutable: 0 };
    const toDispatch: string[] = [];
    const channelEvents: ChannelSignal[] = [];
    let effects = 0;

    if (input.parseError) {
      await setWebhookEventStatus(tx, { eventId, status: 'rejected', done: true });
      return { eventId, status: 'rejected', toDispatch, channelEvents, counts };
    }

    for (const item of input.items) {
      if (item.event.kind === 'quality') {
        // Meta names the number, not its phone_number_id: found here (qualityTarget).
        const target = await qualityTarget(tx, item.routed, input.requestChannel, item.event);
        if (!target) {
          counts.unroutable++;
          continue;
        }
        const signal = await recordQuality(tx, target, item.event);
        if (signal) channelEvents.push(signal);
        effects++;
        continue;
      }
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
          const triggers = dispatchable(ev, item.routed, key);
          const insertedId = await insertWebhookMessage(tx, {
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
          });
          if (!insertedId) {
            counts.duplicates++;
            break;
          }
          counts.messages++;
          effects++;
          if (ev.direction === 'inbound' && !isOwnNumber(key, item.routed)) {
            await logInboundMessage(tx, {
              tenantId: tenant.id,
              channelId: channel.id,
              contactId: contact.id,
              messageId: insertedId,
              author: ev.author,
              occurredAt: new Date(ev.timestamp),
            });
          }
          await applyPendingStatuses(tx, { channelId: channel.id, providerMessageId: ev.providerMessageId });
          if (triggers) toDispatch.push(insertedId);
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
            error: ev.error,
            webhookEventId: eventId,
          });
          if (fresh) {
            counts.statuses++;
            effects++;
          } else counts.duplicates++;
          break;
        }
        case 'connection': {
          // The provider's words become zapflow's (domain/channelState.ts).
          const state = stateFromProvider(input.provider, ev.state, ev.statusReason);
          const phone = state === 'connected' && ev.wuid ? digitsOf(ev.wuid.split('@')[0]?.split(':')[0] ?? '') : '';
          const change = await recordChannelState(tx, {
            channelId: channel.id,
            state,
            reason: ev.statusReason !== undefined ? `${ev.state}:${ev.statusReason}` : ev.state,
            ...(phone ? { phoneNumber: phone } : {}),
          });
          if (change) channelEvents.push(stateSignal(change));
          effects++;
          break;
        }
        case 'qrcode':
          if (!ev.error) {
            await storeChannelQr(tx, { channelId: channel.id, qr: { code: ev.code, base64: ev.base64, pairingCode: ev.pairingCode ?? null } });
            // A new QR means the number is not paired (yet, or any more); a late QR after the
            // pairing changes nothing.
            const change = await recordChannelState(tx, { channelId: channel.id, state: 'qr', reason: 'qrcode.updated', unlessIn: ['connected'] });
            if (change) channelEvents.push(stateSignal(change));
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
    await setWebhookEventStatus(tx, { eventId, status, done: status !== 'pending', error });
    return { eventId, status, toDispatch, channelEvents, counts };
  });
}

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
 * The common webhook in one statement (recordInboundMessage). Statuses that arrived before
 * this message (in practice they concern outbound messages) are applied after it.
 */
async function recordSingleInbound(db: Db, input: IngestInput, single: SingleInbound): Promise<IngestOutcome> {
  const { routed, event: ev, key } = single;
  const { channel, tenant } = routed;
  const fromContact = ev.author === 'contact';
  const triggers = dispatchable(ev, routed, key);
  const at = new Date(ev.timestamp).toISOString();
  const row = await recordInboundMessage(db, {
    logReceived: !isOwnNumber(key, routed),
    tenantId: tenant.id,
    channelId: channel.id,
    contactKey: key,
    contactName: fromContact ? (ev.contact.name ?? null) : null,
    lastInboundAt: fromContact ? at : null,
    author: ev.author,
    type: ev.type,
    text: ev.text ?? null,
    payload: messagePayload(ev),
    providerMessageId: ev.providerMessageId,
    triggersAutomation: triggers,
    providerTimestamp: at,
    provider: input.provider,
    channelKey: channel.externalId,
    eventType: input.eventType,
    rawBody: input.rawBody,
  });
  const inserted = row.messageId !== null;
  if (inserted && row.hasPending) await applyPendingStatuses(db, { channelId: channel.id, providerMessageId: ev.providerMessageId });
  return {
    eventId: row.eventId,
    status: row.status,
    toDispatch: inserted && triggers ? [row.messageId!] : [],
    channelEvents: [],
    counts: { messages: inserted ? 1 : 0, duplicates: inserted ? 0 : 1, statuses: 0, unroutable: 0 },
  };
}
