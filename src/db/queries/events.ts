/** Raw webhook events (webhook_events): every authenticated post, kept with its outcome. */
import { and, desc, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../client';
import type { Provider, WebhookEventStatus } from '../../domain/records';
import { webhookEvents } from '../schema';

export async function listWebhookEvents(
  db: Db,
  params: { status?: WebhookEventStatus; provider?: string; since?: Date; limit?: number },
) {
  return db
    .select({
      id: webhookEvents.id,
      provider: webhookEvents.provider,
      status: webhookEvents.status,
      eventType: webhookEvents.eventType,
      tenantId: webhookEvents.tenantId,
      channelKey: webhookEvents.channelKey,
      error: webhookEvents.error,
      receivedAt: webhookEvents.receivedAt,
    })
    .from(webhookEvents)
    .where(
      and(
        params.status ? eq(webhookEvents.status, params.status) : undefined,
        params.provider ? eq(webhookEvents.provider, params.provider as never) : undefined,
        params.since ? gte(webhookEvents.receivedAt, params.since) : undefined,
      ),
    )
    .orderBy(desc(webhookEvents.id))
    .limit(params.limit ?? 100);
}

/** The raw webhook, first thing in its transaction (status `received` until its items are filed). */
export async function insertWebhookEvent(
  db: Db,
  params: {
    provider: Provider;
    tenantId?: string;
    channelId?: string;
    channelKey: string | null;
    eventType: string | null;
    rawBody: string;
    error?: { message: string; path?: string };
  },
): Promise<number> {
  const [row] = await db
    .insert(webhookEvents)
    .values({ ...params, status: 'received' })
    .returning({ id: webhookEvents.id });
  return row.id;
}

/**
 * The event's outcome. `processed`: it is done (processed_at now); otherwise messages of it
 * still wait for their workflow (pending) and processed_at stays empty.
 */
export async function setWebhookEventStatus(
  db: Db,
  params: { eventId: number; status: WebhookEventStatus; done: boolean; error?: { message: string; path?: string } },
): Promise<void> {
  await db
    .update(webhookEvents)
    .set({ status: params.status, processedAt: params.done ? sql`now()` : null, ...(params.error ? { error: params.error } : {}) })
    .where(eq(webhookEvents.id, params.eventId));
}
