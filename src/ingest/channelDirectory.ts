import type { Db } from '../db/client';
import {
  credentialHash,
  findRoutedChannels,
  findRoutedChannelsByCredentialHash,
  listRoutedChannels,
  type RoutedChannel,
} from '../db/queries/channels';
import type { Provider } from '../domain/records';
import { channelLookups } from '../metrics';

export type { RoutedChannel } from '../db/queries/channels';
export { credentialHash } from '../db/queries/channels';

/** How long a key that named no channel is remembered (CHANNEL_MISS_CACHE); 0: not at all. */
export interface LookupOptions {
  missTtlMs?: number;
}

/** Entries kept per cache before expired ones are dropped (and, if that is not enough, all). */
const MAX_ENTRIES = 50_000;

class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  get(key: string, now: number): { value: V } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires > now) return entry;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: V, ttlMs: number, now: number): void {
    if (ttlMs <= 0) return;
    if (this.entries.size >= MAX_ENTRIES) {
      for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    }
    this.entries.set(key, { value, expires: now + ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Channel lookups for the webhook hot path. Hits are cached for `ttlMs` (credential and
 * settings changes take effect within it; this process's own admin writes call
 * invalidate()). Misses are cached only as long as the caller says (CHANNEL_MISS_CACHE,
 * brief), so a forged post naming unknown keys costs at most one query per key per that
 * time, and a channel added a moment ago routes soon. Every database query is counted in
 * `zapflow_channel_lookups_total`.
 */
export class ChannelDirectory {
  private readonly hits = new TtlCache<RoutedChannel[]>();
  private readonly misses = new TtlCache<true>();
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
  ) {}

  async byExternalId(provider: Provider, externalId: string, opts: LookupOptions = {}): Promise<RoutedChannel | undefined> {
    return (await this.byExternalIds(provider, [externalId], opts)).get(externalId);
  }

  /** The channels of these external ids (absent: no such channel), in at most one query. */
  async byExternalIds(provider: Provider, externalIds: string[], opts: LookupOptions = {}): Promise<Map<string, RoutedChannel>> {
    const found = await this.resolve(`${provider}:id:`, externalIds, opts, async (missing) => {
      channelLookups.inc({ by: 'external_id' });
      const rows = await findRoutedChannels(this.db, { provider, externalIds: missing });
      return new Map(rows.map((row) => [row.channel.externalId, [row]]));
    });
    return new Map([...found].map(([key, rows]) => [key, rows[0]]));
  }

  /**
   * The channels whose credential `field` is one of the presented `values` (LancePilot posts
   * may carry no account, so the channel is the one whose webhook secret was presented; Meta's
   * handshake sends only the verify token). Found by the hash of each value through an index,
   * in at most one query; the caller confirms with hashesMatch (constant time).
   */
  async byCredential(provider: Provider, field: 'webhookSecret' | 'verifyToken', values: string[], opts: LookupOptions = {}): Promise<RoutedChannel[]> {
    const hashes = [...new Set(values.filter((v) => v !== '').map(credentialHash))];
    const found = await this.resolve(`${provider}:${field}:`, hashes, opts, async (missing) => {
      channelLookups.inc({ by: 'credential' });
      const rows = await findRoutedChannelsByCredentialHash(this.db, { provider, field, hashes: missing });
      const byHash = new Map<string, RoutedChannel[]>();
      for (const row of rows) {
        const hash = field === 'webhookSecret' ? row.channel.webhookSecretHash : row.channel.verifyTokenHash;
        if (hash) byHash.set(hash, [...(byHash.get(hash) ?? []), row]);
      }
      return byHash;
    });
    const byId = new Map<string, RoutedChannel>();
    for (const row of [...found.values()].flat()) if (!byId.has(row.channel.id)) byId.set(row.channel.id, row);
    return [...byId.values()];
  }

  /** Every channel of a provider; remembered for missTtlMs (a flood of such lookups costs one query per that time). */
  async listByProvider(provider: Provider, opts: LookupOptions = {}): Promise<RoutedChannel[]> {
    const key = `${provider}:all`;
    const now = Date.now();
    const hit = this.hits.get(key, now);
    if (hit) return hit.value;
    channelLookups.inc({ by: 'provider' });
    const rows = await listRoutedChannels(this.db, { provider });
    this.hits.set(key, rows, Math.min(opts.missTtlMs ?? 0, this.ttlMs), Date.now());
    return rows;
  }

  invalidate(): void {
    this.hits.clear();
    this.misses.clear();
  }

  private async resolve(
    prefix: string,
    keys: string[],
    opts: LookupOptions,
    query: (missing: string[]) => Promise<Map<string, RoutedChannel[]>>,
  ): Promise<Map<string, RoutedChannel[]>> {
    const now = Date.now();
    const found = new Map<string, RoutedChannel[]>();
    const missing: string[] = [];
    for (const key of new Set(keys)) {
      const hit = this.hits.get(prefix + key, now);
      if (hit) found.set(key, hit.value);
      else if (!this.misses.get(prefix + key, now)) missing.push(key);
    }
    if (missing.length === 0) return found;
    const rows = await query(missing);
    const at = Date.now();
    for (const key of missing) {
      const value = rows.get(key);
      if (value) {
        found.set(key, value);
        this.hits.set(prefix + key, value, this.ttlMs, at);
      } else {
        this.misses.set(prefix + key, true, opts.missTtlMs ?? 0, at);
      }
    }
    return found;
  }
}
