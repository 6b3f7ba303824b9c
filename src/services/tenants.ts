import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeys, tenants } from '../db/schema';

export type TenantRow = typeof tenants.$inferSelect;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new random key (`zf_…`, 32 random bytes); only its hash is stored. */
export function generateApiKey(): string {
  return `zf_${randomBytes(32).toString('base64url')}`;
}

/** Creates an API key for a tenant and returns it in the clear: the only time it is shown. */
export async function createApiKey(db: Db, params: { tenantId: string; name?: string }): Promise<{ id: string; key: string }> {
  const key = generateApiKey();
  const [row] = await db
    .insert(apiKeys)
    .values({ tenantId: params.tenantId, name: params.name ?? 'default', prefix: key.slice(0, 10), hash: hashApiKey(key) })
    .returning({ id: apiKeys.id });
  return { id: row!.id, key };
}

export async function createTenant(
  db: Db,
  params: { name: string; timezone?: string },
): Promise<{ tenant: TenantRow; apiKey: string; apiKeyId: string }> {
  const [tenant] = await db.insert(tenants).values({ name: params.name, timezone: params.timezone }).returning();
  const { id, key } = await createApiKey(db, { tenantId: tenant!.id });
  return { tenant: tenant!, apiKey: key, apiKeyId: id };
}

/** The tenant a key belongs to, or undefined for unknown and revoked keys. */
export async function tenantForApiKey(db: Db, key: string): Promise<{ tenantId: string; keyId: string } | undefined> {
  const [row] = await db
    .select({ tenantId: apiKeys.tenantId, keyId: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, hashApiKey(key)), isNull(apiKeys.revokedAt)))
    .limit(1);
  return row;
}

export async function revokeApiKey(db: Db, params: { keyId: string; tenantId?: string }): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(
      and(
        eq(apiKeys.id, params.keyId),
        isNull(apiKeys.revokedAt),
        params.tenantId ? eq(apiKeys.tenantId, params.tenantId) : undefined,
      ),
    )
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}
