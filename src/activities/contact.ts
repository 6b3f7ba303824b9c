import { optOutContact } from '../db/queries/contacts';
import { getTenant } from '../db/queries/tenants';
import { DEFAULT_OPT_OUT_CONFIRMATION } from '../domain/text';
import { deliverOrFail } from './delivery';
import type { ActivityDeps } from './deps';

/** Activities of the contact workflow. */
export function createContactActivities(deps: ActivityDeps) {
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
