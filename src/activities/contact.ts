import { optOutContact } from '../db/queries/contacts';
import { appendContactEvent } from '../db/queries/conversationEvents';
import { getTenant } from '../db/queries/tenants';
import { DEFAULT_OPT_OUT_CONFIRMATION } from '../domain/text';
import { deliverOrFail } from './delivery';
import type { ActivityDeps } from './deps';

/** Activities of the contact workflow. */
export function createContactActivities(deps: ActivityDeps) {
  return {
    /** Marks the contact opted out and sends the one confirmation it will still get. */
    async optOutContact(params: { tenantId: string; contactKey: string; channelId: string; triggerMessageId: string }) {
      // The opt-out and its event (conversation_events, opt_out) in one transaction; the event
      // only when this transaction opted the contact out (a retry after a commit logs nothing).
      const byThisMessage = await deps.db.transaction(async (tx) => {
        const by = await optOutContact(tx, { tenantId: params.tenantId, phone: params.contactKey, messageId: params.triggerMessageId });
        if (by) {
          await appendContactEvent(tx, {
            tenantId: params.tenantId,
            contactKey: params.contactKey,
            kind: 'opt_out',
            channelId: params.channelId,
            onlyIf: 'optedOutNow',
          });
        }
        return by;
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
