/**
 * Webhook ingest benchmark (`npm run bench:ingest`).
 *
 * autocannon against `POST /webhooks/evolution` with real `messages.upsert` envelopes, each
 * with a fresh message id, spread over many contacts of two tenants, on real PostgreSQL and
 * a real Temporal: first the same server's bare endpoint (`POST /bench/bare`: raw body,
 * JSON.parse, 200) as the baseline, then the ingest at a fixed rate, then (unless
 * `--no-find-max`) a ladder of higher rates to find the highest one it sustains. Afterwards
 * every 2xx is checked: exactly one messages row, dispatched, and (for a sample of contacts)
 * present in its contact workflow's `seen`. Exits non-zero when anything was lost,
 * duplicated or left undispatched.
 *
 * Everything is set up here and torn down at the end: a fresh database `zf_bench_<rand>` on
 * DATABASE_URL's server (default postgres://zapflow:zapflow@127.0.0.1:5432/zapflow; PGlite
 * with a warning when DATABASE_URL is unset and nothing answers), a Temporal dev server on a
 * free port (WAL + synchronous=off SQLite, as `npm run dev`) unless TEMPORAL_ADDRESS is set,
 * two tenants with an Evolution channel each (`loja-centro`, `loja-norte`).
 *
 * Process layout (as deployed: `zapflow api` and `zapflow worker` run separately):
 *   this process   autocannon (the load), set-up, verification, CPU accounting
 *   child "api"    this file with `--role api`: createApp + buildRouters + buildIngest, dispatcher
 *                  started, plus the bare route: the process measured
 *   child "worker" `node bin/zapflow.js worker`, the production worker command
 *   temporal       `temporal server start-dev`;  postgres: the local server
 * With PGlite (one process only) the API and the worker run inside this process instead.
 *
 * Rate control: autocannon's rate limit is a per-connection quota per second, sent back to
 * back as soon as each second starts, and all of one instance's connections share the same
 * second boundaries; one instance at 500 req/s is therefore a burst every second. To get
 * closer to an even arrival rate, the load is split into `lanes`: autocannon instances with one
 * connection each, a small quota (about 10 requests per second), started 1000/lanes ms apart.
 * Latencies are recorded per response (autocannon's coordinated-omission correction is off:
 * with a rate of a few requests per second it fills the histogram with synthetic 1 ms steps).
 * Each lane is closed-loop (one request in flight), so an overloaded server shows up as a
 * lower achieved rate and long latencies, not as an unbounded queue.
 *
 * Between phases the bench waits for the dispatcher to hand everything to Temporal and for the
 * API, worker, Temporal and PostgreSQL to go idle again, so a phase does not pay for the last
 * one's work. CPU per process group is read from /proc (Linux) for every phase; other
 * processes on the machine are reported, since they skew every figure (`--wait-quiet`).
 * Webhook flood protection (per source address; all bench traffic comes from 127.0.0.1) is
 * lifted unless WEBHOOK_RATE_LIMIT_MAX is set.
 *
 * Run `tsx bench/ingest.ts --help` for the flags.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { CpuAccounting, type CpuReport } from './cpuAccounting';
import express, { Router } from 'express';
import pino from 'pino';
import postgres from 'postgres';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Worker as ClusterWorker } from 'node:cluster';
import { createApp } from '../src/api/app';
import { isApiClusterWorker, SHUTDOWN_MESSAGE, startApiPrimary } from '../src/api/cluster';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig, type Config } from '../src/config';
import { openDb, type Db, type DbHandle } from '../src/db/client';
import { contacts, messages, webhookEvents } from '../src/db/schema';
import { contactWorkflowId } from '../src/domain/workflowIds';
import type { ActivityDeps } from '../src/activities';
import { buildIngest } from '../src/ingest';
import type { Logger } from '../src/log';
import { buildProviders, openDatabase } from '../src/runtime';
import { addChannel } from '../src/services/channels';
import { createTenant } from '../src/services/tenants';
import { findTemporalCli, PROJECT_ROOT } from '../src/temporal/binary';
import { connectTemporal, createTemporalPinger, registerSearchAttributes } from '../src/temporal/connect';
import { backgroundPrefix, freePort, startDevServer, type BackgroundLayout, type DevServer } from '../src/temporal/devServer';
import { startWorker } from '../src/worker';
import type { ContactState } from '../src/workflows/types';
import { evolutionText } from '../test/support/payloads';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
const BARE_PATH = '/bench/bare';
const INGEST_PATH = '/webhooks/evolution';

// ───────────────────────────── options ─────────────────────────────

interface Options {
  rate: number;
  duration: number;
  warmup: number;
  warmupDrain: boolean;
  findMax: boolean;
  stepDuration: number;
  steps?: number[];
  maxP99: number;
  targetP99: number;
  contacts: number;
  lanes?: number;
  verifySample: number; // 0 = every contact
  drainTimeout: number;
  json?: string;
  keepDb: boolean;
  inProcess: boolean;
  failOnTarget: boolean;
  waitQuiet: number;
  backgroundNice: number;
  backgroundIdle: boolean;
  backgroundCpus?: string;
  temporalMemory: boolean;
}

const HELP = `tsx bench/ingest.ts [flags]

  --rate N            fixed rate, req/s (default 500)
  --duration S        seconds of each fixed-rate phase (bare, ingest) (default 60)
  --warmup S          unmeasured seconds at the fixed rate before each fixed phase (default 5; 0 = none)
  --warmup-steady     (default) the ingest warm-up flows straight into the measured phase: the phase
                      starts in steady state, the dispatcher, worker and Temporal already busy with the
                      backlog, as they are in a service that has been taking webhooks for a while.
                      Measured on 2 cores: p99 9.4-15.8 ms over 6 runs (5 s and 20 s warm-ups)
  --warmup-drain      drain the warm-up's backlog and let the stack go idle before the phase: the phase
                      then also measures the background going from idle to full speed, on the API's
                      cores. Measured: p99 26-39 ms, nearly all of it in the first 5 s (p99 50-78 ms)
  --find-max          after the fixed phase, step the rate up to the highest sustained (default)
  --no-find-max       skip that
  --step-duration S   seconds per find-max step (default 15)
  --steps A,B,...     find-max rates (default: rate × 1.5, 2, 3, 4, 6, 8, 12, 16)
  --max-p99 MS        a step is sustained while p99 <= MS (default 100), no errors/non-2xx, >= 90% of its rate
  --target-p99 MS     target p99 at the fixed rate (default 25)
  --contacts N        distinct contacts, split over the two tenants (default 5000)
  --lanes N           autocannon instances (one connection each) per phase (default ~rate/10)
  --verify-sample N   contacts whose workflow is queried afterwards (default 200; "all" = every one)
  --drain-timeout S   max wait for the dispatcher to hand everything to Temporal (default 600; the
                      ~30,000 left after the 500/s phase took 170-255 s here)
  --json FILE         also write the results as JSON
  --keep-db           do not drop the database at the end
  --in-process        run the API and the worker in this process (always so with PGlite)
  --fail-on-target    exit 2 when the p99 target is missed (integrity failures always exit 1)
  Everything shares 2 cores and one disk here: the webhook answer is the latency-critical path, the
  workflows behind it a backlog that drains after the load (in production the worker and Temporal
  run on other machines). By default the bench lays them out that way as far as one machine can:
  --background-idle   (default) run the worker (with its dispatcher) and the Temporal dev server
                      under SCHED_IDLE (chrt --idle, every thread): they get only CPU time nothing
                      else wants during the phase; their backlog drains after it
  --background-nice N run them at this nice level instead (0 = same priority as the API)
  --background-cpus L confine them to these CPUs too (taskset -c list; default: the last CPU when
                      there are 2 or more; "all" = no affinity). On the other cores the API never waits
                      for a SCHED_IDLE task to leave the CPU (a PREEMPT_NONE kernel, as here, does not
                      preempt a task running kernel code); the worker's PostgreSQL backends do not follow.
                      Measured on 2 cores with --warmup-drain: p99 26-39 ms pinned against 62-72 ms
                      unpinned. With the steady warm-up both meet 25 ms: 9.4-15.8 pinned (6 runs), 15.8
                      unpinned (1 run). The backlog drains in 170-255 s instead of 140-150 s
  --temporal-memory   (default) keep the dev server's state in memory: a SQLite file on the disk
                      PostgreSQL writes its WAL to slows the webhooks' commit flushes (page-cache
                      writeback); measured p99 113-247 ms with the file, 24-87 ms without
  --temporal-file     keep it in a SQLite file instead (WAL, synchronous=off)
  --wait-quiet S      before the load, wait up to S seconds for other processes to leave the CPUs idle
                      (machine busy < 15%); the bench warns when they do not (default 0: just check)

Environment: DATABASE_URL (server to create the bench database on), TEMPORAL_ADDRESS (use that
Temporal instead of spawning a dev server), TEMPORAL_CLI_PATH, DATABASE_POOL_SIZE,
DISPATCH_CONCURRENCY, API_PROCESSES (HTTP processes of the API, as \`zapflow api\`) and other
zapflow settings (passed to the API and worker),
BENCH_LOG_LEVEL (API/worker log level, default warn), BENCH_API_NODE_ARGS / BENCH_WORKER_NODE_ARGS
(extra node flags for those processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").`;

function warmupLine(o: Options): string {
  if (o.warmup <= 0) return 'no warm-up';
  return o.warmupDrain
    ? `warm-up ${o.warmup}s, drained before the phase (it starts with the stack idle)`
    : `warm-up ${o.warmup}s flowing into the phase (it starts in steady state, the backlog already building)`;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    rate: 500,
    duration: 60,
    warmup: 5,
    warmupDrain: false,
    findMax: true,
    stepDuration: 15,
    maxP99: 100,
    targetP99: 25,
    contacts: 5000,
    verifySample: 200,
    drainTimeout: 600,
    keepDb: false,
    inProcess: false,
    failOnTarget: false,
    waitQuiet: 0,
    backgroundNice: 10,
    backgroundIdle: true,
    backgroundCpus: lastCpu(),
    temporalMemory: true,
  };
  const num = (flag: string, value: string | undefined, min = 0): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min}, got ${value ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? (argv[i].split(/=(.*)/s, 2) as [string, string]) : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--rate': o.rate = Math.round(num(flag, value(), 1)); break;
      case '--duration': o.duration = num(flag, value(), 1); break;
      case '--warmup': o.warmup = num(flag, value(), 0); break;
      case '--warmup-drain': o.warmupDrain = true; break;
      case '--warmup-steady': o.warmupDrain = false; break;
      case '--find-max': o.findMax = true; break;
      case '--no-find-max': o.findMax = false; break;
      case '--step-duration': o.stepDuration = num(flag, value(), 1); break;
      case '--steps': {
        const raw = value() ?? '';
        o.steps = raw.split(',').map((s) => Math.round(num(flag, s.trim(), 1)));
        break;
      }
      case '--max-p99': o.maxP99 = num(flag, value(), 1); break;
      case '--target-p99': o.targetP99 = num(flag, value(), 1); break;
      case '--contacts': o.contacts = Math.round(num(flag, value(), 2)); break;
      case '--lanes': o.lanes = Math.round(num(flag, value(), 1)); break;
      case '--verify-sample': {
        const raw = value();
        o.verifySample = raw === 'all' ? 0 : Math.round(num(flag, raw, 1));
        break;
      }
      case '--drain-timeout': o.drainTimeout = num(flag, value(), 1); break;
      case '--json': o.json = value(); break;
      case '--keep-db': o.keepDb = true; break;
      case '--in-process': o.inProcess = true; break;
      case '--fail-on-target': o.failOnTarget = true; break;
      case '--wait-quiet': o.waitQuiet = num(flag, value(), 0); break;
      case '--background-nice': o.backgroundNice = num(flag, value(), 0); o.backgroundIdle = false; break;
      case '--background-idle': o.backgroundIdle = true; break;
      case '--background-cpus': {
        const list = value();
        if (list === 'all') o.backgroundCpus = undefined;
        else if (list && /^\d+([-,]\d+)*$/.test(list)) o.backgroundCpus = list;
        else throw new Error(`--background-cpus needs a CPU list like 1 or 2-3, or "all", got ${list ?? 'nothing'}`);
        break;
      }
      case '--temporal-memory': o.temporalMemory = true; break;
      case '--temporal-file': o.temporalMemory = false; break;
      case '--help': case '-h': process.stdout.write(`${HELP}\n`); process.exit(0); break;
      default: throw new Error(`unknown flag ${flag} (see --help)`);
    }
  }
  return o;
}

// ───────────────────────────── small helpers ─────────────────────────────

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const say = (line = '') => process.stdout.write(`${line}\n`);
const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx];
}

function table(headers: string[], rows: Array<Array<string | number>>, alignLeft = 1): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((v, c) => (c < alignLeft ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  return [line(cells[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** postgres.js returns an array; PGlite returns `{ rows }`. */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

