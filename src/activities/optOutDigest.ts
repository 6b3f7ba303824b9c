/**
 * Activities of the daily opt-out digest (services/optOutDigest.ts): which tenants have a
 * digest to get, and one tenant's digest, sent through the one delivery (refusals fail
 * without retrying, quota waits retry when the window reopens, provider blips with backoff).
 */
import { digestRecipients, sendOptOutDigest, type OptOutDigestTenantResult } from '../services/optOutDigest';
import type { ActivityDeps } from './deps';
import { asFailures } from './failures';

export function createOptOutDigestActivities(deps: ActivityDeps) {
  return {
    /** Tenants with an admin contact and at least one opt-out in [since, until). */
    async optOutDigestTenants(params: { since: number; until: number }): Promise<string[]> {
      return digestRecipients(deps.db, params);
    },
    /** One tenant's digest for [since, until); sent at most once per tenant and local day. */
    async sendOptOutDigest(params: { tenantId: string; since: number; until: number }): Promise<OptOutDigestTenantResult> {
      const result = await asFailures(() => sendOptOutDigest(deps, params));
      deps.log.info({ ...result }, 'opt-out digest');
      return result;
    },
  };
}
