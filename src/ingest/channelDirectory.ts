import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { channels, tenants, type Provider, type TenantSettings } from '../db/schema';
import type { ChannelRow } from '../db/queries/channels';

export interface RoutedChannel {
  channel: ChannelRow;
  tenant: { id: string; timezone: string; settings: TenantSettings };
}

/**
 * Channel lookups for the webhook hot path. Hits are cached briefly (credential and
 * settings changes take effect within `ttlMs`); misses are not cached, so a channel added
 * a moment ago routes at once.
 */
export class ChannelDirectory {
  private readonly cache = new Map<string, { value: RoutedChannel; expires: number }>();
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
  ) {}

  async byExternalId(provider: Provider, externalId: string): Promise<RoutedChannel | undefined> {
    const key = `${provider}:${externalId}`;
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    const [row] = await this.db
      .select({ channel: channels, tenant: { id: tenants.id, timezone: tenants.timezone, settings: tenants.settings } })
      .from(channels)
      .innerJoin(tenants, eq(tenants.id, channels.tenantId))
      .where(and(eq(channels.provider, provider), eq(channels.externalId, externalId)))
      .limit(1);
    if (row) this.cache.set(key, { value: row, expires: Date.now() + this.ttlMs });
    return row;
  }

  /**
   * The channel holding a credential value: LancePilot posts may carry no account, so the
   * channel is the one whose webhook secret was presented; Meta's handshake sends only the
   * verify token.
   */
  async byCredential(provider: Provider, field: 'webhookSecret' | 'verifyToken', value: string): Promise<RoutedChannel | undefined> {
    const [row] = await this.db
      .select({ channel: channels, tenant: { id: tenants.id, timezone: tenants.timezone, settings: tenants.settings } })
      .from(channels)
      .innerJoin(tenants, eq(tenants.id, channels.tenantId))
      .where(and(eq(channels.provider, provider), sql`${channels.credentials}->>${field} = ${value}`))
      .limit(1);
    return row;
  }

  async listByProvider(provider: Provider): Promise<RoutedChannel[]> {
    return this.db
      .select({ channel: channels, tenant: { id: tenants.id, timezone: tenants.timezone, settings: tenants.settings } })
      .from(channels)
      .innerJoin(tenants, eq(tenants.id, channels.tenantId))
      .where(eq(channels.provider, provider));
  }

  invalidate(): void {
    this.cache.clear();
  }
}
