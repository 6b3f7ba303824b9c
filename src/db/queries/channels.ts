import { createHash } from 'node:crypto';
import { and, asc, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import type { ChannelCredentialsColumn, Provider, TenantSettings } from '../../domain/records';
import { openCredentials, sealCredentials } from '../credentials';
import { channels, tenants } from '../schema';

/** Channels not deleted through the API: every lookup asks for these (see channels.deletedAt). */
export const liveChannel = isNull(channels.deletedAt);

export type ChannelRow = typeof channels.$inferSelect;

/**
 * How a webhook credential is found: SHA-256 of its UTF-8 bytes, hex (the migration's backfill
 * computes the same with PostgreSQL's sha256()). An empty value has no hash: it authenticates nothing.
 */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * What is stored for a channel's plaintext credentials: sealed (src/db/credentials.ts), and
 * the hashed columns its webhooks are found by, computed from the plaintext.
 */
export function storedCredentials(
  credentials: ChannelCredentialsColumn,
): Pick<ChannelRow, 'credentials' | 'webhookSecretHash' | 'verifyTokenHash'> {
  const hashOf = (value: unknown) => (typeof value === 'string' && value !== '' ? credentialHash(value) : null);
  return {
    credentials: sealCredentials(credentials),
    webhookSecretHash: hashOf(credentials.webhookSecret),
    verifyTokenHash: hashOf(credentials.verifyToken),
  };
}

export async function getChannelById(db: Db, params: { channelId: string }): Promise<ChannelRow | undefined> {
  const [row] = await db.select().from(channels).where(and(eq(channels.id, params.channelId), liveChannel)).limit(1);
  return row;
}

export async function getChannelByExternalId(
  db: Db,
  params: { provider: Provider; externalId: string },
): Promise<ChannelRow | undefined> {
  const [row] = await db
    .select()
    .from(channels)
    .where(and(eq(channels.provider, params.provider), eq(channels.externalId, params.externalId), liveChannel))
    .limit(1);
  return row;
}

export async function listChannelsByProvider(db: Db, params: { provider: Provider }): Promise<ChannelRow[]> {
  return db.select().from(channels).where(and(eq(channels.provider, params.provider), liveChannel));
}


/**
 * A tenant's channel by the name an API client knows it by: its external id (Evolution
 * instance name, Meta phone_number_id) or its display name. Another tenant's channel is
 * never returned.
 */
export async function findTenantChannel(db: Db, params: { tenantId: string; instanceName: string }) {
  const rows = await db
    .select()
    .from(channels)
    .where(and(eq(channels.tenantId, params.tenantId), or(eq(channels.externalId, params.instanceName), eq(channels.name, params.instanceName)), liveChannel))
    .limit(5);
  return rows.find((r) => r.externalId === params.instanceName) ?? rows[0];
}

export async function getChannelExternalId(db: Db, params: { channelId: string }): Promise<string | undefined> {
  const [row] = await db.select({ externalId: channels.externalId }).from(channels).where(eq(channels.id, params.channelId));
  return row?.externalId;
}

/** A connection update from the provider (Evolution `connection.update`). */
export async function setChannelConnectionState(db: Db, params: { channelId: string; state: string }): Promise<void> {
  await db
    .update(channels)
    .set({ connectionState: params.state, connectionUpdatedAt: sql`now()`, updatedAt: sql`now()` })
    .where(eq(channels.id, params.channelId));
}

/** The newest QR code (or pairing code) the provider sent for connecting the number. */
export async function setChannelQrCode(
  db: Db,
  params: { channelId: string; qrCode: { code?: string; base64?: string; pairingCode?: string | null; at: string } },
): Promise<void> {
  await db.update(channels).set({ qrCode: params.qrCode, updatedAt: sql`now()` }).where(eq(channels.id, params.channelId));
}

// ─── routing webhooks ───

/** A channel with the tenant fields the ingest needs to file a webhook under it. */
export interface RoutedChannel {
  channel: ChannelRow;
  /** `ownNumbers`: the phone numbers of the tenant's channels (messages between them start no automation). */
  tenant: { id: string; timezone: string; settings: TenantSettings; ownNumbers?: string[] };
}

function selectRouted(db: Db) {
  return db
    .select({
      channel: channels,
      tenant: {
        id: tenants.id,
        timezone: tenants.timezone,
        settings: tenants.settings,
        ownNumbers: sql<string[]>`array(select o.phone_number from channels o where o.tenant_id = ${channels.tenantId} and o.phone_number is not null and o.deleted_at is null)`,
      },
    })
    .from(channels)
    .innerJoin(tenants, eq(tenants.id, channels.tenantId));
}

export async function findRoutedChannel(db: Db, params: { provider: Provider; externalId: string }): Promise<RoutedChannel | undefined> {
  const [row] = await selectRouted(db)
    .where(and(eq(channels.provider, params.provider), eq(channels.externalId, params.externalId), liveChannel))
    .limit(1);
  return row;
}

/** The channels of `provider` with any of these external ids, in one query. */
export async function findRoutedChannels(db: Db, params: { provider: Provider; externalIds: string[] }): Promise<RoutedChannel[]> {
  if (params.externalIds.length === 0) return [];
  return selectRouted(db).where(and(eq(channels.provider, params.provider), inArray(channels.externalId, params.externalIds), liveChannel));
}

/**
 * The channels of `provider` whose credential `field` hashes (credentialHash) to one of
 * `hashes`, through the index on the hash column: no credential value is read in SQL.
 */
export async function findRoutedChannelsByCredentialHash(
  db: Db,
  params: { provider: Provider; field: 'webhookSecret' | 'verifyToken'; hashes: string[] },
): Promise<RoutedChannel[]> {
  if (params.hashes.length === 0) return [];
  const column = params.field === 'webhookSecret' ? channels.webhookSecretHash : channels.verifyTokenHash;
  return selectRouted(db)
    .where(and(eq(channels.provider, params.provider), inArray(column, params.hashes), liveChannel))
    .orderBy(asc(channels.createdAt))
    .limit(100);
}

export async function listRoutedChannels(db: Db, params: { provider: Provider }): Promise<RoutedChannel[]> {
  return selectRouted(db).where(and(eq(channels.provider, params.provider), liveChannel));
}

// ─── operators' changes ───

/** A new channel; `credentials` in plaintext (stored sealed). Undefined when it exists already. */
export async function insertChannel(
  db: Db,
  values: Pick<typeof channels.$inferInsert, 'tenantId' | 'provider' | 'externalId' | 'name' | 'baseUrl' | 'settings'> & { credentials: ChannelCredentialsColumn },
): Promise<ChannelRow | undefined> {
  const [row] = await db
    .insert(channels)
    .values({ ...values, ...storedCredentials(values.credentials) })
    .onConflictDoNothing()
    .returning();
  return row;
}

export async function listChannelRows(db: Db, params: { tenantId?: string }): Promise<ChannelRow[]> {
  return db
    .select()
    .from(channels)
    .where(and(params.tenantId ? eq(channels.tenantId, params.tenantId) : undefined, liveChannel))
    .orderBy(asc(channels.createdAt));
}

/** The fields a change writes; `credentials` in plaintext (stored sealed). */
export type ChannelChange = Partial<Pick<ChannelRow, 'settings' | 'name' | 'baseUrl'>> & { credentials?: ChannelCredentialsColumn };

/**
 * Changes the channel named by id or external id under a row lock: `change` gets the stored
 * row, its credentials opened, and returns the fields to write. External ids are unique per
 * provider only, so one may name several channels (`ambiguous`: nothing changed).
 */
export async function changeChannel(
  db: Db,
  params: { id?: string; externalId?: string; change: (row: ChannelRow & { credentials: ChannelCredentialsColumn }) => ChannelChange },
): Promise<{ outcome: 'updated'; row: ChannelRow } | { outcome: 'not_found' | 'ambiguous' }> {
  return db.transaction(async (tx) => {
    const which = params.id !== undefined ? eq(channels.id, params.id) : eq(channels.externalId, params.externalId ?? '');
    const [row, another] = await tx.select().from(channels).where(and(which, liveChannel)).limit(2).for('update');
    if (!row) return { outcome: 'not_found' as const };
    if (another) return { outcome: 'ambiguous' as const };
    const { credentials, ...fields } = params.change({ ...row, credentials: openCredentials(row.credentials) });
    const [updated] = await tx
      .update(channels)
      .set({ ...fields, ...(credentials !== undefined ? storedCredentials(credentials) : {}), updatedAt: sql`now()` })
      .where(eq(channels.id, row.id))
      .returning();
    return { outcome: 'updated' as const, row: updated };
  });
}

// ─── sealing at rest ───

/**
 * Seals every channel's credentials under the current key: plaintext rows from before
 * sealing (run by migrate) and rows under an older key (`zapflow secrets rotate`). Each row
 * is read and written under its lock; the hashed columns do not change. The number sealed.
 */
export async function resealChannelCredentials(db: Db, params: { needsResealing: (value: ChannelRow['credentials']) => boolean }): Promise<number> {
  const rows = await db.select({ id: channels.id, credentials: channels.credentials }).from(channels);
  let sealed = 0;
  for (const candidate of rows) {
    if (!params.needsResealing(candidate.credentials)) continue;
    await db.transaction(async (tx) => {
      const [row] = await tx.select({ credentials: channels.credentials }).from(channels).where(eq(channels.id, candidate.id)).for('update');
      if (!row || !params.needsResealing(row.credentials)) return;
      await tx
        .update(channels)
        .set({ credentials: sealCredentials(openCredentials(row.credentials)), updatedAt: sql`now()` })
        .where(eq(channels.id, candidate.id));
      sealed++;
    });
  }
  return sealed;
}