// ───────────────────────────── the API and the worker ─────────────────────────────

interface ApiStats {
  /** Event loop delay over the interval, ms. */
  eldP50: number;
  eldP99: number;
  eldMax: number;
  /** Event loop utilisation over the interval, 0..1. */
  elu: number;
  /** CPU of the API process over the interval, % of one core (whole process in --in-process mode). */
  cpuPct: number;
}

interface ApiHandle {
  url: string;
  pid?: number;
  /** Stats since the previous call. */
  stats(): Promise<ApiStats>;
  stop(): Promise<void>;
}

interface WorkerHandle {
  pid?: number;
  stop(): Promise<void>;
}

/** Bare baseline: the same raw body parser as /webhooks, JSON.parse, 200. */
function bareRouter(config: Config): Router {
  const router = Router();
  router.post(BARE_PATH, express.raw({ type: () => true, limit: config.BODY_LIMIT }), (req, res) => {
    // No body: the client went away before it was read (autocannon stops mid-request at a phase's end).
    if (!Buffer.isBuffer(req.body)) {
      res.status(400).json({ error: 'empty body' });
      return;
    }
    const body = JSON.parse((req.body).toString('utf8')) as { event?: unknown };
    res.status(200).json({ received: true, event: typeof body?.event === 'string' ? body.event : null });
  });
  return router;
}

