/**
 * Scheduled-send benchmark (`npm run bench:scheduled`).
 *
 * N messages (default 5,000) are scheduled through the real API for the same minute, on
 * real PostgreSQL and a real Temporal dev server, to a loopback Evolution fake. By default
 * their times are spread evenly over that minute (`--spread 60`: message i at
 * :00 + i·60/N s); `--spread 0` makes them all due at :00.000 (a burst: then the loopback
 * receiver and Node's HTTP client bound the result, see the note printed with it). For each
 * message the lateness is the fake's receipt time minus its scheduledFor; the bench prints
 * p50/p99/max lateness and the send rate, and checks that every message arrived exactly
 * once. Then the same again, with the worker process stopped and a new one started 10 s
 * before the minute.
 *
 * Process layout:
 *   this process   the API (in-process: only used to schedule), the Evolution fake, the measuring
 *   child "worker" the Temporal worker and its schedule dispatcher, wired like `zapflow worker`
 *                  (serve.ts launchWorker), but loading a workflow bundle built once by this
 *                  process (so a restart does not spend its seconds in webpack). The dispatcher
 *                  sends each message at its millisecond; the workflows wake
 *                  SCHEDULE_SETTLE_AFTER later to confirm, and the bench waits until all have
 *                  closed. With `--no-dispatch` (SCHEDULE_DISPATCH=false) each workflow wakes
 *                  SCHEDULE_PREFIRE early and sends itself; the worker then gets room for one
 *                  activity per message in flight (`--activity-slots`)
 *   temporal       `temporal server start-dev` (SQLite file, WAL + synchronous=off) on a free port
 *   postgres       a fresh database `zf_bench_<rand>` on DATABASE_URL's server, dropped at the end
 *
 * Quotas are set high and pacing off (both still counted and checked on every send): this
 * measures the scheduling path, not the throttles. Run `tsx bench/scheduled.ts --help`.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { and, eq, inArray, sql } from 'drizzle-orm';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig, type Config } from '../src/config';
import { openDb, type DbHandle } from '../src/db/client';
import { messageAttempts, messages, scheduledMessages } from '../src/db/schema';
import { buildIngest } from '../src/ingest';
import { buildProviders } from '../src/runtime';
import { addChannel } from '../src/services/channels';
import { createTenant } from '../src/services/tenants';
import { findTemporalCli } from '../src/temporal/binary';
import { connectTemporal, createTemporalPinger, registerSearchAttributes } from '../src/temporal/connect';
import { freePort, startDevServer, type DevServer } from '../src/temporal/devServer';
import { bundleWorkflows, startWorker } from '../src/worker';
import { startEvolutionFake, type EvolutionFake } from '../test/fakes';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Options {
  messages: number;
  channels: number;
  /** Seconds between the start of scheduling and the earliest acceptable minute. */
  lead: number;
  /** The due times are spread over this many seconds from the minute (0: all at :00.000). */
  spread: number;
  restartBefore: number;
  prefire: string;
  dispatch: boolean;
  settle: string;
  activitySlots: number;
  concurrency: number;
  restart: boolean;
  json?: string;
  keepDb: boolean;
  keepTmp: boolean;
  explain: boolean;
  drainTimeout: number;
}

