/**
 * What a campaign row's `definition` holds: written once by `POST /api/campaigns`
 * (services/campaigns.ts), read by every batch (services/campaignSender.ts).
 */
import type { CampaignPacing, CampaignQuotas } from '../domain/campaign';
import type { TimeWindow } from '../domain/followUpWindow';
import type { Provider } from '../domain/records';
import type { OutboundMessage } from '../providers/types';

export interface CampaignDefinition {
  /** The channels the sends rotate over, as resolved at creation. */
  channels: Array<{ id: string; name: string; provider: Provider }>;
  /** With `{{name}}`, `{{phone}}` and contact variables, rendered per recipient at send time. */
  message: OutboundMessage;
  /** As asked (phones: how many were given). */
  audience: { tags?: string[]; importId?: string; phones?: number };
  /** When sending is allowed, in the tenant's timezone (read at each batch); none: any time. */
  windows: TimeWindow[];
  days?: number[];
  quotas: CampaignQuotas;
  pacing: CampaignPacing;
  /** `{phones}` entries that repeated an earlier entry (same phone once normalised): no row of their own. */
  duplicates: number;
}

export function definitionOf(stored: Record<string, unknown>): CampaignDefinition {
  return stored as unknown as CampaignDefinition;
}
