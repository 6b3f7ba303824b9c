/**
 * Campaign benchmark (`npm run bench:campaign`).
 *
 * One campaign of N recipients (default 10,000) over 3 loopback Evolution channels, each with
 * a campaign quota of Q sends per minute (default 600), created through the real API, on real
 * PostgreSQL and a Temporal dev server spawned here. Mid-run the campaign is paused (and
 * resumed a few seconds later); later the worker process is killed with SIGKILL and a new one
 * started. The Evolution fake timestamps every send it receives. Prints:
 *
 * - per channel: the achieved send rate against its quota (over the sending periods, the
 *   pause and the worker's death left out), and the most sends in any sliding minute, computed
 *   from the fake's receipt times (goal: within 2 % of the quota, never above it);
 * - Temporal work per 1,000 sends, from the campaign workflow's histories across its
 *   continue-as-new runs: WorkflowTaskCompleted and ActivityTaskScheduled events (goal: at most
 *   20 workflow tasks per 1,000 sends);
 * - the pause: how long its answer took, and when the fake received the last send before it
 *   (goal: no send received after the answer);
 * - the kill: how long until sends resumed, and per recipient: sent twice, never sent
 *   (goal: 0 and 0).
 *
 * Process layout:
 *   this process   the API (creates, pauses and resumes the campaign), the Evolution fake, the measuring
 *   child "worker" the Temporal worker wired like `zapflow worker`, on a workflow bundle built once here;
 *                  killed with SIGKILL mid-campaign and replaced by a new one
 *   temporal       `temporal server start-dev` (SQLite file, WAL + synchronous=off) on a free port
 *   postgres       a fresh database `zf_bench_<rand>` on DATABASE_URL's server, dropped at the end
 *
 * The delivery's own quotas and pacing are off (SEND_*): the campaign's quota is what is
 * measured. Run `tsx bench/campaign.ts --help`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig } from '../src/config';
import { openDb, type DbHandle } from '../src/db/client';
import { campaignWorkflowId } from '../src/domain/workflowIds';
import { buildIngest } from '../src/ingest';
import { buildProviders } from '../src/runtime';
import { addChannel } from '../src/services/channels';
import { createTenant } from '../src/services/tenants';
import { findTemporalCli } from '../src/temporal/binary';
import { connectTemporal, createTemporalPinger, registerSearchAttributes } from '../src/temporal/connect';
import { freePort, startDevServer } from '../src/temporal/devServer';
import { bundleWorkflows, startWorker } from '../src/worker';
import { startEvolutionFake, type EvolutionSent } from '../test/fakes';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MINUTE = 60_000;

interface Options {
  recipients: number;
  quota: number;
  channels: number;
  pauseAt: number;
  pauseFor: number;
  killAt: number;
  heartbeat: string;
  json?: string;
  keepDb: boolean;
}

const HELP = `tsx bench/campaign.ts [flags]

  --recipients N    recipients of the campaign (default 10000)
  --quota N         the campaign's perChannelPerMinute on each channel (default 600)
  --channels N      Evolution instances the sends rotate over (default 3)
  --pause-at F      pause when this fraction of the recipients has been received (default 0.3; 0: no pause)
  --pause-for S     seconds paused before the resume (default 5)
  --kill-at F       SIGKILL the worker at this fraction, then start a new one (default 0.6; 0: no kill)
  --heartbeat D     CAMPAIGN_HEARTBEAT_TIMEOUT: how soon a dead worker's batch is taken over (default 30s, zapflow's default)
  --json FILE       also write the results as JSON
  --keep-db         do not drop the database at the end

Environment: DATABASE_URL (server to create the bench database on; default ${DEFAULT_DATABASE_URL}),
TEMPORAL_CLI_PATH, BENCH_LOG_LEVEL (default warn).`;

function parseOptions(argv: string[]): Options {
  const o: Options = { recipients: 10_000, quota: 600, channels: 3, pauseAt: 0.3, pauseFor: 5, killAt: 0.6, heartbeat: '30s', keepDb: false };
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
    const fraction = () => {
      const n = Number(next());
      if (!(n >= 0 && n < 1)) throw new Error(`${flag} must be a fraction in [0, 1)`);
      return n;
    };
    switch (flag) {
      case '--recipients': o.recipients = int(); break;
      case '--quota': o.quota = int(); break;
      case '--channels': o.channels = int(); break;
      case '--pause-at': o.pauseAt = fraction(); break;
      case '--pause-for': o.pauseFor = int(); break;
      case '--kill-at': o.killAt = fraction(); break;
      case '--heartbeat': o.heartbeat = next(); break;
      case '--json': o.json = next(); break;
      case '--keep-db': o.keepDb = true; break;
      case '--help': case '-h': say(HELP); process.exit(0);
      // falls through (process.exit never returns)
      default: throw new Error(`unknown flag ${flag} (see --help)`);
    }
  }
  if (o.pauseAt && o.killAt && o.killAt <= o.pauseAt) throw new Error('--kill-at must come after --pause-at');
  return o;
}

// ───────────────────────────── worker process ─────────────────────────────

type WorkerMessage = { type: 'ready' } | { type: 'failed'; error: string };

/** Child role: the worker as `zapflow worker` wires it, on a prebuilt bundle. */
async function runWorkerRole(): Promise<void> {
  const send = (m: WorkerMessage) => process.send?.(m);
  process.on('SIGINT', () => {}); // the parent stops it
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
      scheduleDispatch: false,
      log,
    });
    process.on('SIGTERM', () => {
      void worker.shutdown().then(() => db.close()).finally(() => process.exit(0));
    });
    send({ type: 'ready' });
  } catch (err) {
    send({ type: 'failed', error: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

interface WorkerHandle {
  pid?: number;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function startWorkerProcess(env: NodeJS.ProcessEnv, logFile: string): Promise<WorkerHandle> {
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = fork(__filename, ['--role', 'worker'], { execArgv: process.execArgv, env, stdio: ['ignore', out, out, 'ipc'] });
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
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

// ───────────────────────────── set-up ─────────────────────────────

async function createBenchDatabase(): Promise<{ handle: DbHandle; url: string; name: string; drop(): Promise<void> }> {
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
  return {
    handle,
    url: url.toString(),
    name,
    async drop() {
      await handle.close().catch(() => {});
      const cleanup = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

// ───────────────────────────── analysis ─────────────────────────────

/** The most timestamps (sorted) within any window [t, t + windowMs). */
function maxInSlidingWindow(times: number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j] - times[i] >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/**
 * Sends per minute while sending: the receipts split where they stop for longer than
 * `gapMs` (the pause, the dead worker), each period's sends after its first over its span.
 */
function sendingRate(times: number[], gapMs: number): { perMinute: number; periods: number; spanMs: number } {
  let sends = 0;
  let span = 0;
  let periods = 0;
  for (let start = 0; start < times.length; ) {
    let end = start;
    while (end + 1 < times.length && times[end + 1] - times[end] <= gapMs) end++;
    if (end > start) {
      sends += end - start;
      span += times[end] - times[start];
      periods++;
    }
    start = end + 1;
  }
  return { perMinute: span > 0 ? (sends / span) * MINUTE : NaN, periods, spanMs: span };
}

// ───────────────────────────── the bench ─────────────────────────────

type Cleanup = () => void | Promise<void>;

/** What the bench reads of the API's answers. */
interface CampaignBody {
  id?: string;
  state?: string;
  counts?: { sent?: number; [key: string]: unknown };
  error?: unknown;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cleanups: Array<[string, Cleanup]> = [];
  const cleanup = async () => {
    for (const [what, fn] of cleanups.reverse()) {
      await Promise.resolve()
        .then(fn)
        .catch((err) => say(`  cleanup (${what}) failed: ${(err as Error).message}`));
    }
    cleanups.length = 0;
  };
  process.on('SIGINT', () => {
    say('\ninterrupted: cleaning up');
    void cleanup().then(() => process.exit(130));
  });
  let failed = true;
  try {
    failed = await bench(opts, cleanups);
  } finally {
    say('\ncleaning up…');
    await cleanup();
  }
  process.exit(failed ? 1 : 0);
}

async function bench(opts: Options, cleanups: Array<[string, Cleanup]>): Promise<boolean> {
  // One secret key for this process (which seals the channels' credentials) and the workers (which open them).
  process.env.ZAPFLOW_SECRET_KEY ||= randomBytes(32).toString('base64');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zf-bench-campaign-'));
  cleanups.push(['temp dir', () => fs.rmSync(tmp, { recursive: true, force: true })]);
  say('zapflow campaign bench');
  say(`  machine   ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);

  const benchDb = await createBenchDatabase();
  cleanups.push(['database', () => (opts.keepDb ? (say(`  kept database ${benchDb.name}`), benchDb.handle.close()) : benchDb.drop())]);
  const binary = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new Error('Temporal CLI not found: set TEMPORAL_CLI_PATH or run scripts/setup.sh temporal');
  const devServer = await startDevServer({ binary, port: await freePort(), dbFile: path.join(tmp, 'temporal.db'), fastSqlite: true });
  cleanups.push(['Temporal dev server', () => devServer.stop()]);
  const temporal = await connectTemporal(devServer.address, 'default');
  cleanups.push(['Temporal client', () => temporal.connection.close()]);
  await registerSearchAttributes(temporal.connection, 'default');
  const taskQueue = `zf-bench-${randomBytes(4).toString('hex')}`;

  const instances = Array.from({ length: opts.channels }, (_, i) => `loja-${i + 1}`);
  const fake = await startEvolutionFake({ apiKey: 'bench-evo-key', instances, maxRecorded: 1_000, backlog: 4096 });
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
    // The campaign's own quota is measured: the delivery's quotas and pacing are off.
    SEND_CHANNEL_PER_MINUTE: '0',
    SEND_CHANNEL_PER_HOUR: '0',
    SEND_CHANNEL_PER_DAY: '0',
    SEND_TENANT_PER_DAY: '0',
    SEND_PACING_MIN_GAP: '0',
    SEND_PACING_JITTER: '0',
    CAMPAIGN_HEARTBEAT_TIMEOUT: opts.heartbeat,
    RATE_LIMIT_MAX: '1000000',
  };
  const config = loadConfig(roleEnv);

  const { tenant, apiKey } = await createTenant(benchDb.handle.db, { name: 'Loja Bench' });
  for (const instance of instances) {
    await addChannel(benchDb.handle.db, { tenantId: tenant.id, provider: 'evolution', externalId: instance, baseUrl: fake.url, apiKey: 'bench-evo-key' });
  }

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
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${api.url}/api${route}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as CampaignBody };
  };

  const bundlePath = path.join(tmp, 'workflows.js');
  fs.writeFileSync(bundlePath, (await bundleWorkflows()).code);
  const workerEnv = { ...roleEnv, BENCH_WORKFLOW_BUNDLE: bundlePath };
  const workerLog = path.join(tmp, 'worker.log');
  let worker = await startWorkerProcess(workerEnv, workerLog);
  cleanups.push(['worker', () => worker.stop()]);

  const expectedMinutes = opts.recipients / (opts.quota * opts.channels);
  say(`  database  PostgreSQL, fresh database ${benchDb.name}; Temporal dev server ${devServer.address} (SQLite, WAL + synchronous=off)`);
  say(`  senders   ${opts.channels} Evolution instances on a loopback fake; delivery quotas and pacing off; campaign quota ${opts.quota}/min per channel`);
  say(`  worker    pid ${worker.pid} (zapflow worker's wiring); CAMPAIGN_PAGE_SIZE ${config.CAMPAIGN_PAGE_SIZE}, CAMPAIGN_BATCH_MAX ${config.CAMPAIGN_BATCH_MAX / 1000} s, CAMPAIGN_HEARTBEAT_TIMEOUT ${config.CAMPAIGN_HEARTBEAT_TIMEOUT / 1000} s`);
  say(`  campaign  ${opts.recipients} recipients, at the quota about ${expectedMinutes.toFixed(1)} min of sending`);

  // ── the campaign ──
  const phones = Array.from({ length: opts.recipients }, (_, i) => `55119${String(i + 1).padStart(8, '0')}`);
  const t0 = performance.now();
  const created = await call('POST', '/campaigns', {
    name: 'Bench: oferta da semana',
    channels: instances,
    message: 'Oi {{name}}! A oferta da semana chegou.',
    audience: { phones },
    quotas: { perChannelPerMinute: opts.quota },
  });
  if (created.status !== 201) throw new Error(`campaign not created: ${created.status} ${JSON.stringify(created.body)}`);
  const campaignId = String(created.body.id);
  say(`  created in ${(performance.now() - t0).toFixed(0)} ms (${opts.recipients} recipients resolved in one statement): ${campaignId}`);

  const want = new Set(phones);
  const receipts = (): EvolutionSent[] => fake.sent.filter((s) => want.has(s.number));
  const untilReceived = async (n: number) => {
    while (receipts().length < n) await sleep(50);
  };

  // ── pause, then resume ──
  let pause: { requestedAt: number; answeredAt: number; status: number; lastBefore: number; receivedAfter: number; sentAtAnswer: number } | undefined;
  if (opts.pauseAt > 0) {
    await untilReceived(Math.floor(opts.recipients * opts.pauseAt));
    const requestedAt = Date.now();
    const res = await call('POST', `/campaigns/${campaignId}/pause`);
    const answeredAt = Date.now();
    const atAnswer = receipts();
    await sleep(opts.pauseFor * 1000);
    const after = receipts().filter((s) => s.receivedAt > answeredAt);
    pause = {
      requestedAt,
      answeredAt,
      status: res.status,
      lastBefore: Math.max(...atAnswer.map((s) => s.receivedAt)),
      receivedAfter: after.length,
      sentAtAnswer: atAnswer.length,
    };
    say(
      `  paused at ${atAnswer.length} sends: answered in ${answeredAt - requestedAt} ms (${res.status}, state ${String(res.body.state)}); last send received ${answeredAt - pause.lastBefore} ms before the answer; ${after.length} received after it in ${opts.pauseFor} s`,
    );
    const resumed = await call('POST', `/campaigns/${campaignId}/resume`);
    say(`  resumed (${resumed.status}, state ${String(resumed.body.state)})`);
  }

  // ── SIGKILL the worker, start a new one ──
  let kill: { at: number; sendsBefore: number; recoveredAfterMs: number; restartMs: number } | undefined;
  if (opts.killAt > 0) {
    await untilReceived(Math.floor(opts.recipients * opts.killAt));
    const sendsBefore = receipts().length;
    const at = Date.now();
    await worker.kill();
    const t = performance.now();
    worker = await startWorkerProcess(workerEnv, workerLog);
    const restartMs = performance.now() - t;
    say(`  SIGKILL to the worker at ${sendsBefore} sends; a new worker polling after ${(restartMs / 1000).toFixed(1)} s`);
    while (!receipts().some((s) => s.receivedAt > at + restartMs)) await sleep(50);
    const first = Math.min(...receipts().filter((s) => s.receivedAt > at).map((s) => s.receivedAt));
    kill = { at, sendsBefore, recoveredAfterMs: first - at, restartMs };
    say(`  sends resumed ${((first - at) / 1000).toFixed(1)} s after the kill (the batch is taken over once its heartbeat times out)`);
  }

  // ── until done ──
  const deadline = Date.now() + (expectedMinutes * 2 + 5) * MINUTE;
  let view: CampaignBody = {};
  for (;;) {
    view = (await call('GET', `/campaigns/${campaignId}`)).body;
    if (view.state === 'completed' || Date.now() > deadline) break;
    await sleep(1_000);
  }
  await sleep(2_000); // a late duplicate would show here
  const all = receipts();
  say(`  campaign ${String(view.state)}: ${JSON.stringify(view.counts)}`);

  // ── figures ──
  say('\nsend rate per channel (from the fake\'s receipt times)');
  const channelResults = instances.map((instance) => {
    const times = all.filter((s) => s.instance === instance).map((s) => s.receivedAt).sort((a, b) => a - b);
    const rate = sendingRate(times, 2_000);
    const maxMinute = maxInSlidingWindow(times, MINUTE);
    const deviation = (rate.perMinute - opts.quota) / opts.quota;
    say(
      `  ${instance}: ${times.length} sends; ${rate.perMinute.toFixed(1)}/min over ${(rate.spanMs / 1000).toFixed(0)} s of sending (${rate.periods} periods) = ${(deviation * 100).toFixed(2)} % vs quota ${opts.quota}; most in any sliding minute: ${maxMinute}`,
    );
    return { instance, sends: times.length, perMinute: rate.perMinute, deviationPct: deviation * 100, maxInSlidingMinute: maxMinute };
  });

  // Temporal work: every run of the campaign's workflow.
  let workflowTasks = 0;
  let activities = 0;
  let events = 0;
  let runs = 0;
  const workflowId = campaignWorkflowId(campaignId);
  for await (const wf of temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs++;
    const history = await temporal.client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      events++;
      if (e.workflowTaskCompletedEventAttributes) workflowTasks++;
      if (e.activityTaskScheduledEventAttributes) activities++;
    }
  }
  const sent = Number(view.counts?.sent ?? 0);
  const perThousand = (n: number) => (sent > 0 ? (n / sent) * 1000 : NaN);
  say('\nTemporal work (the campaign workflow, every run)');
  say(
    `  ${runs} runs, ${events} history events: ${workflowTasks} workflow tasks (${perThousand(workflowTasks).toFixed(2)} per 1,000 sends), ${activities} activities (${perThousand(activities).toFixed(2)} per 1,000 sends)`,
  );

  const perPhone = new Map<string, number>();
  for (const s of all) perPhone.set(s.number, (perPhone.get(s.number) ?? 0) + 1);
  const twice = [...perPhone.values()].filter((n) => n > 1).length;
  const lost = phones.filter((p) => !perPhone.has(p)).length;
  say('\nexactly once');
  say(`  ${perPhone.size} recipients received, ${twice} sent twice, ${lost} never sent`);

  const rateOk = channelResults.every((c) => Math.abs(c.deviationPct) <= 2);
  const neverAbove = channelResults.every((c) => c.maxInSlidingMinute <= opts.quota);
  const tasksOk = perThousand(workflowTasks) <= 20;
  const pauseOk = !pause || (pause.receivedAfter === 0 && pause.lastBefore <= pause.answeredAt);
  const intact = twice === 0 && lost === 0 && view.state === 'completed';
  say('\nsummary');
  say(`  rate within 2 % of the quota: ${rateOk ? 'yes' : 'NO'}; never above it in a sliding minute: ${neverAbove ? 'yes' : 'NO'}`);
  say(`  workflow tasks per 1,000 sends ≤ 20: ${tasksOk ? 'yes' : 'NO'} (${perThousand(workflowTasks).toFixed(2)})`);
  if (pause) say(`  no send received after the pause answer: ${pauseOk ? 'yes' : 'NO'} (answer ${pause.answeredAt - pause.requestedAt} ms, last send ${pause.answeredAt - pause.lastBefore} ms before it)`);
  if (kill) say(`  after SIGKILL: ${twice} sent twice, ${lost} lost: ${intact ? 'yes' : 'NO'} (sends resumed after ${(kill.recoveredAfterMs / 1000).toFixed(1)} s)`);
  if (opts.json) {
    fs.writeFileSync(opts.json, `${JSON.stringify({ options: opts, channels: channelResults, temporal: { runs, events, workflowTasks, activities, sent }, pause, kill, twice, lost, counts: view.counts }, null, 2)}\n`);
  }
  return !(rateOk && neverAbove && tasksOk && pauseOk && intact);
}

if (process.argv.includes('--role')) {
  void runWorkerRole();
} else {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
