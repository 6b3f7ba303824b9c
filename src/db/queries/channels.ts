import { and, eq } from 'drizzle-orm';
import type { Db } from '../client';
import { channels, tenants, type Provider } from '../schema';

export type ChannelRow = typeof channels.$inferSelect;

export async function getChannelById(db: Db, params: { channelId: string }): Promise<ChannelRow | undefined> {
  const [row] = await db.select().from(channels).where(eq(channels.id, params.channelId)).limit(1);
  return row;
}

export async function getChannelByExternalId(
  db: Db,
  params: { provider: Provider; externalId: string },
): Promise<ChannelRow | undefined> {
  const [row] = await db
    .select()
    .from(channels)
    .where(and(eq(channels.provider, params.provider), eq(channels.externalId, params.externalId)))
    .limit(1);
  return row;
}

export async function listChannelsByProvider(db: Db, params: { provider: Provider }): Promise<ChannelRow[]> {
  return db.select().from(channels).where(eq(channels.provider, params.provider));
}

export async function getTenant(db: Db, params: { tenantId: string }) {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, params.tenantId)).limit(1);
  return row;
}