/** The API exactly as `zapflow api` builds it (src/cli/commands/serve.ts startApi), plus the bare route. */
async function startApi(config: Config, db: DbHandle, log: Logger): Promise<ApiHandle> {
  const address = config.TEMPORAL_ADDRESS!;
  const { client, connection } = await connectTemporal(address, config.TEMPORAL_NAMESPACE);
  const pinger = createTemporalPinger(address);
  // As `zapflow api`: with DISPATCHER=worker (the default) it only stores and NOTIFYs.
  const runtime = buildIngest({ config, db: db.db, client, log, mode: config.DISPATCHER === 'api' ? 'inline' : 'notify' });
  const { ingest, dispatcher } = runtime;
  dispatcher?.start();
  const routeDeps: Parameters<typeof buildRouters>[0] = { config, db: db.db, temporal: client, ingest, log };
  // Whatever else buildIngest hands the routers in production (e.g. the funnel trigger cache).
  for (const [key, value] of Object.entries(runtime)) {
    if (key !== 'ingest' && key !== 'dispatcher' && !(key in routeDeps)) (routeDeps as unknown as Record<string, unknown>)[key] = value;
  }
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: pinger.ping,
    log,
    routers: [...buildRouters(routeDeps), bareRouter(config)],
  });
  const server = await listen(app, 0, '127.0.0.1');

  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  let lastElu = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  return {
    url: server.url,
    stats() {
      const elu = performance.eventLoopUtilization(lastElu);
      const cpu = process.cpuUsage(lastCpu);
      const now = performance.now();
      const out: ApiStats = {
        eldP50: eld.percentile(50) / 1e6,
        eldP99: eld.percentile(99) / 1e6,
        eldMax: eld.max / 1e6,
        elu: elu.utilization,
        cpuPct: ((cpu.user + cpu.system) / 1000 / (now - lastAt)) * 100,
      };
      eld.reset();
      lastElu = performance.eventLoopUtilization();
      lastCpu = process.cpuUsage();
      lastAt = now;
      return Promise.resolve(out);
    },
    async stop() {
      eld.disable();
      await server.close(2000);
      await ingest.flush();
      await dispatcher?.stop();
      await pinger.close();
      await connection.close();
    },
  };
}

/**
 * PGlite only (one process): the worker in this process, wired like serve.ts launchWorker.
 * With PostgreSQL the worker is the real `zapflow worker` process instead (startWorkerProcess).
 */
async function startInProcessWorker(config: Config, db: DbHandle, client: Client, log: Logger): Promise<WorkerHandle> {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const deps = {
    db: db.db,
    providers: buildProviders(config, db, log),
    log,
    config,
    temporal: { client, taskQueue: config.TEMPORAL_TASK_QUEUE },
  } as unknown as ActivityDeps;
  const worker = await startWorker({
    address: config.TEMPORAL_ADDRESS!,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps,
    log,
  });
  return { stop: () => worker.shutdown() };
}

/** The default --background-cpus: the last CPU, when there is another one left for the API. */
function lastCpu(): string | undefined {
  const cpus = os.cpus().length;
  return cpus >= 2 ? String(cpus - 1) : undefined;
}

/** `zapflow worker` (bin/zapflow.js), as deployed; ready once it polls the task queue. */
async function startWorkerProcess(env: NodeJS.ProcessEnv, logFile: string, client: Client, namespace: string, background: BackgroundLayout): Promise<WorkerHandle> {
  const out = fs.openSync(logFile, 'a');
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  // Every thread of the worker (workflow threads, the Rust core) inherits the prefix's settings.
  const command = [process.execPath, ...extra, path.join(PROJECT_ROOT, 'bin/zapflow.js'), 'worker'];
  const [file, ...args] = [...backgroundPrefix(background), ...command];
  const child = spawn(file, args, {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`zapflow worker exited during start-up:\n${tail(logFile)}`);
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: env.TEMPORAL_TASK_QUEUE!, kind: 1 /* NORMAL */ },
      taskQueueType: 1 /* WORKFLOW */,
    });
    if ((pollers?.length ?? 0) > 0) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`zapflow worker did not poll ${env.TEMPORAL_TASK_QUEUE} within 120 s:\n${tail(logFile)}`);
    }
    await sleep(250);
  }
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function roleLog(config: Config, component: string): Logger {
  return pino({ level: config.LOG_LEVEL, base: { component } }, pino.destination(2));
}

// ── the API process: `--role api` (this file, forked by the bench) ──

type ChildMessage =
  | { type: 'ready'; url?: string }
  | { type: 'reply'; seq: number; value?: unknown; error?: string }
  | { type: 'failed'; error: string };
type ParentMessage = { type: 'call'; seq: number; method: 'stats' | 'stop' };

async function runApiRole(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.API_PROCESSES > 1 && !isApiClusterWorker()) return runApiPrimaryRole(config);
  const send = (msg: ChildMessage) => process.send?.(msg);
  // The bench coordinates shutdown: Ctrl-C reaches this process too, but the parent stops it in order.
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(1));
  try {
    const db = await openDatabase(config, 'api');
    const api = await startApi(config, db, roleLog(config, 'api'));
    const stop = async () => {
      await api.stop();
      await db.close();
    };
    const onMessage = async (msg: ParentMessage | { type: typeof SHUTDOWN_MESSAGE }) => {
      // In a cluster (API_PROCESSES > 1) the primary stops its HTTP processes with this message.
      if (msg?.type === SHUTDOWN_MESSAGE) {
        await stop().catch(() => undefined);
        process.exit(0);
      }
      if (msg?.type !== 'call') return;
      try {
        if (msg.method === 'stats') send({ type: 'reply', seq: msg.seq, value: await api.stats() });
        else {
          await stop();
          send({ type: 'reply', seq: msg.seq });
          setTimeout(() => process.exit(0), 50);
        }
      } catch (err) {
        send({ type: 'reply', seq: msg.seq, error: (err as Error).message });
      }
    };
    process.on('message', (msg: ParentMessage | { type: typeof SHUTDOWN_MESSAGE }) => void onMessage(msg));
    send({ type: 'ready', url: api.url });
  } catch (err) {
    send({ type: 'failed', error: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

/**
 * API_PROCESSES > 1: this process is the cluster primary, as in `zapflow api` (src/api/cluster.ts);
 * its HTTP processes run runApiRole and answer it as the API process answers the bench. Stats
 * are combined: CPU summed, event-loop delay the worst, utilisation the mean.
 */
async function runApiPrimaryRole(config: Config): Promise<void> {
  const send = (msg: ChildMessage) => process.send?.(msg);
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(1));
  let url: string | undefined;
  let seq = 0;
  const call = (worker: ClusterWorker, method: 'stats' | 'stop') =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++seq;
      const onMessage = (msg: ChildMessage) => {
        if (msg?.type !== 'reply' || msg.seq !== id) return;
        worker.off('message', onMessage);
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg.value);
      };
      worker.on('message', onMessage);
      worker.send({ type: 'call', seq: id, method } satisfies ParentMessage);
    });
  try {
    const primary = await startApiPrimary({
      processes: config.API_PROCESSES,
      log: roleLog(config, 'api-primary'),
      ready: (worker) =>
        new Promise<void>((resolve, reject) =>
          worker.on('message', (msg: ChildMessage) => {
            if (msg?.type === 'ready') {
              url = msg.url;
              resolve();
            } else if (msg?.type === 'failed') reject(new Error(msg.error));
          }),
        ),
    });
    const onMessage = async (msg: ParentMessage) => {
      if (msg?.type !== 'call') return;
      try {
        if (msg.method === 'stats') {
          const all = (await Promise.all(primary.workers().map((w) => call(w, 'stats')))) as ApiStats[];
          const value: ApiStats = {
            eldP50: Math.max(...all.map((a) => a.eldP50)),
            eldP99: Math.max(...all.map((a) => a.eldP99)),
            eldMax: Math.max(...all.map((a) => a.eldMax)),
            elu: all.reduce((sum, a) => sum + a.elu, 0) / all.length,
            cpuPct: all.reduce((sum, a) => sum + a.cpuPct, 0),
          };
          send({ type: 'reply', seq: msg.seq, value });
        } else {
          await primary.stop(30_000);
          send({ type: 'reply', seq: msg.seq });
          setTimeout(() => process.exit(0), 50);
        }
      } catch (err) {
        send({ type: 'reply', seq: msg.seq, error: (err as Error).message });
      }
    };
    process.on('message', (msg: ParentMessage) => void onMessage(msg));
    send({ type: 'ready', url });
  } catch (err) {
    send({ type: 'failed', error: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

/** Forks this file as the API process and resolves once it listens. */
async function startApiProcess(env: NodeJS.ProcessEnv, logFile: string): Promise<ApiHandle> {
  // BENCH_API_NODE_ARGS: extra node flags (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const extra = (process.env.BENCH_API_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const out = fs.openSync(logFile, 'a');
  const child = fork(__filename, ['--role', 'api'], { execArgv: [...process.execArgv, ...extra], env, stdio: ['ignore', out, out, 'ipc'] });
  fs.closeSync(out);
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const p of pending.values()) p.reject(new Error('API process exited'));
    pending.clear();
  });
  const ready = await new Promise<{ url?: string }>((resolve, reject) => {
    child.on('message', (msg: ChildMessage) => {
      if (msg.type === 'ready') resolve({ url: msg.url });
      else if (msg.type === 'failed') reject(new Error(`API process failed to start:\n${msg.error}`));
      else if (msg.type === 'reply') {
        const p = pending.get(msg.seq);
        pending.delete(msg.seq);
        if (msg.error) p?.reject(new Error(msg.error));
        else p?.resolve(msg.value);
      }
    });
    void exited.then(() => reject(new Error(`API process exited during start-up:\n${tail(logFile)}`)));
  });
  const call = (method: 'stats' | 'stop') =>
    new Promise<unknown>((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) return reject(new Error('API process is not running'));
      const id = ++seq;
      pending.set(id, { resolve, reject });
      child.send({ type: 'call', seq: id, method } satisfies ParentMessage);
    });
  return {
    url: ready.url!,
    pid: child.pid,
    stats: async () => (await call('stats')) as ApiStats,
    async stop() {
      if (child.exitCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await call('stop').catch(() => child.kill('SIGTERM'));
      await exited;
      clearTimeout(timer);
    },
  };
}

