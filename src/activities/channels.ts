/**
 * Activities of the channel workflow (`channel:<id>`): the outage alert after the grace, the
 * recovery (campaigns woken, the admin told it is back), the quality alert, and the poll of
 * the provider's state when events go quiet. Thin: services/channelWatch.ts does the work.
 */
import { alertChannelDown, alertQualityDrop, channelRecovered, pollChannelState } from '../services/channelWatch';
import type { ActivityDeps } from './deps';

export function createChannelActivities(deps: ActivityDeps) {
  return {
    async alertChannelDown(params: { channelId: string; downSince: number }) {
      return alertChannelDown(deps, params);
    },
    async channelRecovered(params: { channelId: string; tellAdmin: boolean; why: 'connection' | 'quality'; key: string }) {
      return channelRecovered(deps, params);
    },
    async alertQualityDrop(params: { channelId: string; reason: string; key: string }) {
      return alertQualityDrop(deps, params);
    },
    async pollChannelState(params: { channelId: string }) {
      return pollChannelState(deps, params);
    },
  };
}
