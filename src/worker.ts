/**
 * The Temporal worker: one task queue, workflows bundled once, activities wired with their
 * real dependencies. `zapflow worker` runs it alone; `zapflow dev` runs it beside the API.
 */
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { startScheduleDispatcher, type ScheduleDispatcherOptions } from './services/scheduleDispatcher';
import { logContext, type Logger } from './log';
import { Context } from '@temporalio/activity';
import type { Config } from './config';
import { workerCacheSize } from './domain/workerCache';

type AnyActivity = (...args: unknown[]) => Promise<unknown>;

/** Every log line an activity writes carries its workflow, activity and (when given) tenant/contact. */
function withLogContext<T extends object>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities as Record<string, AnyActivity>).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        const info = Context.current().info;
        const params = (args[0] ?? {}) as { tenantId?: unknown; contactKey?: unknown };
        const context: Record<string, unknown> = { workflowId: info.workflowExecution?.workflowId, activity: name, attempt: info.attempt };
        if (typeof params.tenantId === 'string') context.tenantId = params.tenantId;
        if (typeof params.contactKey === 'string') context.contact = params.contactKey;
        return logContext.run(context, () => fn(...args));
      },
    ]),
  ) as T;
}

export const WORKFLOWS_PATH = path.join(__dirname, 'workflows');

/** Bundles src/workflows once (webpack); the bundle can be reused by several workers. */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS_PATH), logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string, meta?: Record<string, unknown>) {
    console.error(message, meta ?? '');
  },
};

/**
 * The worker's cache size from the configuration and this machine's memory (a container's
 * limit when set), logged once at start so an operator sees what the worker holds.
 */
export function cachedWorkflowsFor(
  config: Pick<Config, 'WORKER_MAX_CACHED_WORKFLOWS' | 'WORKER_CACHE_MEMORY_MB' | 'WORKER_CACHE_MEMORY_SHARE' | 'WORKER_CACHED_WORKFLOW_KB'>,
  log: Logger,
): number {
  const sizing = workerCacheSize({
    explicit: config.WORKER_MAX_CACHED_WORKFLOWS,
    budgetMb: config.WORKER_CACHE_MEMORY_MB,
    share: config.WORKER_CACHE_MEMORY_SHARE,
    perWorkflowKb: config.WORKER_CACHED_WORKFLOW_KB,
    totalMemoryBytes: os.totalmem(),
    constrainedMemoryBytes: process.constrainedMemory?.(),
  });
  log.info(sizing, 'worker cache sized');
  return sizing.maxCachedWorkflows;
}

export interface WorkerOptions {
  /** Temporal frontend; or pass `connection` (e.g. a test environment's). */
  address?: string;
  connection?: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkflowBundleWithSourceMap | { codePath: string };
  /** Bounds worker memory (cachedWorkflowsFor sizes it from the configuration); default 2000. */
  maxCachedWorkflows?: number;
  maxConcurrentActivityTaskExecutions?: number;
  maxConcurrentWorkflowTaskExecutions?: number;
  maxConcurrentLocalActivityExecutions?: number;
  /**
   * Run a schedule dispatcher beside the worker (sends dispatched schedules at their exact
   * time). Default: per deps.config (SCHEDULE_DISPATCH…); false: none.
   */
  scheduleDispatch?: ScheduleDispatcherOptions | false;
  log: Logger;
}

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  /** Graceful: stops polling, lets in-flight activities finish, then closes the connection. */
  shutdown(): Promise<void>;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const ownConnection = !opts.connection;
  const connection = opts.connection ?? (await NativeConnection.connect({ address: opts.address }));
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflows()),
    activities: withLogContext(createActivities(opts.deps)),
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 2000,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 200,
    maxConcurrentWorkflowTaskExecutions: opts.maxConcurrentWorkflowTaskExecutions ?? 100,
    maxConcurrentLocalActivityExecutions: opts.maxConcurrentLocalActivityExecutions ?? 200,
    shutdownGraceTime: '10s',
  });
  const done = worker.run().finally(() => (ownConnection ? connection.close().catch(() => {}) : undefined));
  const config = opts.deps.config;
  const dispatchOptions =
    opts.scheduleDispatch ?? (config?.SCHEDULE_DISPATCH ? { pollMs: config.SCHEDULE_DISPATCH_POLL, lookaheadMs: config.SCHEDULE_DISPATCH_LOOKAHEAD } : false);
  const dispatcher = dispatchOptions ? startScheduleDispatcher(opts.deps, dispatchOptions) : undefined;
  // A worker that stops by itself (fatal error) takes its dispatcher along.
  void done.catch(() => {}).finally(() => dispatcher?.stop());
  let stopping: Promise<void> | undefined;
  return {
    worker,
    connection,
    done,
    shutdown() {
      stopping ??= (async () => {
        // Claims nothing more; the sends already taken go out before the worker stops.
        await dispatcher?.stop();
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch((err) => opts.log.error({ err }, 'worker stopped with an error'));
      })();
      return stopping;
    },
  };
}