const HELP = `tsx bench/scheduled.ts [flags]

  --messages N        messages per phase, all due at the same minute (default 5000)
  --channels N        Evolution instances they are spread over, 2 tenants (default 4)
  --spread S          due times spread evenly over S seconds from the minute (default 60; 0 = all at :00.000)
  --lead S            the minute is at least S seconds after scheduling starts (default: from the scheduling
                      pace measured with 200 warm-up schedules, plus margin; at least 30)
  --restart-before S  phase 2 restarts the worker S seconds before the minute (default 10)
  --no-restart        run phase 1 only
  --settle D          SCHEDULE_SETTLE_AFTER (default 1m, zapflow's default)
  --no-dispatch       SCHEDULE_DISPATCH=false: every workflow wakes SCHEDULE_PREFIRE early and sends itself
  --prefire D         SCHEDULE_PREFIRE for --no-dispatch (default 3s, zapflow's default)
  --activity-slots N  WORKER_MAX_CONCURRENT_{WORKFLOW_TASKS,ACTIVITIES,LOCAL_ACTIVITIES} (default: zapflow's
                      defaults; with --no-dispatch messages + 1000)
  --concurrency N     schedule-message requests in flight while scheduling (default 32)
  --json FILE         also write the results as JSON
  --drain-timeout S   wait up to S seconds after the last due time for late messages (default 600);
                      only what has not arrived by then counts as missing
  --keep-db           do not drop the database at the end
  --keep-tmp          keep the temporary directory (worker log, Temporal SQLite file)
  --explain           print the workflow history timeline of the three latest messages of each phase

Environment: DATABASE_URL (server to create the bench database on; default ${DEFAULT_DATABASE_URL}),
TEMPORAL_CLI_PATH, DATABASE_POOL_SIZE (worker pool, default 10), BENCH_LOG_LEVEL (default warn),
BENCH_WORKER_NODE_ARGS (extra node flags for the worker, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).`;

