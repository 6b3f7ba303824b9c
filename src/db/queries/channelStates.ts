/**
 * A channel's life as a number: its state (zapflow's words, domain/channelState.ts) with every
 * change appended to channel_state_changes in the same transaction, its QR, its phone number,
 * Meta's quality and messaging limit, the outage markers (down_since, alerted_at) the channel
 * workflow reads, and the campaigns that use it.
 */
import { and, asc, desc, eq, gte, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../client';
import type { ChannelState } from '../../domain/channelState';
import { campaigns, channels, channelStateChanges } from '../schema';
import { liveChannel, storedCredentials, type ChannelRow } from './channels';

const DOWN_STATES = ['disconnected', 'closed'];

export interface StateChange {
  channelId: string;
  tenantId: string;
  state: ChannelState;
  previous: string;
  reason?: string;
  at: Date;
}

/**
 * Sets the channel's state when it differs from the stored one, and appends the change, in
 * one transaction (the caller's, when `db` is one). A drop sets down_since (kept across
 * disconnected ⇄ closed); `connected` clears down_since and alerted_at and stores the phone
 * number when given. Undefined when nothing changed (or no such channel).
 */
export async function recordChannelState(
  db: Db,
  params: {
    channelId: string;
    state: ChannelState;
    reason?: string;
    phoneNumber?: string;
    at?: Date;
    /** Leave the state alone when it is one of these (a late QR after the pairing). */
    unlessIn?: string[];
  },
): Promise<StateChange | undefined> {
  const at = params.at ?? new Date();
  const run = async (tx: Db) => {
    const [row] = await tx
      .select({ tenantId: channels.tenantId, state: channels.connectionState, phoneNumber: channels.phoneNumber })
      .from(channels)
      .where(eq(channels.id, params.channelId))
      .for('update');
    if (!row) return undefined;
    const phoneChanged = params.phoneNumber !== undefined && params.phoneNumber !== row.phoneNumber;
    if (row.state === params.state || params.unlessIn?.includes(row.state)) {
      if (phoneChanged) await tx.update(channels).set({ phoneNumber: params.phoneNumber, updatedAt: sql`now()` }).where(eq(channels.id, params.channelId));
      return undefined;
    }
    const down = DOWN_STATES.includes(params.state);
    await tx
      .update(channels)
      .set({
        connectionState: params.state,
        connectionUpdatedAt: at,
        updatedAt: sql`now()`,
        ...(params.phoneNumber !== undefined ? { phoneNumber: params.phoneNumber } : {}),
        ...(params.state === 'connected' ? { downSince: null, alertedAt: null } : {}),
        // Down since the first drop: disconnected → closed is the same outage.
        ...(down ? { downSince: sql`coalesce(${channels.downSince}, ${at.toISOString()}::timestamptz)` } : {}),
      })
      .where(eq(channels.id, params.channelId));
    await tx.insert(channelStateChanges).values({
      tenantId: row.tenantId,
      channelId: params.channelId,
      state: params.state,
      previous: row.state,
      reason: params.reason?.slice(0, 200),
      at,
    });
    return { channelId: params.channelId, tenantId: row.tenantId, state: params.state, previous: row.state, reason: params.reason, at };
  };
  // Inside a caller's transaction already (the ingest): no nested one.
  return 'rollback' in db ? run(db) : db.transaction((tx) => run(tx));
}

/** The newest QR (and pairing code) to scan, with the time it arrived. */
export async function storeChannelQr(
  db: Db,
  params: { channelId: string; qr: { code?: string; base64?: string; pairingCode?: string | null }; at?: Date },
): Promise<void> {
  const at = params.at ?? new Date();
  await db
    .update(channels)
    .set({ qrCode: { ...params.qr, pairingCode: params.qr.pairingCode ?? null, at: at.toISOString() }, updatedAt: sql`now()` })
    .where(eq(channels.id, params.channelId));
}

/**
 * Meta's quality rating and messaging limit (phone_number_quality_update, account_update);
 * a change of either is appended to the history as `quality:<rating>` / `limit:<tier>` with
 * the state unchanged. The stored values before the change.
 */
export async function recordChannelQuality(
  db: Db,
  params: { channelId: string; qualityRating?: string; messagingLimit?: string; reason?: string },
): Promise<{ tenantId: string; previousRating: string | null; previousLimit: string | null; changed: boolean } | undefined> {
  const run = async (tx: Db) => {
    const [row] = await tx
      .select({ tenantId: channels.tenantId, state: channels.connectionState, rating: channels.qualityRating, limit: channels.messagingLimit })
      .from(channels)
      .where(eq(channels.id, params.channelId))
      .for('update');
    if (!row) return undefined;
    const rating = params.qualityRating ?? row.rating;
    const limit = params.messagingLimit ?? row.limit;
    const changed = rating !== row.rating || limit !== row.limit;
    if (changed) {
      await tx.update(channels).set({ qualityRating: rating, messagingLimit: limit, updatedAt: sql`now()` }).where(eq(channels.id, params.channelId));
      await tx.insert(channelStateChanges).values({
        tenantId: row.tenantId,
        channelId: params.channelId,
        state: row.state,
        previous: row.state,
        reason: (params.reason ?? [rating !== row.rating ? `quality:${rating}` : '', limit !== row.limit ? `limit:${limit}` : ''].filter(Boolean).join(' ')).slice(0, 200),
      });
    }
    return { tenantId: row.tenantId, previousRating: row.rating, previousLimit: row.limit, changed };
  };
  return 'rollback' in db ? run(db) : db.transaction((tx) => run(tx));
}

/** Marks that the admin was told about the current outage (or quality drop); null: the trouble is over. */
export async function setChannelAlerted(db: Db, params: { channelId: string; at: Date | null }): Promise<void> {
  await db.update(channels).set({ alertedAt: params.at, updatedAt: sql`now()` }).where(eq(channels.id, params.channelId));
}

/** Marks channels whose watching workflow was started. */
export async function markChannelsWatched(db: Db, params: { channelIds: string[] }): Promise<void> {
  if (params.channelIds.length === 0) return;
  await db.update(channels).set({ watchedAt: sql`now()` }).where(inArray(channels.id, params.channelIds));
}

/** Channels without a watching workflow yet (oldest first), for the worker start. */
export async function listUnwatchedChannels(db: Db, params: { limit: number }): Promise<Array<Pick<ChannelRow, 'id' | 'tenantId' | 'connectionState'>>> {
  return db
    .select({ id: channels.id, tenantId: channels.tenantId, connectionState: channels.connectionState })
    .from(channels)
    .where(and(isNull(channels.watchedAt), liveChannel))
    .orderBy(asc(channels.createdAt))
    .limit(params.limit);
}

export type StateChangeRow = typeof channelStateChanges.$inferSelect;

/** A channel's history, newest first; `from`/`to` bound it. */
export async function listChannelStateChanges(
  db: Db,
  params: { channelId: string; from?: Date; to?: Date; limit: number },
): Promise<StateChangeRow[]> {
  return db
    .select()
    .from(channelStateChanges)
    .where(
      and(
        eq(channelStateChanges.channelId, params.channelId),
        params.from ? gte(channelStateChanges.at, params.from) : undefined,
        params.to ? lt(channelStateChanges.at, params.to) : undefined,
      ),
    )
    .orderBy(desc(channelStateChanges.at), desc(channelStateChanges.id))
    .limit(params.limit);
}

/** The last change before `at` (the state a range starts in). */
export async function stateChangeBefore(db: Db, params: { channelId: string; at: Date }): Promise<StateChangeRow | undefined> {
  const [row] = await db
    .select()
    .from(channelStateChanges)
    .where(and(eq(channelStateChanges.channelId, params.channelId), lt(channelStateChanges.at, params.at)))
    .orderBy(desc(channelStateChanges.at), desc(channelStateChanges.id))
    .limit(1);
  return row;
}

/** The newest change of each of these channels. */
export async function lastStateChanges(db: Db, params: { channelIds: string[] }): Promise<Map<string, StateChangeRow>> {
  if (params.channelIds.length === 0) return new Map();
  const rows = await db
    .selectDistinctOn([channelStateChanges.channelId])
    .from(channelStateChanges)
    .where(inArray(channelStateChanges.channelId, params.channelIds))
    .orderBy(channelStateChanges.channelId, desc(channelStateChanges.at), desc(channelStateChanges.id));
  return new Map(rows.map((r) => [r.channelId, r]));
}

/** Channels counted by state, across tenants (for /health). */
export async function countChannelsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .select({ state: channels.connectionState, n: sql<number>`count(*)::int` })
    .from(channels)
    .where(liveChannel)
    .groupBy(channels.connectionState);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Campaign states in which a campaign still uses its channels. */
export const CAMPAIGN_USING_STATES = ['scheduled', 'running', 'waiting', 'paused'] as const;

/** The tenant's campaigns that still use this channel (`status` among `statuses`). */
export async function campaignsUsingChannel(
  db: Db,
  params: { tenantId: string; channelId: string; statuses?: readonly string[] },
): Promise<Array<{ id: string; status: string; waitingFor: string | null }>> {
  return db
    .select({ id: campaigns.id, status: campaigns.status, waitingFor: campaigns.waitingFor })
    .from(campaigns)
    .where(
      and(
        eq(campaigns.tenantId, params.tenantId),
        inArray(campaigns.status, [...(params.statuses ?? CAMPAIGN_USING_STATES)] as Array<(typeof campaigns.$inferSelect)['status']>),
        sql`${campaigns.definition}->'channels' @> ${JSON.stringify([{ id: params.channelId }])}::jsonb`,
      ),
    )
    .limit(1000);
}

/** Another of the tenant's channels that can send now (connected, or a provider that reports no state), oldest first. */
export async function usableChannelsOfTenant(db: Db, params: { tenantId: string; except?: string }): Promise<Array<Pick<ChannelRow, 'id' | 'connectionState' | 'qualityRating'>>> {
  const rows = await db
    .select({ id: channels.id, connectionState: channels.connectionState, qualityRating: channels.qualityRating })
    .from(channels)
    .where(and(eq(channels.tenantId, params.tenantId), inArray(channels.connectionState, ['connected', 'unknown']), liveChannel))
    .orderBy(asc(channels.createdAt))
    .limit(50);
  return rows.filter((r) => r.id !== params.except);
}

/**
 * Retires a channel deleted through the API: the row stays (its messages, runs and state
 * history are kept) but it is closed, its credentials and webhook hashes are dropped (no
 * webhook or send can use it), its number no longer counts as the tenant's own, and every
 * lookup leaves it out (liveChannel).
 */
export async function retireChannel(db: Db, params: { channelId: string; tenantId: string }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ state: channels.connectionState })
      .from(channels)
      .where(and(eq(channels.id, params.channelId), eq(channels.tenantId, params.tenantId), liveChannel))
      .for('update');
    if (!row) return false;
    await tx
      .update(channels)
      .set({
        deletedAt: sql`now()`,
        connectionState: 'closed',
        connectionUpdatedAt: sql`now()`,
        ...storedCredentials({}),
        phoneNumber: null,
        qrCode: null,
        updatedAt: sql`now()`,
      })
      .where(eq(channels.id, params.channelId));
    await tx.insert(channelStateChanges).values({ tenantId: params.tenantId, channelId: params.channelId, state: 'closed', previous: row.state, reason: 'deleted' });
    return true;
  });
}

