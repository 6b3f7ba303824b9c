import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import { recordSandboxSend } from '../db/queries/sandbox';
import type { Logger } from '../log';
import type { ChannelTarget, OutboundMessage, ProviderClient, SendResult } from './types';

/**
 * The embedded default provider: "sends" by recording the message in sandbox_outbox and
 * logging it, so zapflow does something visible with no WhatsApp account.
 * Idempotent on the key, like a real provider that honours idempotency.
 */
export function createSandboxClient(db: Db, log: Logger): ProviderClient {
  return {
    async send(channel: ChannelTarget, to: string, message: OutboundMessage, opts: { idempotencyKey: string }): Promise<SendResult> {
      const recorded = await recordSandboxSend(db, {
        channelId: channel.id,
        to,
        idempotencyKey: opts.idempotencyKey,
        message: message,
        providerMessageId: `sandbox-${randomUUID()}`,
      });
      log.info({ channelId: channel.id, type: message.type, providerMessageId: recorded }, 'sandbox send');
      return { providerMessageId: recorded, recipient: to };
    },
    presence: () => Promise.resolve(),
    connectionState: () => Promise.resolve({ state: 'open' }),
  };
}
