import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';

/**
 * Signals a workflow if it is running; one that is not (finished, never started) has nothing
 * to be told: false. Other failures (Temporal unreachable) are thrown.
 */
export async function signalIfRunning<Args extends unknown[]>(
  client: Client,
  workflowId: string,
  signal: SignalDefinition<Args>,
  ...args: Args
): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).signal(signal, ...args);
    return true;
  } catch (err) {
    // By name too: jest realms (and the SDK's own re-exports) break instanceof.
    if (err instanceof WorkflowNotFoundError || (err as Error)?.name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

/**
 * gRPC statuses that say Temporal (or the way to it) is in trouble, not the request: down or
 * unreachable, overloaded or rate limited, timed out, the namespace missing or the client not
 * allowed. The request itself was never judged, so a caller that counts refusals of a request
 * (the dispatcher's dead letters) does not count these: an outage must not kill messages.
 */
const TEMPORAL_TROUBLE = new Set([
  1, // CANCELLED (connection shut down)
  4, // DEADLINE_EXCEEDED
  5, // NOT_FOUND (namespace)
  7, // PERMISSION_DENIED
  8, // RESOURCE_EXHAUSTED (rate limits)
  10, // ABORTED
  14, // UNAVAILABLE
  16, // UNAUTHENTICATED
]);

/** Whether a client call failed because of Temporal's state rather than its own content (see TEMPORAL_TROUBLE). */
export function isTemporalUnavailable(err: unknown): boolean {
  // The client wraps the gRPC error (ServiceError.cause); read the status wherever it is.
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'number') return TEMPORAL_TROUBLE.has(e.code);
  }
  return false;
}