/** Deletes a channel row outright (a creation that failed half-way: nothing of it may stay). */
export async function deleteChannelRow(db: Db, params: { channelId: string; tenantId: string }): Promise<boolean> {
  const rows = await db.delete(channels).where(and(eq(channels.id, params.channelId), eq(channels.tenantId, params.tenantId))).returning({ id: channels.id });
  return rows.length > 0;
}

/** The channels of `provider` with this phone number (Meta's quality webhooks name the number, not its id). */
export async function listChannelsByPhone(db: Db, params: { provider: ChannelRow['provider']; phoneNumber: string }): Promise<ChannelRow[]> {
  return db
    .select()
    .from(channels)
    .where(and(eq(channels.provider, params.provider), eq(channels.phoneNumber, params.phoneNumber), liveChannel))
    .orderBy(asc(channels.createdAt))
    .limit(20);
}

/** A note in the channel's history with its state unchanged (an alert sent, or nobody to tell). */
export async function appendChannelNote(db: Db, params: { channelId: string; tenantId: string; state: string; reason: string }): Promise<void> {
  await db.insert(channelStateChanges).values({
    tenantId: params.tenantId,
    channelId: params.channelId,
    state: params.state,
    previous: params.state,
    reason: params.reason.slice(0, 200),
  });
}
