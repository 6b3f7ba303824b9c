/**
 * Scheduled messages: the rows the API creates, the workflow and the schedule dispatchers
 * move through their states (scheduled → sending → sent / failed, or cancelled).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client';
import type { ScheduleStatus } from '../../domain/records';
import { scheduledMessages } from '../schema';

export type ScheduleRow = typeof scheduledMessages.$inferSelect;

export async function insertSchedule(db: Db, values: typeof scheduledMessages.$inferInsert & { id: string }): Promise<ScheduleRow> {
  await db.insert(scheduledMessages).values(values).onConflictDoNothing({ target: scheduledMessages.id });
  const [row] = await db.select().from(scheduledMessages).where(eq(scheduledMessages.id, values.id));
  return row;
}

export async function getSchedule(db: Db, params: { tenantId: string; scheduleId: string }): Promise<ScheduleRow | undefined> {
  const [row] = await db
    .select()
    .from(scheduledMessages)
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.tenantId, params.tenantId)))
    .limit(1);
  return row;
}

/** A schedule by id, whoever's it is (the worker's side: its workflow or dispatcher asks). */
export async function getScheduleById(db: Db, params: { scheduleId: string }): Promise<ScheduleRow | undefined> {
  const [row] = await db.select().from(scheduledMessages).where(eq(scheduledMessages.id, params.scheduleId));
  return row;
}

/** Moves a schedule to `status` when it is in one of `from`; returns whether it moved. */
export async function transitionSchedule(
  db: Db,
  params: { scheduleId: string; from: ScheduleStatus[]; to: ScheduleStatus; set?: Partial<typeof scheduledMessages.$inferInsert> },
): Promise<boolean> {
  const extra: Record<string, unknown> = { ...params.set };
  if (params.to === 'cancelled') extra.cancelledAt = sql`now()`;
  if (params.to === 'sent') extra.sentAt = sql`now()`;
  const rows = await db
    .update(scheduledMessages)
    .set({ ...extra, status: params.to, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), inArray(scheduledMessages.status, params.from)))
    .returning({ id: scheduledMessages.id });
  return rows.length > 0;
}

/** Moves a pending schedule to a new time; false when it is no longer pending (a dispatcher took it). */
export async function setScheduleTime(db: Db, params: { scheduleId: string; scheduledFor: Date }): Promise<boolean> {
  const rows = await db
    .update(scheduledMessages)
    .set({ scheduledFor: params.scheduledFor, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.status, 'scheduled')))
    .returning({ id: scheduledMessages.id });
  return rows.length > 0;
}

/**
 * A dispatcher takes the dispatched schedules due by `until` (status `sending`, claimed now).
 * SKIP LOCKED: several workers' dispatchers never take the same one; a cancel or reschedule
 * (which need `scheduled`) and a claim cannot both win.
 */
export async function claimDueSchedules(db: Db, params: { until: Date; limit: number }): Promise<ScheduleRow[]> {
  return db
    .update(scheduledMessages)
    .set({ status: 'sending', claimedAt: sql`now()`, updatedAt: sql`now()` })
    .where(
      inArray(
        scheduledMessages.id,
        sql`(select id from ${scheduledMessages} where ${scheduledMessages.status} = 'scheduled' and ${scheduledMessages.dispatch}
          and ${scheduledMessages.scheduledFor} <= ${params.until.toISOString()}::timestamptz
          order by ${scheduledMessages.scheduledFor} limit ${params.limit} for update skip locked)`,
      ),
    )
    .returning();
}

/** A dispatcher hands a claimed send to its workflow (it failed in a way worth retrying). */
export async function releaseScheduleClaim(db: Db, params: { scheduleId: string }): Promise<void> {
  await db
    .update(scheduledMessages)
    .set({ claimedAt: null, updatedAt: sql`now()` })
    .where(and(eq(scheduledMessages.id, params.scheduleId), eq(scheduledMessages.status, 'sending')));
}
