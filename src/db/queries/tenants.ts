/** Tenants, their settings and their API keys (stored as SHA-256 hashes). */
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { apiKeys, tenants } from '../schema';
import type { TenantSettings } from '../../domain/records';

export type TenantRow = typeof tenants.$inferSelect;

export async function getTenant(db: Db, params: { tenantId: string }): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, params.tenantId)).limit(1);
  return row;
}

/** The settings of these tenants, in one query (the dispatcher's batch: once per tenant, not per message). */
export async function tenantSettingsByIds(db: Db, params: { tenantIds: string[] }): Promise<Map<string, TenantSettings>> {
  if (params.tenantIds.length === 0) return new Map();
  const rows = await db.select({ id: tenants.id, settings: tenants.settings }).from(tenants).where(inArray(tenants.id, params.tenantIds));
  return new Map(rows.map((r) => [r.id, r.settings]));
}

export async function listTenants(db: Db) {
  return db.select({ id: tenants.id, name: tenants.name, timezone: tenants.timezone, createdAt: tenants.createdAt }).from(tenants).orderBy(asc(tenants.createdAt));
}

export async function insertTenant(db: Db, params: { name: string; timezone?: string }): Promise<TenantRow> {
  const [row] = await db.insert(tenants).values({ name: params.name, timezone: params.timezone }).returning();
  return row;
}

/**
 * Changes a tenant's settings under a row lock, so two concurrent changes (API settings,
 * conversation settings) both land: `change` gets the stored settings and returns the new
 * ones. Returns what was stored.
 */
export async function updateTenantSettings(
  db: Db,
  params: { tenantId: string; change: (current: TenantSettings) => TenantSettings; timezone?: string },
): Promise<TenantSettings> {
  return db.transaction(async (tx) => {
    const [t] = await tx.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, params.tenantId)).for('update');
    const next = params.change(t?.settings ?? {});
    await tx
      .update(tenants)
      .set({ settings: next, ...(params.timezone ? { timezone: params.timezone } : {}), updatedAt: sql`now()` })
      .where(eq(tenants.id, params.tenantId));
    return next;
  });
}

// ─── API keys ───

export async function insertApiKey(db: Db, params: { tenantId: string; name: string; prefix: string; hash: string }): Promise<{ id: string }> {
  const [row] = await db.insert(apiKeys).values(params).returning({ id: apiKeys.id });
  return row;
}

/** The tenant of an unrevoked key, by the key's hash. */
export async function findActiveApiKey(db: Db, params: { hash: string }): Promise<{ tenantId: string; keyId: string } | undefined> {
  const [row] = await db
    .select({ tenantId: apiKeys.tenantId, keyId: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, params.hash), isNull(apiKeys.revokedAt)))
    .limit(1);
  return row;
}

/** A tenant's keys as the operator sees them: never the hash. */
export async function listApiKeys(db: Db, params: { tenantId: string }) {
  return db
    .select({ id: apiKeys.id, name: apiKeys.name, prefix: apiKeys.prefix, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, params.tenantId));
}

/** Revokes a key (of `tenantId` when given); false when there was no such unrevoked key. */
export async function revokeApiKey(db: Db, params: { keyId: string; tenantId?: string }): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, params.keyId), isNull(apiKeys.revokedAt), params.tenantId ? eq(apiKeys.tenantId, params.tenantId) : undefined))
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}
