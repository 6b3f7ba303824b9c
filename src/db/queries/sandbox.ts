/** What the sandbox provider "sent" (sandbox_outbox): the embedded default's visible output. */
import { eq } from 'drizzle-orm';
import type { Db } from '../client';
import { sandboxOutbox } from '../schema';

/**
 * Records a sandbox send once per idempotency key (like a provider that honours keys): the
 * provider id of the first record of the key.
 */
export async function recordSandboxSend(
  db: Db,
  params: { channelId: string; to: string; idempotencyKey: string; message: Record<string, unknown>; providerMessageId: string },
): Promise<string> {
  const [row] = await db
    .insert(sandboxOutbox)
    .values(params)
    .onConflictDoUpdate({ target: sandboxOutbox.idempotencyKey, set: { idempotencyKey: params.idempotencyKey } })
    .returning({ providerMessageId: sandboxOutbox.providerMessageId });
  return row.providerMessageId;
}

/** The sandbox provider honours idempotency keys: what it recorded for one, if anything. */
export async function findSandboxSend(db: Db, params: { idempotencyKey: string }): Promise<string | undefined> {
  const [row] = await db
    .select({ providerMessageId: sandboxOutbox.providerMessageId })
    .from(sandboxOutbox)
    .where(eq(sandboxOutbox.idempotencyKey, params.idempotencyKey))
    .limit(1);
  return row?.providerMessageId;
}
