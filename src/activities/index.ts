import { createCampaignActivities } from './campaigns';
import { createChannelActivities } from './channels';
import { createContactActivities } from './contact';
import { createConversationActivities } from './conversation';
import { createFunnelActivities } from './funnels';
import { createMetricsActivities } from './metrics';
import { createRetentionActivities } from './retention';
import { createOptOutDigestActivities } from './optOutDigest';
import { createSendingActivities } from './sending';
import { createWarmupActivities } from './warmups';
import type { ActivityDeps } from './deps';

export type { ActivityDeps } from './deps';

/**
 * Every activity, built from its clients: the worker wires real ones, tests pass fakes.
 * One module per area (contact, funnels, sending…), merged here.
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createContactActivities(deps),
    ...createFunnelActivities(deps),
    ...createSendingActivities(deps),
    ...createConversationActivities(deps),
    ...createRetentionActivities(deps),
    ...createOptOutDigestActivities(deps),
    ...createMetricsActivities(deps),
    ...createCampaignActivities(deps),
    ...createChannelActivities(deps),
    ...createWarmupActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
