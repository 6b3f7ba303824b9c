/** Funnels and their versions (a run executes the version it started with). */
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { funnels, funnelVersions } from '../schema';

export type FunnelRow = typeof funnels.$inferSelect;

export async function getFunnel(db: Db, params: { tenantId: string; funnelId: string }): Promise<FunnelRow | undefined> {
  const [row] = await db
    .select()
    .from(funnels)
    .where(and(eq(funnels.id, params.funnelId), eq(funnels.tenantId, params.tenantId), isNull(funnels.deletedAt)))
    .limit(1);
  return row;
}

export async function getFunnelVersion(db: Db, params: { funnelId: string; version: number }) {
  const [row] = await db
    .select()
    .from(funnelVersions)
    .where(and(eq(funnelVersions.funnelId, params.funnelId), eq(funnelVersions.version, params.version)))
    .limit(1);
  return row;
}


/** What a stored funnel version holds, besides its denormalised columns. */
export interface FunnelWrite {
  name: string;
  active: boolean;
  priority: number;
  trigger: unknown;
  /** The whole validated definition (stored as the version's JSON). */
  definition: unknown;
}

/** A new funnel with its version 1, in one transaction; its id. */
export async function insertFunnel(db: Db, params: { tenantId: string; funnel: FunnelWrite }): Promise<string> {
  const { funnel } = params;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(funnels)
      .values({ tenantId: params.tenantId, name: funnel.name, active: funnel.active, priority: funnel.priority, trigger: funnel.trigger as never, currentVersion: 1 })
      .returning({ id: funnels.id });
    await tx.insert(funnelVersions).values({ funnelId: row.id, version: 1, definition: funnel.definition as never });
    return row.id;
  });
}

/** A new version of a funnel (runs in flight keep theirs); false when no such funnel. */
export async function insertFunnelVersion(db: Db, params: { tenantId: string; funnelId: string; funnel: FunnelWrite }): Promise<boolean> {
  const { funnel, funnelId } = params;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(funnels)
      .set({
        name: funnel.name,
        active: funnel.active,
        priority: funnel.priority,
        trigger: funnel.trigger as never,
        currentVersion: sql`${funnels.currentVersion} + 1`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(funnels.id, funnelId), eq(funnels.tenantId, params.tenantId), isNull(funnels.deletedAt)))
      .returning({ version: funnels.currentVersion });
    if (!row) return false;
    await tx.insert(funnelVersions).values({ funnelId, version: row.version, definition: funnel.definition as never });
    return true;
  });
}

export async function listFunnelIds(db: Db, params: { tenantId: string }): Promise<string[]> {
  const rows = await db
    .select({ id: funnels.id })
    .from(funnels)
    .where(and(eq(funnels.tenantId, params.tenantId), isNull(funnels.deletedAt)))
    .orderBy(asc(funnels.createdAt));
  return rows.map((r) => r.id);
}

/** Activates or deactivates a funnel; false when no such funnel. */
export async function setFunnelActive(db: Db, params: { tenantId: string; funnelId: string; active: boolean }): Promise<boolean> {
  const rows = await db
    .update(funnels)
    .set({ active: params.active, updatedAt: sql`now()` })
    .where(and(eq(funnels.id, params.funnelId), eq(funnels.tenantId, params.tenantId), isNull(funnels.deletedAt)))
    .returning({ id: funnels.id });
  return rows.length > 0;
}

/** Soft delete: the versions stay for the runs that used them. */
export async function markFunnelDeleted(db: Db, params: { tenantId: string; funnelId: string }): Promise<void> {
  await db
    .update(funnels)
    .set({ deletedAt: sql`now()`, active: false, updatedAt: sql`now()` })
    .where(and(eq(funnels.id, params.funnelId), eq(funnels.tenantId, params.tenantId)));
}

/** A tenant's active funnels with their current definitions, oldest first (the trigger list). */
export async function listActiveFunnelDefinitions(db: Db, params: { tenantId: string }) {
  return db
    .select({
      id: funnels.id,
      name: funnels.name,
      version: funnels.currentVersion,
      priority: funnels.priority,
      createdAt: funnels.createdAt,
      definition: funnelVersions.definition,
    })
    .from(funnels)
    .innerJoin(funnelVersions, and(eq(funnelVersions.funnelId, funnels.id), eq(funnelVersions.version, funnels.currentVersion)))
    .where(and(eq(funnels.tenantId, params.tenantId), eq(funnels.active, true), isNull(funnels.deletedAt)))
    .orderBy(asc(funnels.createdAt));
}
