/** Raw webhook events (webhook_events): every authenticated post, kept with its outcome. */
import { and, asc, desc, eq, gte, inArray, sql } from 'drizzle-orm';
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

/** These events' statuses (the ids that exist), for commands that act on named events. */
export async function webhookEventStatuses(db: Db, params: { ids: number[] }): Promise<Map<number, WebhookEventStatus>> {
  if (params.ids.length === 0) return new Map();
  const rows = await db.select({ id: webhookEvents.id, status: webhookEvents.status }).from(webhookEvents).where(inArray(webhookEvents.id, params.ids));
  return new Map(rows.map((r) => [Number(r.id), r.status]));
}

/** Every dead event (optionally of one provider, received since a time), oldest first, by webhook_events_status_idx. */
export async function deadWebhookEventIds(db: Db, params: { provider?: Provider; since?: Date }): Promise<number[]> {
  const rows = await db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(
      and(
        eq(webhookEvents.status, 'dead'),
        params.provider ? eq(webhookEvents.provider, params.provider) : undefined,
        params.since ? gte(webhookEvents.receivedAt, params.since) : undefined,
      ),
    )
    .orderBy(asc(webhookEvents.id));
  return rows.map((r) => Number(r.id));
}

/**
 * Retention: empties the raw bodies of up to `limit` webhooks received more than `olderThanMs`
 * ago, oldest first, and returns how many. The row stays (provider, status, error, times: what
 * happened to the webhook) and so do the messages filed from it; the body, with every phone,
 * name and text it carried, goes. By webhook_events_raw_body_idx, which holds only rows that
 * still have a body; rows another transaction holds are skipped, never waited for.
 */
export async function clearOldRawBodies(db: Db, params: { olderThanMs: number; limit: number }): Promise<number> {
  const rows = await db
    .update(webhookEvents)
    .set({ rawBody: '' })
    .where(
      sql`${webhookEvents.id} = any(array(
        select w.id from webhook_events w
        where w.raw_body <> '' and w.received_at < now() - ${params.olderThanMs}::float8 * interval '1 millisecond'
        order by w.received_at limit ${params.limit}::int for update skip locked))`,
    )
    .returning({ id: webhookEvents.id });
  return rows.length;
}
