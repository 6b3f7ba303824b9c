/**
 * `zapflow api` on several cores (API_PROCESSES > 1): a primary that forks HTTP processes
 * with node:cluster and owns what they must share.
 *
 * Node serves HTTP on one thread, and a webhook costs about 2 ms of CPU on a small machine,
 * so one process tops out near 400 req/s. The processes share the listening port (the
 * primary hands each connection to one of them in turn), while:
 * - rate-limit counters live in the primary (@express-rate-limit/cluster-memory-store), so a
 *   tenant's limit stays its limit and does not multiply by the process count;
 * - /metrics, answered by any process, asks the primary for the sum over all of them
 *   (prom-client's AggregatorRegistry);
 * - a process that dies is forked again, with a growing pause if it keeps dying.
 * The HTTP processes are ordinary `zapflow api` processes: each has its own database pool
 * (DATABASE_POOL_SIZE each) and Temporal connection. The primary holds neither.
 */
import cluster, { type Worker } from 'node:cluster';
import { ClusterMemoryStorePrimary } from '@express-rate-limit/cluster-memory-store';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../log';
import { registry } from '../metrics';

const METRICS_REQUEST = 'zapflow:metrics-request';
const METRICS_REPLY = 'zapflow:metrics-reply';
/** Sent by the primary: stop gracefully (a signal could reach a process twice, which forces an exit). */
export const SHUTDOWN_MESSAGE = 'zapflow:shutdown';

/** True in an HTTP process forked by startApiPrimary. */
export function isApiClusterWorker(): boolean {
  return cluster.isWorker;
}

// In an HTTP process: answer the primary's metric requests with this process's registry
// (prom-client adds that listener when an AggregatorRegistry is constructed).
if (cluster.isWorker) {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
}

let metricsSeq = 0;
const metricsWaiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

/** The Prometheus text for /metrics: this process's, or the whole cluster's in an HTTP process. */
export async function metricsText(timeoutMs = 5000): Promise<string> {
  if (!cluster.isWorker || !process.send) return registry.metrics();
  if (metricsSeq === 0) process.on('message', onMetricsReply);
  const id = ++metricsSeq;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => settleMetrics(id, new Error(`the API primary did not answer within ${timeoutMs} ms`)), timeoutMs);
    metricsWaiting.set(id, { resolve, reject, timer });
    process.send!({ type: METRICS_REQUEST, id });
  });
}

function onMetricsReply(msg: { type?: string; id?: number; text?: string; error?: string }): void {
  if (msg?.type === METRICS_REPLY && typeof msg.id === 'number') settleMetrics(msg.id, msg.error ? new Error(msg.error) : undefined, msg.text);
}

function settleMetrics(id: number, err?: Error, text?: string): void {
  const waiting = metricsWaiting.get(id);
  if (!waiting) return;
  metricsWaiting.delete(id);
  clearTimeout(waiting.timer);
  if (err) waiting.reject(err);
  else waiting.resolve(text ?? '');
}

export interface ApiPrimary {
  /** The HTTP processes alive now. */
  readonly workers: () => Worker[];
  /** Asks every HTTP process to stop, waits for them (SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<void>;
}

export interface ApiPrimaryOptions {
  processes: number;
  log: Logger;
  /** Resolves once an HTTP process is serving; default: its server's `listening` event. */
  ready?: (worker: Worker) => Promise<void>;
}

/**
 * Forks `processes` HTTP processes (running this same command) and resolves once all serve.
 * A process that dies before the first start completes fails the start; later, it is forked
 * again after a pause that doubles up to 30 s while it keeps dying within a minute.
 */
export async function startApiPrimary(opts: ApiPrimaryOptions): Promise<ApiPrimary> {
  const { log } = opts;
  new ClusterMemoryStorePrimary().init();
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, msg: { type?: string; id?: number }) => {
    if (msg?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_REPLY, id: msg.id, text }),
      (err: Error) => worker.send({ type: METRICS_REPLY, id: msg.id, error: err.message }),
    );
  });

  let stopping = false;
  let started = false;
  let pause = 1000;
  const ready = opts.ready ?? ((worker: Worker) => new Promise<void>((resolve) => worker.once('listening', () => resolve())));

  /** Resolves once the new process serves; rejects if it exits first. */
  const fork = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const worker = cluster.fork();
      const forkedAt = Date.now();
      ready(worker).then(resolve, reject);
      worker.once('exit', (code, signal) => {
        reject(new Error(`API process ${worker.process.pid} exited (${signal ?? `code ${code}`}) before serving`)); // no-op once serving
        if (stopping || !started) return;
        pause = Date.now() - forkedAt < 60_000 ? Math.min(pause * 2, 30_000) : 1000;
        log.error({ pid: worker.process.pid, code, signal, restartInMs: pause }, 'API process died; forking another');
        // Not unref'd: with every process dead, this timer is what keeps the primary alive.
        setTimeout(() => {
          if (!stopping) fork().catch(() => undefined); // its exit is logged here
        }, pause);
      });
    });

  const primary: ApiPrimary = {
    workers: () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w),
    async stop(graceMs = 15_000) {
      stopping = true;
      await Promise.all(
        primary.workers().map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              const timer = setTimeout(() => worker.process.kill('SIGKILL'), graceMs);
              worker.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              if (worker.isConnected()) worker.send({ type: SHUTDOWN_MESSAGE });
              else worker.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };

  try {
    await Promise.all(Array.from({ length: opts.processes }, () => fork()));
  } catch (err) {
    await primary.stop(5000);
    throw err;
  }
  started = true;
  return primary;
}