// ───────────────────────────── load generation ─────────────────────────────

interface BenchChannel {
  tenantId: string;
  channelId: string;
  instance: string;
  secret: string;
}

const TEXTS = [
  'Oi, tudo bem? Quero saber o preço do tênis de corrida',
  'Vocês entregam em Campinas?',
  'Qual o horário de funcionamento da loja?',
  'Tem esse modelo em azul, tamanho 42?',
  'Bom dia! Meu pedido ainda não chegou, pode verificar?',
  'Aceitam Pix? Consigo desconto à vista?',
  'Obrigada pelo atendimento 😊',
  'Quanto fica o frete para 13083-970?',
];
const NAMES = ['Ana Souza', 'João Pereira', 'Maria Oliveira', 'Carlos Lima', 'Fernanda Costa', 'Rafael Santos', 'Juliana Alves', 'Bruno Rocha'];

/** Fresh, unique Evolution payloads over `contactCount` contacts split over the channels. */
class PayloadSource {
  private seq = 0;
  private readonly tag = randomBytes(3).toString('hex').toUpperCase();
  constructor(
    private readonly channels: BenchChannel[],
    private readonly contactCount: number,
  ) {}

  static phone(i: number): string {
    // 55 11 9xxxx-xxxx: 13 digits, distinct for i < 90M.
    return `55119${10_000_000 + ((i * 7919) % 90_000_000)}`;
  }

  next(): { id: string; channel: number; secret: string; body: string } {
    const contact = Math.floor(Math.random() * this.contactCount);
    const channel = contact % this.channels.length;
    const ch = this.channels[channel];
    const id = `3EB0${this.tag}${(++this.seq).toString(16).toUpperCase().padStart(10, '0')}`;
    const payload = evolutionText({
      instance: ch.instance,
      phone: PayloadSource.phone(contact),
      text: TEXTS[contact % TEXTS.length],
      name: NAMES[contact % NAMES.length],
      id,
    });
    return { id, channel, secret: ch.secret, body: JSON.stringify(payload) };
  }
}

/** Provider message ids whose POST got a 2xx, per channel index. */
class Accepted {
  readonly byChannel: string[][];
  constructor(channels: number) {
    this.byChannel = Array.from({ length: channels }, () => []);
  }
  add(channel: number, id: string) {
    this.byChannel[channel].push(id);
  }
  get size() {
    return this.byChannel.reduce((n, a) => n + a.length, 0);
  }
}

interface LoadResult {
  phase: string;
  path: string;
  target: number;
  seconds: number;
  lanes: number;
  responses: number;
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  ok2xx: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** p99 of each WINDOW_SECONDS slice of the phase, by response time: shows whether the tail is steady or comes in bursts. */
  p99ByWindow: number[];
  /** Filled in after the phase. */
  cpu?: CpuReport;
  api?: ApiStats;
  backlogAtEnd?: number;
  drainSeconds?: number;
  /** Seconds until the API, worker, Temporal and PostgreSQL were idle again (work left over from the phase). */
  settleSeconds?: number;
  drained?: boolean;
}

function autoLanes(rate: number): number {
  return Math.min(200, Math.max(4, Math.ceil(rate / 10)));
}

async function runLoad(p: {
  phase: string;
  baseUrl: string;
  path: string;
  rate: number;
  seconds: number;
  lanes?: number;
  source: PayloadSource;
  accepted?: Accepted;
}): Promise<LoadResult> {
  const lanes = Math.min(p.lanes ?? autoLanes(p.rate), p.rate);
  // Response times by WINDOW_SECONDS slice of the phase (the p99 timeline); flattened for the totals.
  const windows: number[][] = [];
  const started = performance.now();
  const statusCodes: Record<string, number> = {};
  let ok2xx = 0;
  let non2xx = 0;
  const laneRuns: Array<Promise<{ responses: number; result: autocannon.Result }>> = [];
  const base = Math.floor(p.rate / lanes);
  const extra = p.rate % lanes;
  for (let i = 0; i < lanes; i++) {
    const quota = base + (i < extra ? 1 : 0);
    laneRuns.push(
      sleep((i * 1000) / lanes).then(
        () =>
          new Promise((resolve, reject) => {
            let responses = 0;
            const instance = autocannon(
              {
                url: p.baseUrl,
                connections: 1,
                connectionRate: quota,
                duration: p.seconds,
                timeout: 10,
                ignoreCoordinatedOmission: true,
                requests: [
                  {
                    method: 'POST',
                    path: p.path,
                    setupRequest: (req, context) => {
                      const next = p.source.next();
                      const ctx = context as { id?: string; channel?: number };
                      ctx.id = next.id;
                      ctx.channel = next.channel;
                      req.headers = { 'content-type': 'application/json', 'x-zapflow-secret': next.secret };
                      req.body = next.body;
                      return req;
                    },
                    onResponse: (status, _body, context) => {
                      const ctx = context as { id?: string; channel?: number };
                      if (p.accepted && status >= 200 && status < 300 && ctx.id) p.accepted.add(ctx.channel!, ctx.id);
                    },
                  },
                ],
              },
              (err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve({ responses, result })),
            );
            instance.on('response', (_client, status, _bytes, responseTime) => {
              responses++;
              const w = Math.floor((performance.now() - started) / 1000 / WINDOW_SECONDS);
              (windows[w] ??= []).push(responseTime);
              statusCodes[status] = (statusCodes[status] ?? 0) + 1;
              if (status >= 200 && status < 300) ok2xx++;
              else non2xx++;
            });
          }),
      ),
    );
  }
  const runs = await Promise.all(laneRuns);
  const latencies = windows.flat();
  const sorted = Float64Array.from(latencies).sort();
  const achieved = runs.reduce((sum, r) => sum + r.responses / Math.max(r.result.duration, p.seconds), 0);
  return {
    phase: p.phase,
    path: p.path,
    target: p.rate,
    seconds: p.seconds,
    lanes,
    responses: latencies.length,
    achieved,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    ok2xx,
    non2xx,
    statusCodes,
    errors: runs.reduce((n, r) => n + r.result.errors, 0),
    timeouts: runs.reduce((n, r) => n + r.result.timeouts, 0),
    p99ByWindow: Array.from(windows, (w) => (w ? percentile(Float64Array.from(w).sort(), 0.99) : NaN)),
  };
}

