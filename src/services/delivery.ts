import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { getChannelById, type ChannelRow } from '../db/queries/channels';
import { getContact } from '../db/queries/contacts';
import { contacts, messages, type Provider } from '../db/schema';
import type { Logger } from '../log';
import { ProviderError, type ChannelTarget, type OutboundMessage, type ProviderClient } from '../activities/providers/types';
import { applyPendingStatuses } from './statuses';

export type ProviderRegistry = Record<Provider, ProviderClient>;

export interface DeliveryDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
}

export interface DeliverRequest {
  tenantId: string;
  channelId: string;
  contactKey: string;
  message: OutboundMessage;
  /** Stable per logical send (workflow id + step): a retry finds the same row. */
  idempotencyKey: string;
  /** The opt-out confirmation is the one message an opted-out contact still gets. */
  allowOptedOut?: boolean;
}

export interface DeliverResult {
  messageId: string;
  providerMessageId: string;
  /** True when an earlier attempt had already sent it: nothing was sent now. */
  alreadySent: boolean;
}

/** Refusals that retrying cannot fix; the activity layer makes them non-retryable. */
export class DeliveryRefused extends Error {
  override name = 'DeliveryRefused';
  constructor(
    message: string,
    readonly reason: 'OptedOut' | 'ChannelNotFound' | 'ContactNotSendable',
  ) {
    super(message);
  }
}

export function channelTarget(channel: ChannelRow): ChannelTarget {
  return {
    id: channel.id,
    provider: channel.provider,
    externalId: channel.externalId,
    baseUrl: channel.baseUrl,
    credentials: channel.credentials,
  };
}

function bodyOf(message: OutboundMessage): string {
  switch (message.type) {
    case 'text':
      return message.text;
    case 'media':
      return message.caption ?? '';
    case 'buttons':
    case 'list':
      return message.text;
    case 'template':
      return `[template ${message.name}]`;
  }
}

/**
 * Sends one message exactly once per idempotency key: records the intent (a queued row)
 * before calling the provider, and on a retry returns the provider id already recorded.
 */
export async function deliver(deps: DeliveryDeps, req: DeliverRequest): Promise<DeliverResult> {
  const { db } = deps;
  const channel = await getChannelById(db, { channelId: req.channelId });
  if (!channel || channel.tenantId !== req.tenantId) {
    throw new DeliveryRefused(`channel ${req.channelId} not found for tenant`, 'ChannelNotFound');
  }
  const contact = await getContact(db, { tenantId: req.tenantId, phone: req.contactKey });

  await db
    .insert(messages)
    .values({
      tenantId: req.tenantId,
      channelId: channel.id,
      contactId: contact?.id,
      direction: 'outbound',
      author: 'zapflow',
      type: req.message.type,
      body: bodyOf(req.message),
      payload: req.message as unknown as Record<string, unknown>,
      idempotencyKey: req.idempotencyKey,
      status: 'queued',
    })
    .onConflictDoNothing({ target: messages.idempotencyKey });
  const [row] = await db.select().from(messages).where(eq(messages.idempotencyKey, req.idempotencyKey)).limit(1);
  if (!row) throw new Error(`message row for ${req.idempotencyKey} vanished`);
  if (row.providerMessageId) {
    return { messageId: row.id, providerMessageId: row.providerMessageId, alreadySent: true };
  }

  if (contact?.optedOutAt && !req.allowOptedOut) {
    await markFailed(db, row.id, { reason: 'OptedOut', message: 'contact opted out' });
    throw new DeliveryRefused('contact opted out', 'OptedOut');
  }
  const provider = deps.providers[channel.provider];
  try {
    const result = await provider.send(channelTarget(channel), req.contactKey, req.message, { idempotencyKey: req.idempotencyKey });
    await db
      .update(messages)
      .set({ providerMessageId: result.providerMessageId, status: 'sent', sentAt: sql`now()`, updatedAt: sql`now()`, error: null })
      .where(eq(messages.id, row.id));
    if (contact) {
      await db.update(contacts).set({ lastOutboundAt: sql`now()` }).where(eq(contacts.id, contact.id));
    }
    await applyPendingStatuses(db, { channelId: channel.id, providerMessageId: result.providerMessageId });
    return { messageId: row.id, providerMessageId: result.providerMessageId, alreadySent: false };
  } catch (err) {
    if (err instanceof ProviderError) {
      const error = { reason: err.kind, message: err.message, code: err.details.code, status: err.details.status };
      if (err.retryable) {
        await db.update(messages).set({ error, updatedAt: sql`now()` }).where(eq(messages.id, row.id));
      } else {
        await markFailed(db, row.id, error);
      }
    }
    throw err;
  }
}

async function markFailed(db: Db, messageId: string, error: Record<string, unknown>): Promise<void> {
  await db
    .update(messages)
    .set({ status: 'failed', failedAt: sql`now()`, error, updatedAt: sql`now()` })
    .where(eq(messages.id, messageId));
}
