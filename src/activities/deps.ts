import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../domain/failures';
import type { ServiceDeps } from '../services/deps';

/**
 * What activities are built from (createActivities): the services' clients. The worker
 * builds the real ones once; tests pass fakes.
 */
export type ActivityDeps = ServiceDeps;

/** The worker's Temporal client, for activities that start or signal workflows. */
export function temporalOf(deps: ActivityDeps): NonNullable<ActivityDeps['temporal']> {
  if (!deps.temporal) throw ApplicationFailure.nonRetryable('worker has no Temporal client', FailureType.Misconfigured);
  return deps.temporal;
}
