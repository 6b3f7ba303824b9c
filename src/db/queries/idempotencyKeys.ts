/** `Idempotency-Key` of API requests, per tenant (services/sending.ts explains the protocol). */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { apiIdempotencyKeys } from '../schema';

export type IdempotencyRow = typeof apiIdempotencyKeys.$inferSelect;

/**
 * Claims an Idempotency-Key for a request: the first caller's row wins and later callers
 * get that same row (with the resource id chosen by the first, and its answer once stored).
 */
export async function claimIdempotencyKey(
  db: Db,
  params: { tenantId: string; key: string; requestHash: string; resourceId: string },
): Promise<{ row: IdempotencyRow; fresh: boolean }> {
  const inserted = await db.insert(apiIdempotencyKeys).values(params).onConflictDoNothing().returning();
  if (inserted[0]) return { row: inserted[0], fresh: true };
  const [row] = await db
    .select()
    .from(apiIdempotencyKeys)
    .where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
  return { row: row, fresh: false };
}

export async function storeIdempotentResponse(
  db: Db,
  params: { tenantId: string; key: string; statusCode: number; response: Record<string, unknown> },
): Promise<void> {
  await db
    .update(apiIdempotencyKeys)
    .set({ statusCode: params.statusCode, response: params.response })
    .where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
}

export async function releaseIdempotencyKey(db: Db, params: { tenantId: string; key: string }): Promise<void> {
  await db.delete(apiIdempotencyKeys).where(and(eq(apiIdempotencyKeys.tenantId, params.tenantId), eq(apiIdempotencyKeys.key, params.key)));
}

/**
 * Retention: deletes up to `limit` idempotency keys claimed more than `olderThanMs` ago, oldest
 * first (by api_idempotency_keys_created_idx), and returns how many. A request retried with a
 * deleted key is a new request.
 */
export async function deleteOldIdempotencyKeys(db: Db, params: { olderThanMs: number; limit: number }): Promise<number> {
  const rows = await db
    .delete(apiIdempotencyKeys)
    .where(
      sql`${apiIdempotencyKeys.id} = any(array(
        select k.id from api_idempotency_keys k
        where k.created_at < now() - ${params.olderThanMs}::float8 * interval '1 millisecond'
        order by k.created_at limit ${params.limit}::int for update skip locked))`,
    )
    .returning({ id: apiIdempotencyKeys.id });
  return rows.length;
}