/** Slice of a phase for its p99 timeline. */
const WINDOW_SECONDS = 5;

// ───────────────────────────── database, Temporal, verification ─────────────────────────────

interface BenchDb {
  handle: DbHandle;
  url?: string;
  name?: string;
  drop(): Promise<void>;
}

async function createBenchDatabase(): Promise<BenchDb> {
  const explicit = process.env.DATABASE_URL;
  const baseUrl = explicit || DEFAULT_DATABASE_URL;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await admin`select 1`;
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => {});
    if (explicit) throw new Error(`DATABASE_URL does not answer: ${(err as Error).message}`);
    say(`WARNING: no PostgreSQL at ${DEFAULT_DATABASE_URL.replace(/\/\/[^@]+@/, '//')} (${(err as Error).message}); falling back to in-memory PGlite.`);
    say('WARNING: PGlite is single-connection WebAssembly in this process: the figures say little about production.');
    const handle = await openDb({});
    await handle.migrate();
    return { handle, drop: () => handle.close() };
  }
  const name = `zf_bench_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDb({ url: url.toString(), poolSize: 4, applicationName: 'zapflow-bench' });
  await handle.migrate();
  let dropped = false;
  return {
    handle,
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await handle.close().catch(() => {});
      const cleanup = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

async function backlog(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(messages)
    .where(and(eq(messages.direction, 'inbound'), eq(messages.triggersAutomation, true), isNull(messages.dispatchedAt)));
  return row?.n ?? 0;
}

async function waitForDrain(db: Db, timeoutS: number): Promise<{ drained: boolean; seconds: number; left: number; atStart: number }> {
  const started = performance.now();
  const atStart = await backlog(db);
  let left = atStart;
  while (left > 0 && performance.now() - started < timeoutS * 1000) {
    await sleep(250);
    left = await backlog(db);
  }
  return { drained: left === 0, seconds: (performance.now() - started) / 1000, left, atStart };
}

interface Verification {
  accepted: number;
  found: number;
  lost: number;
  duplicated: number;
  undispatched: number;
  rowsWithout2xx: number;
  eventsByStatus: Record<string, number>;
  contactsWithMessages: number;
  workflowsCounted?: number;
  sampledContacts: number;
  sampledMessages: number;
  notInWorkflow: number;
  workflowQueryFailures: number;
  missingWorkflows: number;
  lostSample: string[];
}

async function verify(p: {
  db: Db;
  client: Client;
  channels: BenchChannel[];
  accepted: Accepted;
  sample: number;
  taskQueue: string;
}): Promise<Verification> {
  const { db } = p;
  let found = 0;
  let duplicated = 0;
  let undispatched = 0;
  const lostSample: string[] = [];
  for (let c = 0; c < p.channels.length; c++) {
    const ids = p.accepted.byChannel[c];
    if (new Set(ids).size !== ids.length) throw new Error('bench bug: a provider id was sent twice');
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000);
      const rows = await db
        .select({
          pid: messages.providerMessageId,
          n: sql<number>`count(*)::int`,
          undispatched: sql<number>`(count(*) filter (where ${messages.dispatchedAt} is null))::int`,
        })
        .from(messages)
        .where(and(eq(messages.channelId, p.channels[c].channelId), inArray(messages.providerMessageId, chunk)))
        .groupBy(messages.providerMessageId);
      const seen = new Set<string>();
      for (const r of rows) {
        seen.add(r.pid!);
        found++;
        duplicated += r.n - 1;
        undispatched += r.undispatched;
      }
      if (lostSample.length < 10) for (const id of chunk) if (!seen.has(id) && lostSample.length < 10) lostSample.push(id);
    }
  }
  // Across channels too: one provider id must not have landed twice anywhere.
  const [dupes] = await db
    .select({ n: sql<number>`coalesce(sum(c - 1), 0)::int` })
    .from(sql`(select count(*) as c from ${messages} group by ${messages.providerMessageId} having count(*) > 1) d`);
  duplicated = Math.max(duplicated, dupes?.n ?? 0);
  const [totals] = await db
    .select({ rows: sql<number>`count(*)::int`, contacts: sql<number>`count(distinct ${messages.contactId})::int` })
    .from(messages);
  const events = await db
    .select({ status: webhookEvents.status, n: sql<number>`count(*)::int` })
    .from(webhookEvents)
    .groupBy(webhookEvents.status);
  const accepted = p.accepted.size;

  // Workflows: every contact with messages has one (visibility count), and for a sample of
  // contacts, every message row id is in the workflow's `seen`.
  let workflowsCounted: number | undefined;
  const expected = totals?.contacts ?? 0;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      workflowsCounted = (await p.client.workflow.count(`TaskQueue = '${p.taskQueue}' AND WorkflowType = 'contactWorkflow'`)).count;
    } catch (err) {
      say(`  (visibility count unavailable: ${(err as Error).message})`);
      workflowsCounted = undefined;
      break;
    }
    if (workflowsCounted >= expected || Date.now() > deadline) break;
    await sleep(500);
  }

  const limit = p.sample > 0 ? p.sample : 1_000_000_000;
  const sampled = await db
    .select({
      tenantId: contacts.tenantId,
      phone: contacts.phone,
      ids: sql<string>`string_agg(${messages.id}::text, ',')`,
    })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId))
    .groupBy(contacts.tenantId, contacts.phone)
    .orderBy(sql`random()`)
    .limit(limit);
  let sampledMessages = 0;
  let notInWorkflow = 0;
  let workflowQueryFailures = 0;
  let cursor = 0;
  // An overloaded worker answers queries late (or times them out) and may still be working
  // through signals: retry until the ids show up or a shared deadline passes.
  const queryDeadline = Date.now() + 180_000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (cursor < sampled.length) {
        const row = sampled[cursor++];
        const ids = row.ids.split(',');
        sampledMessages += ids.length;
        const handle = p.client.workflow.getHandle(contactWorkflowId(row.tenantId, row.phone));
        for (;;) {
          let missing = ids.length;
          let failed = false;
          try {
            const state = await handle.query<ContactState>('state');
            const seen = new Set(state.seen);
            missing = ids.filter((id) => !seen.has(id)).length;
          } catch {
            failed = true;
          }
          if (missing === 0) break;
          if (Date.now() > queryDeadline) {
            if (failed) workflowQueryFailures++;
            notInWorkflow += missing;
            break;
          }
          await sleep(1000);
        }
      }
    }),
  );

  return {
    accepted,
    found,
    lost: accepted - found,
    duplicated,
    undispatched,
    rowsWithout2xx: Math.max(0, (totals?.rows ?? 0) - found),
    eventsByStatus: Object.fromEntries(events.map((e) => [e.status, e.n])),
    contactsWithMessages: expected,
    workflowsCounted,
    sampledContacts: sampled.length,
    sampledMessages,
    notInWorkflow,
    workflowQueryFailures,
    missingWorkflows: workflowsCounted === undefined ? 0 : Math.max(0, expected - workflowsCounted),
    lostSample,
  };
}

// ───────────────────────────── the bench ─────────────────────────────

function cpuLine(r: CpuReport | undefined, order: string[]): string {
  if (!r) return '';
  const parts = order.filter((g) => r.groups[g] !== undefined).map((g) => `${g} ${r.groups[g].toFixed(0)}%`);
  const other = Object.entries(r.topOther).filter(([, v]) => v >= 5);
  const otherNote = other.length ? `; busiest others: ${other.map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')}` : '';
  return `${parts.join(', ')} (machine busy ${r.machineBusyPct.toFixed(0)}% of ${os.cpus().length} cores)${otherNote}`;
}

