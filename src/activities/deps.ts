import type { ServiceDeps } from '../services/deps';

/**
 * What activities are built from (createActivities): the services' clients. The worker
 * builds the real ones once; tests pass fakes.
 */
export type ActivityDeps = ServiceDeps;
