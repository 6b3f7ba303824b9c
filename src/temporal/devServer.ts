import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { devServerSearchAttributeArgs } from './searchAttributes';

/** How a background process (benchmarks: worker, dev server) runs beside the latency-critical API. */
export interface BackgroundLayout {
  /** Run at this nice level (background work yields the CPU to the webhook path). */
  nice?: number;
  /** Run under SCHED_IDLE instead (chrt --idle): only CPU time nothing else wants. */
  idle?: boolean;
  /** Confine it to these CPUs (taskset -c list: keep it off the API's core). */
  cpus?: string;
}

export interface DevServerOptions extends BackgroundLayout {
  binary: string;
  /** SQLite file; absent: in memory. */
  dbFile?: string;
  port: number;
  /** Web UI port; absent: headless. */
  uiPort?: number;
  namespace?: string;
  /** WAL + synchronous=off: the setting Temporal's own load tests use for the dev server. */
  fastSqlite?: boolean;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Task-queue Priority and Fairness (src/domain/priorities.ts sets a priority key and the tenant
 * as fairness key on every start): off by default in a self-hosted 1.32 server. Without these
 * the keys are recorded in histories but the queue stays FIFO, and one tenant's burst delays
 * everyone's clicks. `enableFairness` implies the new (priority) matcher; `useNewMatcher` is
 * set as well so priority holds should fairness be switched off. `enableMigration` drains a
 * backlog written before the switch (a `zapflow dev` SQLite file from an older version).
 * With one partition (above) priority order is exact rather than per partition.
 * docker-compose.temporal.yml sets the same in scripts/temporal-dynamicconfig.yaml.
 */
export const PRIORITY_AND_FAIRNESS_CONFIG = ['matching.useNewMatcher=true', 'matching.enableFairness=true', 'matching.enableMigration=true'];
const PRIORITY_AND_FAIRNESS_ARGS = PRIORITY_AND_FAIRNESS_CONFIG.flatMap((value) => ['--dynamic-config-value', value]);

export function devServerArgs(opts: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'error'];
  args.push('--namespace', opts.namespace ?? 'default');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  if (opts.fastSqlite) args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=off');
  args.push(
    '--dynamic-config-value',
    'frontend.enableExecuteMultiOperation=true',
    // One partition per task queue: the dev server is one host with one worker fleet, and
    // with the default four, a backlog is spread over partitions that forward tasks to each
    // other. Measured on 2 cores: empty workflows 32-43/s with four, 43-52/s with one.
    '--dynamic-config-value',
    'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value',
    'matching.numTaskqueueWritePartitions=1',
    ...PRIORITY_AND_FAIRNESS_ARGS,
    ...devServerSearchAttributeArgs(),
  );
  return args;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The command prefix that runs a background process (benchmarks) on `cpus`, under SCHED_IDLE or
 * at a nice level: through taskset(1), chrt(1) or nice(1), so every thread it starts inherits them.
 */
export function backgroundPrefix(opts: BackgroundLayout): string[] {
  return [
    ...(opts.cpus ? ['taskset', '-c', opts.cpus] : []),
    ...(opts.idle ? ['chrt', '--idle', '0'] : opts.nice ? ['nice', '-n', String(opts.nice)] : []),
  ];
}

/** Spawns `temporal server start-dev` and resolves once its frontend accepts connections. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  if (await portAnswers(opts.port)) {
    throw new Error(`port ${opts.port} is already in use: is another Temporal server running? Set TEMPORAL_ADDRESS to use it.`);
  }
  if (opts.dbFile) fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const [file, ...args] = [...backgroundPrefix(opts), opts.binary, ...devServerArgs(opts)];
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    if (output.length < 20_000) output += text;
    for (const line of text.split('\n')) if (line.trim()) opts.log?.(line);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const deadline = Date.now() + 60_000;
  while (!(await portAnswers(opts.port))) {
    if (exited) throw new Error(`Temporal dev server exited during start-up:\n${output.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Temporal dev server did not listen on :${opts.port} within 60s:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(timer);
  };
  // Never leave the dev server behind when this process ends.
  process.once('exit', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return {
    address: `127.0.0.1:${opts.port}`,
    uiUrl: opts.uiPort ? `http://localhost:${opts.uiPort}` : undefined,
    process: child,
    stop,
  };
}
