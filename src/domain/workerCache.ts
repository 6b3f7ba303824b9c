/**
 * How many workflows the worker keeps cached (`maxCachedWorkflows`), from a memory budget.
 *
 * A cached workflow is a live workflow context plus its history in the SDK's core: the next
 * task of a cached workflow costs one activation, while an evicted one is replayed from its
 * whole history first. A burst holds every open run at once, so a cache smaller than the runs
 * in flight makes the worker replay histories it has just evicted (issue 23: 20,000 open
 * workflows against 4,000 slots). Too large a cache only costs memory, so the size follows
 * from the memory the worker may use rather than a fixed count.
 *
 * Measured (2 cores, SDK 1.24): a workflow waiting on a signal with a 1.5 KB input adds 272 KB
 * of worker RSS (2,000 cached); zapflow's runs carry funnel definitions and longer histories,
 * and bench:funnels with 4,000 cached peaked at 1.3-1.9 GB: hence 400 KB by default.
 *
 * Pure: the caller passes the machine's memory (Node's os and process).
 */

/** Default worker RSS per cached workflow (see above). */
export const CACHED_WORKFLOW_KB = 400;
/**
 * Default share of the memory the process may use: the worker usually shares its box with
 * the API, PostgreSQL and Temporal (`zapflow dev`, the compose file), and needs memory besides
 * the cache (bundle, activities, PostgreSQL pool, in-flight payloads).
 */
export const CACHE_MEMORY_SHARE = 0.25;
/** Below this the worker replays on nearly every task: a budget this small is a mistake. */
export const MIN_CACHED_WORKFLOWS = 100;

export interface CacheSizingInput {
  /** WORKER_MAX_CACHED_WORKFLOWS: an explicit count wins over everything. */
  explicit?: number;
  /** WORKER_CACHE_MEMORY_MB: the budget; absent, a share of `memoryBytes`. */
  budgetMb?: number;
  /** WORKER_CACHED_WORKFLOW_KB. */
  perWorkflowKb?: number;
  /** WORKER_CACHE_MEMORY_SHARE, used when no budget is set. */
  share?: number;
  /** os.totalmem(). */
  totalMemoryBytes: number;
  /** process.constrainedMemory(): a container's limit, smaller than the host's memory; 0 or absent when none. */
  constrainedMemoryBytes?: number;
}

export interface CacheSizing {
  maxCachedWorkflows: number;
  /** Where the number came from, for the start-up log line. */
  source: 'explicit' | 'budget' | 'memory-share';
  budgetMb?: number;
  perWorkflowKb?: number;
}

/** The memory this process may use: a container's limit when there is one below the host's. */
export function usableMemoryBytes(totalMemoryBytes: number, constrainedMemoryBytes?: number): number {
  return constrainedMemoryBytes && constrainedMemoryBytes > 0 && constrainedMemoryBytes < totalMemoryBytes ? constrainedMemoryBytes : totalMemoryBytes;
}

export function workerCacheSize(input: CacheSizingInput): CacheSizing {
  if (input.explicit !== undefined) return { maxCachedWorkflows: input.explicit, source: 'explicit' };
  const perWorkflowKb = input.perWorkflowKb ?? CACHED_WORKFLOW_KB;
  const budgetMb = input.budgetMb ?? Math.floor((usableMemoryBytes(input.totalMemoryBytes, input.constrainedMemoryBytes) * (input.share ?? CACHE_MEMORY_SHARE)) / 2 ** 20);
  const fits = Math.floor((budgetMb * 1024) / perWorkflowKb);
  return {
    maxCachedWorkflows: Math.max(MIN_CACHED_WORKFLOWS, fits),
    source: input.budgetMb !== undefined ? 'budget' : 'memory-share',
    budgetMb,
    perWorkflowKb,
  };
}
