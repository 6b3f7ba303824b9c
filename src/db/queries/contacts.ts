import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { contacts } from '../schema';

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
  return row!;
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
