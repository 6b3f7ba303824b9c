import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client';
import { findActiveApiKey, insertApiKey, insertTenant, type TenantRow } from '../db/queries/tenants';

export { revokeApiKey } from '../db/queries/tenants';
export type { TenantRow } from '../db/queries/tenants';

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
  const { id } = await insertApiKey(db, { tenantId: params.tenantId, name: params.name ?? 'default', prefix: key.slice(0, 10), hash: hashApiKey(key) });
  return { id, key };
}

export async function createTenant(
  db: Db,
  params: { name: string; timezone?: string },
): Promise<{ tenant: TenantRow; apiKey: string; apiKeyId: string }> {
  const tenant = await insertTenant(db, params);
  const { id, key } = await createApiKey(db, { tenantId: tenant.id });
  return { tenant, apiKey: key, apiKeyId: id };
}

/** The tenant a key belongs to, or undefined for unknown and revoked keys. */
export async function tenantForApiKey(db: Db, key: string): Promise<{ tenantId: string; keyId: string } | undefined> {
  return tenantForApiKeyHash(db, hashApiKey(key));
}

/** The same, by the key's hash (hashApiKey) when the caller already has it. */
export async function tenantForApiKeyHash(db: Db, hash: string): Promise<{ tenantId: string; keyId: string } | undefined> {
  return findActiveApiKey(db, { hash });
}
