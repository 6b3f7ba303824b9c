import { and, desc, eq, gte } from 'drizzle-orm';
import type { Db } from '../client';
import { webhookEvents, type WebhookEventStatus } from '../schema';

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
