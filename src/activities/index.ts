import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import { getTenant } from '../db/queries/channels';
import { optOutContact } from '../db/queries/contacts';
import type { Logger } from '../log';
import { deliver, DeliveryRefused, type ProviderRegistry } from '../services/delivery';
import { toFailure } from './errors';

export interface ActivityDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
}

export const DEFAULT_OPT_OUT_CONFIRMATION =
  'Pronto! Você não receberá mais mensagens automáticas. Se mudar de ideia, é só nos chamar.';

/** Runs a delivery, translating refusals and provider errors into Temporal failures. */
async function deliverOrFail(deps: ActivityDeps, req: Parameters<typeof deliver>[1]) {
  try {
    return await deliver(deps, req);
  } catch (err) {
    if (err instanceof DeliveryRefused) throw ApplicationFailure.nonRetryable(err.message, err.reason);
    throw toFailure(err);
  }
}

/** Activities are built from their clients; the worker wires real ones, tests pass fakes. */
export function createActivities(deps: ActivityDeps) {
  return {
    /** Marks the contact opted out and sends the one confirmation it will still get. */
    async optOutContact(params: { tenantId: string; contactKey: string; channelId: string; triggerMessageId: string }) {
      const byThisMessage = await optOutContact(deps.db, {
        tenantId: params.tenantId,
        phone: params.contactKey,
        messageId: params.triggerMessageId,
      });
      if (!byThisMessage) return; // opted out earlier (e.g. before this workflow run): confirmed then
      const tenant = await getTenant(deps.db, { tenantId: params.tenantId });
      const text = tenant?.settings.optOutConfirmation ?? DEFAULT_OPT_OUT_CONFIRMATION;
      await deliverOrFail(deps, {
        tenantId: params.tenantId,
        channelId: params.channelId,
        contactKey: params.contactKey,
        message: { type: 'text', text },
        idempotencyKey: `optout:${params.triggerMessageId}`,
        allowOptedOut: true,
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
