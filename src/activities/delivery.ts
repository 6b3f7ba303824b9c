import { deliverCounted, type DeliverRequest, type DeliverResult } from '../services/delivery';
import type { ActivityDeps } from './deps';
import { asFailures } from './failures';

/**
 * The one delivery every activity that sends runs (funnel steps, API and scheduled sends,
 * AI replies, follow-ups, opt-out confirmations): refusals become non-retryable failures,
 * waits carry their retry delay, provider blips retry.
 */
export async function deliverOrFail(deps: ActivityDeps, req: DeliverRequest): Promise<DeliverResult> {
  return asFailures(() => deliverCounted(deps, req));
}
