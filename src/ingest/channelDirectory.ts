import type { Db } from '../db/client';
import { findRoutedChannel, findRoutedChannelByCredential, listRoutedChannels, type RoutedChannel } from '../db/queries/channels';
import type { Provider } from '../domain/records';

export type { RoutedChannel } from '../db/queries/channels';

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
    const row = await findRoutedChannel(this.db, { provider, externalId });
    if (row) this.cache.set(key, { value: row, expires: Date.now() + this.ttlMs });
    return row;
  }

  /**
   * The channel holding a credential value: LancePilot posts may carry no account, so the
   * channel is the one whose webhook secret was presented; Meta's handshake sends only the
   * verify token.
   */
  async byCredential(provider: Provider, field: 'webhookSecret' | 'verifyToken', value: string): Promise<RoutedChannel | undefined> {
    return findRoutedChannelByCredential(this.db, { provider, field, value });
  }

  async listByProvider(provider: Provider): Promise<RoutedChannel[]> {
    return listRoutedChannels(this.db, { provider });
  }

  invalidate(): void {
    this.cache.clear();
  }
}