function parseOptions(argv: string[]): Options {
  const o: Options = { messages: 5000, channels: 4, lead: 0, spread: 60, restartBefore: 10, prefire: '3s', dispatch: true, settle: '1m', activitySlots: 0, concurrency: 32, restart: true, keepDb: false, keepTmp: false, explain: false, drainTimeout: 600 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = () => {
      const n = Number(next());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
      return n;
    };
    switch (flag) {
      case '--messages': o.messages = int(); break;
      case '--channels': o.channels = int(); break;
      case '--lead': o.lead = int(); break;
      case '--spread': {
        const n = Number(next());
        if (!Number.isFinite(n) || n < 0 || n > 60) throw new Error('--spread must be 0..60 seconds');
        o.spread = n;
        break;
      }
      case '--restart-before': o.restartBefore = int(); break;
      case '--drain-timeout': o.drainTimeout = int(); break;
      case '--no-restart': o.restart = false; break;
      case '--prefire': o.prefire = next(); break;
      case '--settle': o.settle = next(); break;
      case '--no-dispatch': o.dispatch = false; break;
      case '--activity-slots': o.activitySlots = int(); break;
      case '--concurrency': o.concurrency = int(); break;
      case '--json': o.json = next(); break;
      case '--keep-db': o.keepDb = true; break;
      case '--keep-tmp': o.keepTmp = true; break;
      case '--explain': o.explain = true; break;
      case '--help': case '-h': say(HELP); process.exit(0);
       
      default: throw new Error(`unknown flag ${flag} (see --help)`);
    }
  }
  if (!o.activitySlots && !o.dispatch) o.activitySlots = o.messages + 1000;
  if (!o.lead) o.lead = 30;
  return o;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

// ───────────────────────────── worker process ─────────────────────────────

type WorkerMessage = { type: 'ready' } | { type: 'failed'; error: string } | { type: 'stopped' };

/** Child role: the worker as `zapflow worker` wires it, on a prebuilt bundle. */
async function runWorkerRole(): Promise<void> {
  const send = (m: WorkerMessage) => process.send?.(m);
  process.on('SIGINT', () => {}); // the parent stops it, in order
  process.on('disconnect', () => process.exit(1));
  try {
    const config = loadConfig(process.env);
    const log = pino({ level: config.LOG_LEVEL, base: { component: 'worker' } }, pino.destination(2));
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    const db = await openDb({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
    const worker = await startWorker({
      address: config.TEMPORAL_ADDRESS!,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      deps: { db: db.db, providers: buildProviders(config, db, log), log, config },
      workflowBundle: { codePath: process.env.BENCH_WORKFLOW_BUNDLE! },
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
      log,
    });
    process.on('SIGTERM', () => {
      void (async () => {
        await worker.shutdown();
        await db.close();
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 20);
      })();
    });
    send({ type: 'ready' });
  } catch (err) {
    send({ type: 'failed', error: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

interface WorkerHandle {
  pid?: number;
  stop(): Promise<void>;
}

async function startWorkerProcess(env: NodeJS.ProcessEnv, logFile: string): Promise<WorkerHandle> {
  const out = fs.openSync(logFile, 'a');
  // BENCH_WORKER_NODE_ARGS: extra node flags for the worker (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child: ChildProcess = fork(__filename, ['--role', 'worker'], { execArgv: [...process.execArgv, ...extra], env, stdio: ['ignore', out, out, 'ipc'] });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'failed') reject(new Error(`worker failed to start:\n${m.error}`));
    });
    void exited.then(() => reject(new Error(`worker exited during start-up; see ${logFile}`)));
  });
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

// ───────────────────────────── set-up ─────────────────────────────

interface BenchDb {
  handle: DbHandle;
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function createBenchDatabase(): Promise<BenchDb> {
  const baseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await admin`select 1`;
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new Error(`no PostgreSQL at ${baseUrl.replace(/\/\/[^@]+@/, '//')}: ${(err as Error).message} (scripts/setup.sh postgres starts one)`);
  }
  const name = `zf_bench_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDb({ url: url.toString(), poolSize: 8 });
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

interface Channel {
  tenantId: string;
  apiKey: string;
  instance: string;
}

// ───────────────────────────── a phase ─────────────────────────────

/** POSTs schedule-message for every phone (message i due at dueOf(i)), `concurrency` at a time. */
async function scheduleAll(apiUrl: string, channels: Channel[], concurrency: number, phones: string[], dueOf: (i: number) => number) {
  let next = 0;
  let failures = 0;
  const failureKinds = new Map<string, number>();
  const scheduleOf = new Map<string, string>();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < phones.length; i = next++) {
        const ch = channels[i % channels.length];
        const res = await fetch(`${apiUrl}/api/whatsapp/schedule-message`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ch.apiKey}` },
          body: JSON.stringify({
            instanceName: ch.instance,
            phoneNumber: phones[i],
            message: `Bom dia! Lembrete ${i} da sua consulta.`,
            scheduledFor: new Date(dueOf(i)).toISOString(),
          }),
        });
        const body = (await res.json()) as { scheduleId?: string; error?: { message?: string } };
        if (res.status !== 202 || !body.scheduleId) {
          failures++;
          const kind = `${res.status} ${body.error?.message ?? ''}`.slice(0, 160);
          failureKinds.set(kind, (failureKinds.get(kind) ?? 0) + 1);
        } else scheduleOf.set(phones[i], body.scheduleId);
      }
    }),
  );
  return { failures, failureKinds, scheduleOf };
}

interface PhaseResult {
  name: string;
  messages: number;
  scheduledFor: string;
  schedulingSeconds: number;
  schedulingRate: number;
  received: number;
  missing: number;
  duplicated: number;
  lateness: { p50: number; p90: number; p99: number; max: number; min: number };
  /** All messages received within this many ms after the minute. */
  spanMs: number;
  spreadSeconds: number;
  sendsPerSecond: number;
  rowsSent: number;
  attempts: number;
  restartSeconds?: number;
  loadAverage?: number;
  /** Schedule workflows of this phase that closed Completed, and when the last did (s after the last due time). */
  workflowsCompleted?: number;
  settledSeconds?: number;
}

const completedSchedules = async (client: Client) =>
  (await client.workflow.count('WorkflowType = "scheduledSendWorkflow" AND ExecutionStatus = "Completed"')).count;

