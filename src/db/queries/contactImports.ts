/**
 * contact_imports: one row per CSV import (`POST /api/contacts/import`), its counts and the
 * first rows it refused, kept up to date while it runs (the contacts themselves and the
 * import's members are written by contacts.ts upsertImportedContacts).
 */
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { contactImports } from '../schema';

export type ContactImportRow = typeof contactImports.$inferSelect;

export async function insertContactImport(db: Db, params: { tenantId: string; fileName: string | null }): Promise<ContactImportRow> {
  const [row] = await db.insert(contactImports).values({ tenantId: params.tenantId, fileName: params.fileName }).returning();
  return row;
}

export async function getContactImport(db: Db, params: { tenantId: string; importId: string }): Promise<ContactImportRow | undefined> {
  const [row] = await db
    .select()
    .from(contactImports)
    .where(and(eq(contactImports.tenantId, params.tenantId), eq(contactImports.id, params.importId)))
    .limit(1);
  return row;
}

/**
 * Adds a batch's counts to a running import and appends its refused rows (the caller passes
 * only those that still fit under the kept maximum); touches its heartbeat.
 */
export async function addImportProgress(
  db: Db,
  params: {
    importId: string;
    rows: number;
    imported: number;
    updated: number;
    duplicates: number;
    errorCount: number;
    errors: Array<{ line: number; reason: string }>;
  },
): Promise<void> {
  await db
    .update(contactImports)
    .set({
      rows: sql`${contactImports.rows} + ${params.rows}`,
      imported: sql`${contactImports.imported} + ${params.imported}`,
      updated: sql`${contactImports.updated} + ${params.updated}`,
      duplicates: sql`${contactImports.duplicates} + ${params.duplicates}`,
      errorCount: sql`${contactImports.errorCount} + ${params.errorCount}`,
      ...(params.errors.length ? { errors: sql`${contactImports.errors} || ${JSON.stringify(params.errors)}::jsonb` } : {}),
      heartbeatAt: sql`now()`,
    })
    .where(and(eq(contactImports.id, params.importId), eq(contactImports.status, 'running')));
}

/** The running process is alive: touches the heartbeat. */
export async function touchContactImport(db: Db, params: { importId: string }): Promise<void> {
  await db
    .update(contactImports)
    .set({ heartbeatAt: sql`now()` })
    .where(and(eq(contactImports.id, params.importId), eq(contactImports.status, 'running')));
}

/** Ends a running import (completed, or failed with why). */
export async function finishContactImport(
  db: Db,
  params: { importId: string; status: 'completed' | 'failed'; failure?: string },
): Promise<ContactImportRow | undefined> {
  const [row] = await db
    .update(contactImports)
    .set({ status: params.status, failure: params.failure ?? null, finishedAt: sql`now()`, heartbeatAt: sql`now()` })
    .where(and(eq(contactImports.id, params.importId), eq(contactImports.status, 'running')))
    .returning();
  return row;
}

/**
 * Marks failed the running imports (all, or the one named) whose heartbeat is older than
 * `staleAfterMs`: the process running them is gone. Returns how many.
 */
export async function failStaleImports(db: Db, params: { staleAfterMs: number; failure: string; importId?: string }): Promise<number> {
  const rows = await db
    .update(contactImports)
    .set({ status: 'failed', failure: params.failure, finishedAt: sql`now()` })
    .where(
      and(
        eq(contactImports.status, 'running'),
        lt(contactImports.heartbeatAt, sql`now() - ${params.staleAfterMs}::float8 * interval '1 millisecond'`),
        params.importId ? eq(contactImports.id, params.importId) : undefined,
      ),
    )
    .returning({ id: contactImports.id });
  return rows.length;
}
