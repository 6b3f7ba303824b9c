import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { contacts, tenants } from '../schema';

export type ContactRow = typeof contacts.$inferSelect;

/** Inserts the contact or refreshes its name; returns the row. */
export async function upsertContact(
  db: Db,
  params: { tenantId: string; phone: string; name?: string; lastInboundAt?: Date },
): Promise<ContactRow> {
  const [row] = await db
    .insert(contacts)
    .values({ tenantId: params.tenantId, phone: params.phone, name: params.name, lastInboundAt: params.lastInboundAt })
    .onConflictDoUpdate({
      target: [contacts.tenantId, contacts.phone],
      set: {
        name: sql`coalesce(excluded.name, ${contacts.name})`,
        lastInboundAt: sql`greatest(excluded.last_inbound_at, ${contacts.lastInboundAt})`,
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row;
}

export async function getContact(db: Db, params: { tenantId: string; phone: string }): Promise<ContactRow | undefined> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone)))
    .limit(1);
  return row;
}

/**
 * Marks the contact opted out by `messageId`. True when that message is the one that opted
 * it out (now, or on an earlier attempt of the same activity); false when it was already
 * opted out by another message.
 */
export async function optOutContact(db: Db, params: { tenantId: string; phone: string; messageId: string }): Promise<boolean> {
  await db
    .update(contacts)
    .set({ optedOutAt: sql`now()`, optOutMessageId: params.messageId, updatedAt: sql`now()` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone), sql`${contacts.optedOutAt} is null`));
  const row = await getContact(db, params);
  return row?.optOutMessageId === params.messageId;
}

/** Adds tags to a contact (each once) and removes others. */
export async function changeContactTags(db: Db, params: { tenantId: string; phone: string; add: string[]; remove: string[] }): Promise<void> {
  const where = and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone));
  if (params.add.length) {
    await db
      .update(contacts)
      .set({
        tags: sql`(select coalesce(array_agg(distinct t), '{}') from unnest(${contacts.tags} || ${sql.param(params.add)}::text[]) t)`,
        updatedAt: sql`now()`,
      })
      .where(where);
  }
  if (params.remove.length) {
    await db
      .update(contacts)
      .set({
        tags: sql`(select coalesce(array_agg(t), '{}') from unnest(${contacts.tags}) t where not (t = any(${sql.param(params.remove)}::text[])))`,
        updatedAt: sql`now()`,
      })
      .where(where);
  }
}

/** A contact with what automation decides on: opt-out, pause, last messages, the tenant's timezone and settings. */
export async function getContactState(db: Db, params: { tenantId: string; contactKey: string }) {
  const [row] = await db
    .select({
      id: contacts.id,
      name: contacts.name,
      optedOutAt: contacts.optedOutAt,
      pausedUntil: contacts.pausedUntil,
      pauseReason: contacts.pauseReason,
      lastInboundAt: contacts.lastInboundAt,
      lastOutboundAt: contacts.lastOutboundAt,
      timezone: tenants.timezone,
      settings: tenants.settings,
    })
    .from(contacts)
    .innerJoin(tenants, eq(tenants.id, contacts.tenantId))
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .limit(1);
  return row;
}

/** Pauses automation for a contact until `until`; `extendOnly` never shortens a longer pause (a handover). */
export async function pauseContact(
  db: Db,
  params: { tenantId: string; contactKey: string; until: Date; reason: string; extendOnly?: boolean },
): Promise<{ pausedUntil: Date; pauseReason: string | null } | undefined> {
  const [row] = await db
    .update(contacts)
    .set({ pausedUntil: params.until, pauseReason: params.reason, updatedAt: sql`now()` })
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        params.extendOnly ? or(isNull(contacts.pausedUntil), lt(contacts.pausedUntil, params.until)) : undefined,
      ),
    )
    .returning({ pausedUntil: contacts.pausedUntil, pauseReason: contacts.pauseReason });
  return row ? { pausedUntil: row.pausedUntil!, pauseReason: row.pauseReason } : undefined;
}

export async function resumeContact(db: Db, params: { tenantId: string; contactKey: string }): Promise<boolean> {
  const rows = await db
    .update(contacts)
    .set({ pausedUntil: null, pauseReason: null, updatedAt: sql`now()` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .returning({ id: contacts.id });
  return rows.length > 0;
}