async function runPhase(p: {
  name: string;
  opts: Options;
  apiUrl: string;
  channels: Channel[];
  fake: EvolutionFake;
  db: DbHandle;
  client: Client;
  explain: boolean;
  phoneBase: number;
  restart?: () => Promise<number>;
}): Promise<PhaseResult> {
  const { opts } = p;
  const completedBefore = await completedSchedules(p.client);
  // Scheduling goes through the dev server's single SQLite writer: measure its pace with a
  // few schedules for next year, then pick a minute the whole batch reaches in time.
  const warm = Math.min(200, opts.messages);
  const w0 = performance.now();
  await scheduleAll(p.apiUrl, p.channels, opts.concurrency, Array.from({ length: warm }, (_, i) => `55118${String(p.phoneBase + i).padStart(8, '0')}`), () => Date.now() + 365 * 86_400_000);
  const rate = warm / ((performance.now() - w0) / 1000);
  const lead = Math.max(opts.lead, Math.ceil((opts.messages / rate) * 1.3) + opts.restartBefore + 20);
  const startedAt = Date.now();
  const due = Math.ceil((startedAt + lead * 1000) / 60_000) * 60_000;
  const scheduledFor = new Date(due).toISOString();
  const dueOf = (i: number) => due + Math.floor((i * opts.spread * 1000) / opts.messages);
  say(
    `\n${p.name}: ${opts.messages} messages due ${opts.spread ? `over ${opts.spread} s from` : 'all at'} ${scheduledFor} (in ${((due - startedAt) / 1000).toFixed(0)} s)`,
  );

  // Schedule them through the API.
  const phones = Array.from({ length: opts.messages }, (_, i) => `55119${String(p.phoneBase + i).padStart(8, '0')}`);
  const t0 = performance.now();
  const { failures, failureKinds, scheduleOf } = await scheduleAll(p.apiUrl, p.channels, opts.concurrency, phones, dueOf);
  const scheduleIds = [...scheduleOf.values()];
  const schedulingSeconds = (performance.now() - t0) / 1000;
  say(`  scheduled in ${schedulingSeconds.toFixed(1)} s (${(opts.messages / schedulingSeconds).toFixed(0)}/s)${failures ? `, ${failures} FAILED` : ''}`);
  for (const [kind, n] of failureKinds) say(`    ${n} × ${kind}`);
  if (Date.now() > due - (opts.restartBefore + 5) * 1000) say('  WARNING: scheduling ended late; use a larger --lead');

  let restartSeconds: number | undefined;
  if (p.restart) {
    await sleep(Math.max(0, due - opts.restartBefore * 1000 - Date.now()));
    say(`  restarting the worker ${((due - Date.now()) / 1000).toFixed(1)} s before the minute…`);
    restartSeconds = await p.restart();
    say(`  new worker polling after ${restartSeconds.toFixed(1)} s (${((due - Date.now()) / 1000).toFixed(1)} s before the minute)`);
  }

  // Wait for every message (an overloaded worker sends late, not never), up to --drain-timeout
  // after the last due time: lateness covers every message, and "missing" means not delivered.
  const want = new Map(phones.map((phone, i) => [phone, dueOf(i)]));
  const deadline = dueOf(phones.length - 1) + opts.drainTimeout * 1000;
  await sleep(Math.max(0, due - Date.now()));
  for (;;) {
    const got = new Set(p.fake.sent.filter((s) => want.has(s.number)).map((s) => s.number));
    if (got.size >= phones.length || Date.now() > deadline) break;
    await sleep(200);
  }
  await sleep(2_000); // late duplicates would show up here

  const receipts = new Map<string, number[]>();
  for (const s of p.fake.sent) {
    if (!want.has(s.number)) continue;
    const list = receipts.get(s.number) ?? [];
    list.push(s.receivedAt);
    receipts.set(s.number, list);
  }
  const lateness = [...receipts.entries()].map(([phone, times]) => Math.min(...times) - want.get(phone)!).sort((a, b) => a - b);
  const duplicated = [...receipts.values()].filter((t) => t.length > 1).length;
  const first = Math.min(...[...receipts.values()].flat());
  const last = Math.max(...[...receipts.values()].flat());
  const db = p.db.db;
  const [rows] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(scheduledMessages)
    .where(and(inArray(scheduledMessages.id, scheduleIds), eq(scheduledMessages.status, 'sent')));
  const [attempts] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(messageAttempts)
    .innerJoin(messages, eq(messages.id, messageAttempts.messageId))
    .where(inArray(messages.idempotencyKey, scheduleIds.map((id) => `schedule:${id}`)));

  const result: PhaseResult = {
    name: p.name,
    messages: opts.messages,
    scheduledFor,
    schedulingSeconds,
    schedulingRate: opts.messages / schedulingSeconds,
    received: receipts.size,
    missing: phones.length - receipts.size,
    duplicated,
    lateness: {
      p50: percentile(lateness, 0.5),
      p90: percentile(lateness, 0.9),
      p99: percentile(lateness, 0.99),
      max: lateness[lateness.length - 1] ?? NaN,
      min: lateness[0] ?? NaN,
    },
    spanMs: last - due,
    sendsPerSecond: receipts.size / Math.max(0.001, (last - first) / 1000),
    spreadSeconds: opts.spread,
    rowsSent: rows?.n ?? 0,
    attempts: attempts?.n ?? 0,
    restartSeconds,
  };
  say(`  received ${result.received}/${result.messages}, missing ${result.missing}, sent twice ${result.duplicated}; schedule rows sent ${result.rowsSent}; provider attempts ${result.attempts}`);
  say(
    `  lateness (receipt − scheduledFor): p50 ${result.lateness.p50} ms, p90 ${result.lateness.p90} ms, p99 ${result.lateness.p99} ms, max ${result.lateness.max} ms (min ${result.lateness.min} ms)`,
  );
  say(`  send rate ${result.sendsPerSecond.toFixed(0)} sends/s (first to last receipt: ${(last - first).toFixed(0)} ms)`);
  result.loadAverage = os.loadavg()[0]!;
  say(`  machine load average (1 min) at the end: ${result.loadAverage.toFixed(2)} on ${os.cpus().length} cores`);

  // Every schedule's workflow must close too (with the dispatcher: SCHEDULE_SETTLE_AFTER after its time).
  const lastDue = dueOf(phones.length - 1);
  const settleDeadline = Date.now() + opts.drainTimeout * 1000 + 120_000;
  for (;;) {
    result.workflowsCompleted = (await completedSchedules(p.client)) - completedBefore;
    if (result.workflowsCompleted >= opts.messages || Date.now() > settleDeadline) break;
    await sleep(1_000);
  }
  result.settledSeconds = (Date.now() - lastDue) / 1000;
  say(
    `  workflows ${result.workflowsCompleted}/${opts.messages} closed Completed, the last ${result.settledSeconds.toFixed(0)} s after the last due time${
      opts.dispatch ? ` (they wake SCHEDULE_SETTLE_AFTER ${opts.settle} after it)` : ''
    }`,
  );
  if (p.explain) {
    // Where the time went for the latest messages: their workflow histories, relative to their due time.
    const latest = [...receipts.entries()].map(([phone, t]) => ({ phone, late: Math.min(...t) - want.get(phone)! })).sort((a, b) => b.late - a.late).slice(0, 3);
    for (const { phone, late } of latest) {
      const history = await p.client.workflow.getHandle(`schedule:${scheduleOf.get(phone)}`).fetchHistory();
      const dueAt = want.get(phone)!;
      const steps = (history.events ?? []).map((e) => {
        const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes'))?.replace('EventAttributes', '') ?? '?';
        const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
        return `${kind} ${at - dueAt >= 0 ? '+' : ''}${at - dueAt}`;
      });
      say(`  late by ${late} ms: ${steps.slice(-12).join(', ')}`);
    }
  }
  return result;
}