/** Undoes one thing the bench set up; run in reverse order at the end, failures reported. */
type Cleanup = () => void | Promise<void>;

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cleanups: Array<[string, Cleanup]> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const [what, fn] of cleanups.reverse()) {
        await Promise.resolve()
          .then(fn)
          .catch((err) => say(`  cleanup (${what}) failed: ${(err as Error).message}`));
      }
    })());
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say('\ninterrupted: cleaning up (Ctrl-C again to exit now)');
    void cleanup().then(() => process.exit(130));
  });

  try {
    await bench(opts, cleanups);
  } finally {
    say('\ncleaning up…');
    await cleanup();
  }
}

async function bench(opts: Options, cleanups: Array<[string, Cleanup]>): Promise<void> {
  const t0 = performance.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zf-bench-'));
  cleanups.push(['temp dir', () => fs.rmSync(tmp, { recursive: true, force: true })]);

  say('zapflow ingest bench');
  say(`  machine   ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);

  // Database.
  const benchDb = await createBenchDatabase();
  cleanups.push(['database', () => (opts.keepDb ? (say(`  kept database ${benchDb.name ?? '(PGlite)'}`), benchDb.handle.close()) : benchDb.drop())]);
  const db = benchDb.handle.db;
  const pgVersion = rowsOf<{ v: string }>(await db.execute(sql`select current_setting('server_version') as v`))[0]?.v;
  say(`  database  ${benchDb.url ? `PostgreSQL ${pgVersion}, fresh database ${benchDb.name}` : `PGlite (PostgreSQL ${pgVersion}) in memory`}`);
  const inProcess = opts.inProcess || !benchDb.url;

  const background: BackgroundLayout = { cpus: opts.backgroundCpus, idle: opts.backgroundIdle, nice: opts.backgroundNice };

  // Temporal.
  let devServer: DevServer | undefined;
  let address = process.env.TEMPORAL_ADDRESS;
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  let temporalVersion = '';
  if (!address) {
    const binary = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
    if (!binary) throw new Error('Temporal CLI not found: set TEMPORAL_CLI_PATH or TEMPORAL_ADDRESS, or run scripts/setup.sh temporal');
    try {
      temporalVersion = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // unknown version
    }
    devServer = await startDevServer({ binary, port: await freePort(), dbFile: opts.temporalMemory ? undefined : path.join(tmp, 'temporal.db'), fastSqlite: true, namespace, ...background });
    cleanups.push(['Temporal dev server', () => devServer!.stop()]);
    address = devServer.address;
  }
  const temporal = await connectTemporal(address, namespace);
  cleanups.push(['Temporal client', () => temporal.connection.close()]);
  await registerSearchAttributes(temporal.connection, namespace);
  const taskQueue = `zf-bench-${randomBytes(4).toString('hex')}`;
  say(`  temporal  ${devServer ? `dev server ${address} (${temporalVersion || 'temporal CLI'}; ${opts.temporalMemory ? 'in memory' : 'SQLite file, WAL + synchronous=off'})` : `TEMPORAL_ADDRESS ${address}`}, task queue ${taskQueue}`);

  // Tenants and channels.
  const channels: BenchChannel[] = [];
  for (const [name, instance] of [['Loja Centro', 'loja-centro'], ['Loja Norte', 'loja-norte']] as const) {
    const { tenant } = await createTenant(db, { name });
    const secret = randomBytes(24).toString('base64url');
    const row = await addChannel(db, {
      tenantId: tenant.id,
      provider: 'evolution',
      externalId: instance,
      name,
      baseUrl: 'https://evo.example.com.br',
      apiKey: randomBytes(16).toString('hex'),
      webhookSecret: secret,
    });
    channels.push({ tenantId: tenant.id, channelId: row.id, instance, secret });
  }

  // API and worker.
  const roleEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    DATABASE_URL: benchDb.url ?? '',
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    // Contact workflows must outlive the run: the verification queries them.
    CONTACT_IDLE_TIMEOUT: process.env.CONTACT_IDLE_TIMEOUT ?? '30m',
    // Webhook flood protection counts posts per source address, and all of the bench's come
    // from 127.0.0.1: lift it (the middleware still runs) so it does not cap find-max at 2,000/s.
    WEBHOOK_RATE_LIMIT_MAX: process.env.WEBHOOK_RATE_LIMIT_MAX ?? '1000000000',
    DATA_DIR: tmp,
  };
  const config = loadConfig(roleEnv);
  let api: ApiHandle;
  let worker: WorkerHandle;
  const apiLogFile = path.join(tmp, 'api.log');
  const workerLogFile = path.join(tmp, 'worker.log');
  if (inProcess) {
    worker = await startInProcessWorker(config, benchDb.handle, temporal.client, roleLog(config, 'worker'));
    cleanups.push(['worker', () => worker.stop()]);
    api = await startApi(config, benchDb.handle, roleLog(config, 'api'));
    cleanups.push(['API', () => api.stop()]);
  } else {
    const [w, a] = await Promise.allSettled([
      startWorkerProcess(roleEnv, workerLogFile, temporal.client, namespace, background),
      startApiProcess(roleEnv, apiLogFile),
    ]);
    if (w.status === 'fulfilled') cleanups.push(['worker process', () => w.value.stop()]);
    if (a.status === 'fulfilled') cleanups.push(['API process', () => a.value.stop()]);
    if (w.status === 'rejected') throw w.reason;
    if (a.status === 'rejected') throw a.reason;
    worker = w.value;
    api = a.value;
  }
  // Before the temp dir goes: whatever the API and the worker logged (warn and up by default).
  cleanups.push([
    'logs',
    () => {
      for (const [who, file] of [['API', apiLogFile], ['worker', workerLogFile]] as const) {
        const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
        if (!text) continue;
        const lines = text.split('\n');
        say(`  ${who} logged ${lines.length} line(s); last ${Math.min(5, lines.length)}:`);
        for (const line of lines.slice(-5)) say(`    ${line.slice(0, 300)}`);
      }
    },
  ]);
  say(
    `  layout    ${inProcess ? 'API + worker + load generator in this process (PGlite or --in-process)' : `load generator pid ${process.pid}, API pid ${api.pid}, worker pid ${worker.pid}`}${devServer ? `, Temporal pid ${devServer.process.pid}` : ''}`,
  );
  say(
    `  api       ${api.url}  pool ${config.DATABASE_POOL_SIZE}, dispatch concurrency ${config.DISPATCH_CONCURRENCY}, contact idle timeout ${config.CONTACT_IDLE_TIMEOUT / 60_000} min, webhook flood limit ${config.WEBHOOK_RATE_LIMIT_MAX}/window`,
  );
  if (config.API_PROCESSES > 1) say(`  api       ${config.API_PROCESSES} HTTP processes (node:cluster, API_PROCESSES), rate-limit counters in the primary`);
  say(
    `  dispatch  ${config.DISPATCHER === 'worker' ? 'in the worker process (API stores and NOTIFYs)' : config.DISPATCHER === 'api' ? 'in the API process' : 'none (DISPATCHER=none: messages stay pending)'}; worker and Temporal ${opts.backgroundIdle ? 'under SCHED_IDLE' : `at nice ${opts.backgroundNice}`}${opts.backgroundCpus ? ` on CPU ${opts.backgroundCpus}` : ''}`,
  );
  say(`  load      ${opts.contacts} contacts over ${channels.map((c) => c.instance).join(' + ')}, lanes ~rate/10 (1 connection each), ${warmupLine(opts)}`);
  say(`  set-up    ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const cpu = new CpuAccounting({ 'load generator': process.pid, api: api.pid, worker: worker.pid, temporal: devServer?.process.pid });
  const cpuOrder = ['load generator', 'api', 'worker', 'temporal', 'postgres', 'other'];
  const source = new PayloadSource(channels, opts.contacts);
  const accepted = new Accepted(channels.length);
  const results: LoadResult[] = [];

  // Other processes on the machine skew every figure: check (or wait) for idle CPUs first.
  const sampleIdle = async () => {
    const a = cpu.snapshot();
    await sleep(3000);
    return cpu.report(a, cpu.snapshot());
  };
  let preflight = await sampleIdle();
  const quietUntil = Date.now() + opts.waitQuiet * 1000;
  while (preflight && preflight.machineBusyPct > 15 && Date.now() < quietUntil) {
    say(`  waiting for a quiet machine (busy ${preflight.machineBusyPct.toFixed(0)}%)…`);
    preflight = await sampleIdle();
  }
  if (preflight) {
    say(`  before    machine busy ${preflight.machineBusyPct.toFixed(0)}% with no load${preflight.machineBusyPct > 15 ? ` — WARNING: other processes are using the CPUs (${Object.entries(preflight.topOther).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')}); figures will be skewed` : ''}`);
  }

  // After a phase, wait for the stack to finish the work it queued (dispatch, workflow tasks)
  // so the next phase starts on idle CPUs: our processes below 20% of one core together.
  const settle = async (): Promise<number> => {
    if (!cpu.available) return 0;
    const started = performance.now();
    const ours = ['api', 'worker', 'temporal', 'postgres'];
    while (performance.now() - started < opts.drainTimeout * 1000) {
      const a = cpu.snapshot();
      await sleep(2000);
      const r = cpu.report(a, cpu.snapshot());
      if (!r || ours.reduce((sum, g) => sum + (r.groups[g] ?? 0), 0) < 20) break;
    }
    return (performance.now() - started) / 1000;
  };

  const measured = async (phase: string, pathName: string, rate: number, seconds: number): Promise<LoadResult> => {
    await api.stats(); // reset the API's interval
    const before = cpu.snapshot();
    const r = await runLoad({ phase, baseUrl: api.url, path: pathName, rate, seconds, lanes: opts.lanes, source, accepted: pathName === INGEST_PATH ? accepted : undefined });
    r.cpu = cpu.report(before, cpu.snapshot());
    r.api = await api.stats();
    if (pathName === INGEST_PATH) {
      const drain = await waitForDrain(db, opts.drainTimeout);
      r.backlogAtEnd = drain.atStart;
      r.drainSeconds = drain.seconds;
      r.drained = drain.drained;
      r.settleSeconds = await settle();
    }
    results.push(r);
    const extra =
      r.backlogAtEnd !== undefined
        ? `, dispatch backlog at end ${r.backlogAtEnd} (drained in ${r.drainSeconds!.toFixed(1)} s${r.drained ? '' : ', NOT DRAINED'}; idle again after ${r.settleSeconds!.toFixed(0)} s)`
        : '';
    const codes = Object.entries(r.statusCodes).filter(([code]) => !code.startsWith('2'));
    const non2xx = codes.length ? ` (${codes.map(([code, n]) => `${code}: ${n}`).join(', ')})` : '';
    say(
      `  ${phase.padEnd(16)} ${r.achieved.toFixed(0).padStart(5)}/${rate} req/s  p50 ${ms(r.p50)}  p99 ${ms(r.p99)}  max ${ms(r.max)} ms  non-2xx ${r.non2xx}${non2xx}  errors ${r.errors}${extra}`,
    );
    if (r.cpu) say(`  ${''.padEnd(16)} cpu: ${cpuLine(r.cpu, cpuOrder)}`);
    if (r.p99ByWindow.length > 1) say(`  ${''.padEnd(16)} p99 per ${WINDOW_SECONDS} s: ${r.p99ByWindow.map((v) => ms(v)).join('  ')}`);
    return r;
  };
  const warm = async (pathName: string) => {
    if (opts.warmup <= 0) return;
    say(`  warm-up ${pathName} ${opts.warmup}s at ${opts.rate} req/s`);
    await runLoad({ phase: 'warm-up', baseUrl: api.url, path: pathName, rate: opts.rate, seconds: opts.warmup, lanes: opts.lanes, source, accepted: pathName === INGEST_PATH ? accepted : undefined });
    // Steady (default): no pause, so the measured phase is the continuation of the warm-up.
    if (pathName === INGEST_PATH && opts.warmupDrain) {
      await waitForDrain(db, opts.drainTimeout);
      await settle();
    }
  };

  say('');
  say(`phase 1: bare baseline ${BARE_PATH}, ${opts.rate} req/s for ${opts.duration}s`);
  await warm(BARE_PATH);
  const bare = await measured('bare', BARE_PATH, opts.rate, opts.duration);

  say('');
  say(`phase 2: ingest ${INGEST_PATH}, ${opts.rate} req/s for ${opts.duration}s`);
  await warm(INGEST_PATH);
  const fixed = await measured('ingest', INGEST_PATH, opts.rate, opts.duration);

  // Phase 3: the highest sustained rate.
  const sustained = (r: LoadResult): string | undefined => {
    if (r.errors > 0) return `${r.errors} errors`;
    if (r.non2xx > 0) return `${r.non2xx} non-2xx`;
    if (r.p99 > opts.maxP99) return `p99 ${ms(r.p99)} ms > ${opts.maxP99} ms`;
    if (r.achieved < 0.9 * r.target) return `achieved ${r.achieved.toFixed(0)} < 90% of ${r.target}`;
    return undefined;
  };
  let best: LoadResult | undefined;
  let stopReason = '';
  if (opts.findMax) {
    say('');
    say(`phase 3: find the highest sustained rate (${opts.stepDuration}s steps; sustained = p99 <= ${opts.maxP99} ms, no errors or non-2xx, >= 90% of the rate)`);
    const fixedFail = sustained(fixed);
    const step = async (rate: number) => {
      const r = await measured(`max @${rate}`, INGEST_PATH, rate, opts.stepDuration);
      const fail = sustained(r);
      if (!fail && r.drained === false) return { r, fail: 'dispatch backlog did not drain' };
      return { r, fail };
    };
    let lastPass: number | undefined;
    let firstFail: number | undefined;
    if (!fixedFail) {
      best = fixed;
      lastPass = opts.rate;
      const ladder = (opts.steps ?? [1.5, 2, 3, 4, 6, 8, 12, 16].map((f) => Math.round(opts.rate * f))).filter((r) => r > opts.rate);
      for (const rate of ladder) {
        const { r, fail } = await step(rate);
        if (fail) {
          firstFail = rate;
          stopReason = `${rate} req/s: ${fail}`;
          break;
        }
        best = r;
        lastPass = rate;
      }
      if (firstFail === undefined) stopReason = 'ladder exhausted';
    } else {
      // Not sustained at the fixed rate: step down (halving) to find what is.
      stopReason = `${opts.rate} req/s: ${fixedFail}`;
      firstFail = opts.rate;
      for (const f of [0.5, 0.25, 0.125, 0.0625, 0.03125]) {
        const rate = Math.max(1, Math.round(opts.rate * f));
        if (rate >= firstFail) continue;
        const { r, fail } = await step(rate);
        if (!fail) {
          best = r;
          lastPass = rate;
          break;
        }
        firstFail = rate;
        stopReason = `${rate} req/s: ${fail}`;
      }
    }
    // One refinement step between the last rate sustained and the first that was not.
    if (lastPass !== undefined && firstFail !== undefined && firstFail - lastPass >= Math.max(2, lastPass * 0.2)) {
      const gap = firstFail - lastPass;
      const unit = gap >= 200 ? 50 : gap >= 20 ? 5 : 1;
      const mid = Math.round((lastPass + firstFail) / 2 / unit) * unit;
      if (mid > lastPass && mid < firstFail) {
        const { r, fail } = await step(mid);
        if (!fail) best = r;
        else stopReason += `; ${mid} req/s: ${fail}`;
      }
    }
  }

  // Final drain and verification.
  say('');
  say('verification');
  const drain = await waitForDrain(db, opts.drainTimeout);
  say(`  dispatcher drained: ${drain.drained ? 'yes' : `NO (${drain.left} left)`} (${drain.seconds.toFixed(1)} s)`);
  const v = await verify({ db, client: temporal.client, channels, accepted, sample: opts.verifySample, taskQueue });

  // Report.
  say('');
  say(`results (latency in ms, measured by autocannon in the load generator; ${os.cpus().length} cores shared by load generator, API, worker, Temporal and PostgreSQL)`);
  const rows = results.map((r) => [
    r.phase,
    r.target,
    r.achieved.toFixed(1),
    ms(r.p50),
    ms(r.p90),
    ms(r.p99),
    ms(r.max),
    r.ok2xx,
    r.non2xx,
    r.errors,
    r.backlogAtEnd ?? '-',
    r.api ? ms(r.api.eldP99) : '-',
    r.api ? `${(r.api.elu * 100).toFixed(0)}%` : '-',
  ]);
  say(
    table(['phase', 'target/s', 'achieved/s', 'p50', 'p90', 'p99', 'max', '2xx', 'non-2xx', 'errors', 'backlog', 'api loop p99', 'api ELU'], rows),
  );
  say('');
  say(`ratio ingest/bare at ${opts.rate} req/s: p50 ${(fixed.p50 / bare.p50).toFixed(1)}×, p99 ${(fixed.p99 / bare.p99).toFixed(1)}×`);
  say('backlog = messages not yet handed to Temporal when the phase ended; api loop p99 = event-loop delay in the API process (ms)');
  if (cpu.available) {
    say('');
    say('CPU by process group (% of one core, averaged over the phase)');
    const perRequest = (r: LoadResult, groups: string[]) =>
      r.cpu && r.responses ? ((groups.reduce((sum, g) => sum + (r.cpu!.groups[g] ?? 0), 0) / 100) * r.seconds * 1000) / r.responses : NaN;
    say(
      table(
        ['phase', ...cpuOrder, 'machine busy', 'api ms/req', 'stack ms/req'],
        results.map((r) => [
          r.phase,
          ...cpuOrder.map((g) => (r.cpu?.groups[g] !== undefined ? `${r.cpu.groups[g].toFixed(0)}%` : '-')),
          r.cpu ? `${r.cpu.machineBusyPct.toFixed(0)}%` : '-',
          ms(perRequest(r, ['api'])),
          ms(perRequest(r, ['api', 'worker', 'temporal', 'postgres'])),
        ]),
      ),
    );
    say('api ms/req, stack ms/req: CPU time per response of the API process, and of API + worker + Temporal + PostgreSQL');
  }
  say('');
  const targetMet = fixed.p99 <= opts.targetP99 && fixed.non2xx === 0 && fixed.errors === 0 && fixed.achieved >= 0.9 * opts.rate;
  say(`target: p99 <= ${opts.targetP99} ms at ${opts.rate} req/s: ${targetMet ? 'MET' : 'MISSED'} (p99 ${ms(fixed.p99)} ms, ${fixed.achieved.toFixed(0)} req/s, non-2xx ${fixed.non2xx}, errors ${fixed.errors}; ${warmupLine(opts)})`);
  if (opts.findMax) {
    say(
      best
        ? `highest sustained: ${best.target} req/s (achieved ${best.achieved.toFixed(0)}, p50 ${ms(best.p50)} ms, p99 ${ms(best.p99)} ms); stopped at ${stopReason}`
        : `highest sustained: none of the rates tried (${stopReason})`,
    );
  }
  say(`accepted (2xx): ${v.accepted}; rows found ${v.found}; rows stored without a 2xx seen by the client (timeouts, phase ends): ${v.rowsWithout2xx}`);
  say(`webhook events by status: ${Object.entries(v.eventsByStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`);
  say(
    `workflows: ${v.workflowsCounted ?? '?'} counted in visibility for ${v.contactsWithMessages} contacts with messages; sample of ${v.sampledContacts} contacts (${v.sampledMessages} messages) queried: ${v.notInWorkflow} not in seen, ${v.workflowQueryFailures} queries failed`,
  );
  // Nothing accepted proves nothing: that is a failure too.
  const integrity = v.lost + v.duplicated + v.undispatched + v.notInWorkflow + v.missingWorkflows + (v.accepted === 0 ? 1 : 0);
  say(`lost: ${v.lost}, duplicated: ${v.duplicated}, undispatched: ${v.undispatched}, not in workflow: ${v.notInWorkflow}, missing workflows: ${v.missingWorkflows}`);
  if (v.lostSample.length) say(`  lost ids (first ${v.lostSample.length}): ${v.lostSample.join(' ')}`);
  say(integrity === 0 ? 'integrity: OK' : v.accepted === 0 ? 'integrity: FAILED (no webhook was accepted)' : 'integrity: FAILED');

  if (opts.json) {
    fs.writeFileSync(
      opts.json,
      `${JSON.stringify({ options: opts, cores: os.cpus().length, preflight, postgres: pgVersion, temporal: temporalVersion || address, results, bestSustained: best?.target ?? null, stopReason, targetMet, verification: v }, null, 2)}\n`,
    );
    say(`results written to ${opts.json}`);
  }

  // With an external Temporal, end the contact workflows this run started (no worker will serve them).
  if (!devServer) {
    await temporal.connection.workflowService
      .startBatchOperation({
        namespace,
        jobId: `zf-bench-cleanup-${taskQueue}`,
        reason: 'zapflow ingest bench finished',
        visibilityQuery: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
        terminationOperation: {},
      })
      .catch((err) => say(`  could not terminate the bench's workflows on ${address}: ${(err as Error).message}`));
  }

  if (integrity > 0) process.exitCode = 1;
  else if (opts.failOnTarget && !targetMet) process.exitCode = 2;
}

if (process.argv.includes('--role')) {
  void runApiRole();
} else {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
