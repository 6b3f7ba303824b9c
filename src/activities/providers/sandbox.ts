import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/client';
import { sandboxOutbox } from '../../db/schema';
import type { Logger } from '../../log';
import type { ChannelTarget, OutboundMessage, ProviderClient, SendResult } from './types';

/**
 * The embedded default provider: "sends" by recording the message in sandbox_outbox and
 * logging it, so zapflow does something visible with no WhatsApp account.
 * Idempotent on the key, like a real provider that honours idempotency.
 */
export function createSandboxClient(db: Db, log: Logger): ProviderClient {
  return {
    async send(channel: ChannelTarget, to: string, message: OutboundMessage, opts: { idempotencyKey: string }): Promise<SendResult> {
      const providerMessageId = `sandbox-${randomUUID()}`;
      const [row] = await db
        .insert(sandboxOutbox)
        .values({ channelId: channel.id, to, idempotencyKey: opts.idempotencyKey, message: message as Record<string, unknown>, providerMessageId })
        .onConflictDoUpdate({ target: sandboxOutbox.idempotencyKey, set: { idempotencyKey: opts.idempotencyKey } })
        .returning({ providerMessageId: sandboxOutbox.providerMessageId });
      log.info({ channelId: channel.id, type: message.type, providerMessageId: row!.providerMessageId }, 'sandbox send');
      return { providerMessageId: row!.providerMessageId, recipient: to };
    },
    async presence() {},
    async connectionState() {
      return { state: 'open' };
    },
  };
}