// ───────────────────────────── main ─────────────────────────────

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
  let failed = false;
  try {
    failed = await bench(opts, cleanups);
  } finally {
    say('\ncleaning up…');
    await cleanup();
  }
  process.exit(failed ? 1 : 0);
}

async function bench(opts: Options, cleanups: Array<[string, Cleanup]>): Promise<boolean> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zf-bench-sched-'));
  cleanups.push([
    'temp dir',
    () => {
      if (opts.keepTmp) say(`  kept ${tmp}`);
      else fs.rmSync(tmp, { recursive: true, force: true });
    },
  ]);
  say('zapflow scheduled-send bench');
  say(`  machine   ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);

  const benchDb = await createBenchDatabase();
  cleanups.push(['database', () => (opts.keepDb ? (say(`  kept database ${benchDb.name}`), benchDb.handle.close()) : benchDb.drop())]);
  say(`  database  PostgreSQL, fresh database ${benchDb.name}`);

  const binary = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new Error('Temporal CLI not found: set TEMPORAL_CLI_PATH or run scripts/setup.sh temporal');
  let version = '';
  try {
    version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // unknown
  }
  const devServer: DevServer = await startDevServer({ binary, port: await freePort(), dbFile: path.join(tmp, 'temporal.db'), fastSqlite: true });
  cleanups.push(['Temporal dev server', () => devServer.stop()]);
  const temporal = await connectTemporal(devServer.address, 'default');
  cleanups.push(['Temporal client', () => temporal.connection.close()]);
  await registerSearchAttributes(temporal.connection, 'default');
  const taskQueue = `zf-bench-${randomBytes(4).toString('hex')}`;
  say(`  temporal  dev server ${devServer.address} (${version || 'temporal CLI'}; SQLite file, WAL + synchronous=off)`);

  const fake = await startEvolutionFake({
    apiKey: 'bench-evo-key',
    instances: Array.from({ length: opts.channels }, (_, i) => `loja-${i + 1}`),
    backlog: 8192,
  });
  cleanups.push(['Evolution fake', () => fake.close()]);

  const roleEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    DATABASE_URL: benchDb.url,
    TEMPORAL_ADDRESS: devServer.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATA_DIR: tmp,
    SCHEDULE_PREFIRE: opts.prefire,
    SCHEDULE_DISPATCH: String(opts.dispatch),
    SCHEDULE_SETTLE_AFTER: opts.settle,
    SEND_CHANNEL_PER_MINUTE: '1000000',
    SEND_CHANNEL_PER_HOUR: '1000000',
    SEND_CHANNEL_PER_DAY: '1000000',
    SEND_TENANT_PER_DAY: '1000000',
    SEND_PACING_MIN_GAP: '0',
    SEND_PACING_JITTER: '0',
    // The bench's two API keys schedule thousands of messages a minute.
    RATE_LIMIT_MAX: '1000000',
    // Without the dispatcher, a scheduled send holds a workflow task and a local-activity slot
    // from SCHEDULE_PREFIRE before its time until it is out: room for every message of the
    // minute at once. With it, the worker's defaults.
    ...(opts.activitySlots
      ? {
          WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: String(opts.activitySlots),
          WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: String(opts.activitySlots),
          WORKER_MAX_CONCURRENT_ACTIVITIES: String(opts.activitySlots),
        }
      : {}),
  };
  const config: Config = loadConfig(roleEnv);

  const channels: Channel[] = [];
  for (let i = 0; i < opts.channels; i++) {
    if (i < 2) {
      const { tenant, apiKey } = await createTenant(benchDb.handle.db, { name: `Loja ${i + 1}` });
      channels.push({ tenantId: tenant.id, apiKey, instance: '' });
    } else channels.push({ ...channels[i % 2], instance: '' });
    const ch = channels[i];
    ch.instance = `loja-${i + 1}`;
    await addChannel(benchDb.handle.db, { tenantId: ch.tenantId, provider: 'evolution', externalId: ch.instance, baseUrl: fake.url, apiKey: 'bench-evo-key' });
  }
  say(`  senders   ${opts.channels} Evolution instances in 2 tenants, loopback fake ${fake.url}; quotas high, pacing off; ${
      opts.dispatch ? `dispatcher on, SCHEDULE_SETTLE_AFTER ${opts.settle}` : `no dispatcher (each workflow sends), SCHEDULE_PREFIRE ${opts.prefire}`
    }`);

  // The API (in this process; it only schedules).
  const apiLog = pino({ level: config.LOG_LEVEL, base: { component: 'api' } }, pino.destination(2));
  const ingest = buildIngest({ config, db: benchDb.handle.db, client: temporal.client, log: apiLog });
  const pinger = createTemporalPinger(devServer.address);
  cleanups.push(['API pinger', () => pinger.close()]);
  const app = createApp({
    config,
    db: benchDb.handle.db,
    pingDb: benchDb.handle.ping,
    pingTemporal: pinger.ping,
    log: apiLog,
    routers: buildRouters({ config, db: benchDb.handle.db, temporal: temporal.client, ingest: ingest.ingest, log: apiLog }),
  });
  const api = await listen(app, 0, '127.0.0.1');
  cleanups.push(['API', () => api.close(2000)]);

  // The worker process, on a bundle built once.
  const bundlePath = path.join(tmp, 'workflows.js');
  fs.writeFileSync(bundlePath, (await bundleWorkflows()).code);
  const workerEnv = { ...roleEnv, BENCH_WORKFLOW_BUNDLE: bundlePath };
  const workerLog = path.join(tmp, 'worker.log');
  let worker = await startWorkerProcess(workerEnv, workerLog);
  cleanups.push(['worker', () => worker.stop()]);
  say(
    `  worker    pid ${worker.pid} (zapflow worker's wiring, prebuilt bundle): ${config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS} workflow-task / ${config.WORKER_MAX_CONCURRENT_ACTIVITIES} activity / ${config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES} local-activity slots, database pool ${config.DATABASE_POOL_SIZE}`,
  );

  const results: PhaseResult[] = [];
  results.push(
    await runPhase({ name: 'phase 1: steady worker', opts, apiUrl: api.url, channels, fake, db: benchDb.handle, client: temporal.client, explain: opts.explain, phoneBase: 0 }),
  );
  if (opts.restart) {
    results.push(
      await runPhase({
        name: `phase 2: worker restarted ${opts.restartBefore} s before the minute`,
        opts,
        apiUrl: api.url,
        channels,
        fake,
        db: benchDb.handle,
        client: temporal.client,
        explain: opts.explain,
        phoneBase: 10_000_000,
        restart: async () => {
          const t = performance.now();
          await worker.stop();
          worker = await startWorkerProcess(workerEnv, workerLog);
          return (performance.now() - t) / 1000;
        },
      }),
    );
  }

  say('\nsummary');
  say('  phase                                      p50      p99      max    sends/s  missing  twice');
  for (const r of results) {
    say(
      `  ${r.name.padEnd(40)} ${`${r.lateness.p50} ms`.padStart(8)} ${`${r.lateness.p99} ms`.padStart(8)} ${`${r.lateness.max} ms`.padStart(8)} ${r.sendsPerSecond.toFixed(0).padStart(10)} ${String(r.missing).padStart(8)} ${String(r.duplicated).padStart(6)}`,
    );
  }
  const target = results.every((r) => r.lateness.p99 <= 500);
  const intact = results.every((r) => r.missing === 0 && r.duplicated === 0 && r.workflowsCompleted === r.messages);
  say(`  target p99 ≤ 500 ms: ${target ? 'met' : 'MISSED'}; nothing lost or sent twice, every workflow completed: ${intact ? 'yes' : 'NO'}`);
  if (fs.existsSync(workerLog) && fs.statSync(workerLog).size > 0) say(`  (worker log: ${fs.readFileSync(workerLog, 'utf8').split('\n').filter(Boolean).length} lines)`);
  if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify({ options: opts, results }, null, 2)}\n`);
  return !intact;
}

if (process.argv.includes('--role')) {
  void runWorkerRole();
} else {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
