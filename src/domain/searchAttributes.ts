import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes: the Temporal Web UI filters runs by tenant, contact, funnel… */
export const TenantIdKey = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);
export const ContactPhoneKey = defineSearchAttributeKey('ContactPhone', SearchAttributeType.KEYWORD);
export const FunnelIdKey = defineSearchAttributeKey('FunnelId', SearchAttributeType.KEYWORD);
export const CampaignIdKey = defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD);
/** Business status of a run (running, waiting, failed…), beyond Temporal's own. */
export const ZapflowStatusKey = defineSearchAttributeKey('ZapflowStatus', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = {
  TenantId: 'Keyword',
  ContactPhone: 'Keyword',
  FunnelId: 'Keyword',
  CampaignId: 'Keyword',
  ZapflowStatus: 'Keyword',
} as const;
