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
