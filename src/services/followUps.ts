/**
 * Starting and resetting a contact's follow-up workflow from the worker.
 *
 * The contact workflow does it for what it sees (inbound messages, its AI replies). Sends it
 * does not see (API sends, schedules, funnel steps) do it through `outboundFollowUps`, inside
 * the delivery activity they already run: no extra activity and no workflow command per send,
 * and no Temporal call at all for tenants without follow-ups. So a contact who never wrote
 * (outreach) gets follow-ups too.
 */
import { loadConfig } from '../config';
import { getTenant } from '../db/queries/tenants';
import { tenantPriority } from '../domain/priorities';
import { ContactPhoneKey, TenantIdKey, ZapflowStatusKey } from '../domain/searchAttributes';
import { contactWorkflowId, followUpWorkflowId } from '../domain/workflowIds';
import { followUpInboundSignal, followUpOutboundSignal, WorkflowType } from '../workflows/definitions';
import type { followUpWorkflow } from '../workflows/followUp';
import type { FollowUpInput } from '../workflows/types';
import { conversationSettingsOf } from './conversationSettings';
import type { ServiceDeps } from './deps';

export interface FollowUpTouch {
  tenantId: string;
  contactKey: string;
  channelId: string;
  event: 'inbound' | 'outbound';
  /** When it happened (epoch ms); 0 when the follow-up should take the time from the database. */
  at: number;
}

/** signalWithStart on `followup:{tenant}:{contact}`: starts it, or resets a running one. */
export async function startOrResetFollowUp(temporal: NonNullable<ServiceDeps['temporal']>, touch: FollowUpTouch): Promise<void> {
  const input: FollowUpInput = { tenantId: touch.tenantId, contactKey: touch.contactKey, channelId: touch.channelId };
  await temporal.client.workflow.signalWithStart<typeof followUpWorkflow, [{ at: number; channelId?: string }]>(WorkflowType.followUp, {
    workflowId: followUpWorkflowId(touch.tenantId, touch.contactKey),
    taskQueue: temporal.taskQueue,
    args: [input],
    signal: touch.event === 'inbound' ? followUpInboundSignal : followUpOutboundSignal,
    signalArgs: [{ at: touch.at, channelId: touch.channelId }],
    priority: tenantPriority('followUp', touch.tenantId),
    typedSearchAttributes: [
      { key: TenantIdKey, value: touch.tenantId },
      { key: ContactPhoneKey, value: touch.contactKey },
      { key: ZapflowStatusKey, value: 'waiting' },
    ],
    staticSummary: `Follow-up → ${touch.contactKey}`,
    staticDetails: `Follows up with contact ${touch.contactKey} after zapflow's last message when they go quiet (contact workflow ${contactWorkflowId(touch.tenantId, touch.contactKey)}).`,
  });
}

export interface OutboundFollowUps {
  /**
   * After a send went out (or was found sent by an earlier attempt: `alreadySent`), starts or
   * resets the contact's follow-up when the tenant has follow-ups on. Never throws: the
   * message is out, and follow-up bookkeeping must not fail or repeat the send's activity.
   */
  afterSend(send: { tenantId: string; channelId: string; contactKey: string }, result: { alreadySent: boolean }): Promise<void>;
}

/** One per worker (per deps): the tenants' follow-up switches are cached for all its sends. */
const perDeps = new WeakMap<ServiceDeps, OutboundFollowUps>();

export function outboundFollowUps(deps: ServiceDeps): OutboundFollowUps {
  let made = perDeps.get(deps);
  if (!made) {
    made = createOutboundFollowUps(deps);
    perDeps.set(deps, made);
  }
  return made;
}

function createOutboundFollowUps(deps: ServiceDeps): OutboundFollowUps {
  const ttlMs = (deps.config ?? loadConfig()).FOLLOWUP_SETTINGS_CACHE;
  const switches = new Map<string, { enabled: boolean; expires: number }>();

  async function enabledFor(tenantId: string): Promise<boolean> {
    const hit = switches.get(tenantId);
    if (hit && hit.expires > Date.now()) return hit.enabled;
    const tenant = await getTenant(deps.db, { tenantId });
    const enabled = conversationSettingsOf(tenant?.settings).followUp.enabled;
    if (ttlMs > 0) {
      if (switches.size > 10_000) switches.clear();
      switches.set(tenantId, { enabled, expires: Date.now() + ttlMs });
    }
    return enabled;
  }

  return {
    async afterSend(send, result) {
      try {
        if (!(await enabledFor(send.tenantId))) return;
        if (!deps.temporal) {
          deps.log.warn({ tenantId: send.tenantId }, 'follow-ups are on but this worker has no Temporal client: no follow-up started');
          return;
        }
        // A send found already done happened earlier: the database holds its time (at 0).
        await startOrResetFollowUp(deps.temporal, { ...send, event: 'outbound', at: result.alreadySent ? 0 : Date.now() });
      } catch (err) {
        // The client has already retried transient failures; the send itself stands.
        deps.log.warn({ err: (err as Error).message, tenantId: send.tenantId, contactKey: send.contactKey }, 'could not start or reset the follow-up after a send');
      }
    },
  };
}
