/**
 * Every AI call zapflow makes for a tenant (ai_interactions): keyed so a retried activity
 * finds the answer it already paid for.
 */
import { and, desc, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { aiInteractions } from '../schema';

export type AiInteractionRow = typeof aiInteractions.$inferSelect;

/** The interaction for `key`: created the first time, counted as one more attempt after. */
export async function beginInteraction(
  db: Db,
  params: { key: string; tenantId: string; contactKey?: string; kind: AiInteractionRow['kind']; model?: string; input?: Record<string, unknown> },
): Promise<AiInteractionRow> {
  const [row] = await db
    .insert(aiInteractions)
    .values({
      key: params.key,
      tenantId: params.tenantId,
      contactKey: params.contactKey,
      kind: params.kind,
      model: params.model,
      input: params.input ?? {},
      attempts: 1,
    })
    .onConflictDoUpdate({ target: aiInteractions.key, set: { attempts: sql`${aiInteractions.attempts} + 1`, updatedAt: sql`now()` } })
    .returning();
  return row;
}

export async function finishInteraction(
  db: Db,
  params: {
    id: string;
    status: AiInteractionRow['status'];
    output?: Record<string, unknown>;
    error?: Record<string, unknown> | null;
    usage?: { promptTokens?: number; completionTokens?: number };
    model?: string;
    input?: Record<string, unknown>;
  },
): Promise<void> {
  await db
    .update(aiInteractions)
    .set({
      status: params.status,
      ...(params.output ? { output: params.output } : {}),
      ...(params.error !== undefined ? { error: params.error } : {}),
      ...(params.usage?.promptTokens !== undefined ? { promptTokens: params.usage.promptTokens } : {}),
      ...(params.usage?.completionTokens !== undefined ? { completionTokens: params.usage.completionTokens } : {}),
      ...(params.model ? { model: params.model } : {}),
      ...(params.input ? { input: params.input } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(aiInteractions.id, params.id));
}

export async function listInteractions(db: Db, params: { tenantId: string; contactKey?: string; limit: number }) {
  return db
    .select()
    .from(aiInteractions)
    .where(and(eq(aiInteractions.tenantId, params.tenantId), params.contactKey ? eq(aiInteractions.contactKey, params.contactKey) : undefined))
    .orderBy(desc(aiInteractions.createdAt))
    .limit(params.limit);
}


/**
 * Tokens (prompt + completion) of a tenant's AI calls created since `since`: what its daily
 * budget has spent (ai_interactions_tenant_idx serves it).
 */
export async function tokensSpentSince(db: Db, params: { tenantId: string; since: Date }): Promise<number> {
  const [row] = await db
    .select({ spent: sql<string | null>`sum(coalesce(${aiInteractions.promptTokens}, 0) + coalesce(${aiInteractions.completionTokens}, 0))` })
    .from(aiInteractions)
    .where(and(eq(aiInteractions.tenantId, params.tenantId), gte(aiInteractions.createdAt, params.since)));
  return Number(row?.spent ?? 0);
}

/**
 * Retention: deletes up to `limit` AI call records made more than `olderThanMs` ago, oldest
 * first (by ai_interactions_created_idx), and returns how many. The text AI derived that
 * conversations use (messages.ai_text, analysis columns) is on the messages and stays.
 */
export async function deleteOldInteractions(db: Db, params: { olderThanMs: number; limit: number }): Promise<number> {
  const rows = await db
    .delete(aiInteractions)
    .where(
      sql`${aiInteractions.id} = any(array(
        select i.id from ai_interactions i
        where i.created_at < now() - ${params.olderThanMs}::float8 * interval '1 millisecond'
        order by i.created_at limit ${params.limit}::int for update skip locked))`,
    )
    .returning({ id: aiInteractions.id });
  return rows.length;
}
