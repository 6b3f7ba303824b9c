/**
 * Funnel benchmark (`npm run bench:funnels`).
 *
 * Distinct contacts click the same template button ("Pode falar sim!") through the real
 * webhook endpoint; the funnel sends a message, waits 5 s, sends another. Real PostgreSQL, a
 * Temporal dev server spawned here (WAL + synchronous=off, priority and fairness on, as
 * `npm run dev`), the production worker command in a child process, the API in this process,
 * and a loopback Evolution fake that timestamps every send. Two tenants, each on its own number
 * with the channel's send limits (--send-limits, Meta's 80/s by default; "off": none).
 *
 * Phases, each waiting for its runs to complete before the next:
 * - steady: tenant A at --steady-rate (10/s) for --steady-window (30 s), tenant B at
 *   --fairness-rate (2/s): the steady-state latencies and CPU per click;
 * - paced: tenant A at --paced-rate (40/s, below the channel's rate) for --paced-window (60 s):
 *   click → first send p99 while clicks arrive below the channel rate;
 * - burst: --contacts (10,000) of tenant A within --window (60 s), tenant B still at 2/s
 *   (--fairness off: not at all): the first-send rate ÷ min(click rate, channel rate), B's
 *   latencies beside its steady ones, worker CPU per click beside the steady phase's.
 * Then: funnel runs completed/s in the burst ÷ empty workflows/s on the same server (and the
 * CPU per empty workflow), the Temporal cost per click from --sample (20) runs' histories, how
 * many funnel-run and contact workflows the clicks started (visibility count), and that every
 * contact got exactly its two messages (nothing dropped, nothing twice).
 *
 *   tsx bench/funnels.ts [--contacts 10000] [--window 60] [--delay 5s] [--empty 1000] [--drain 1200]
 *                        [--steady-rate 10] [--steady-window 30] [--paced-rate 40] [--paced-window 60]
 *                        [--fairness on|off] [--fairness-rate 2] [--sample 20] [--warmup 50]
 *                        [--send-limits '{"perMinute":4800,"minGapMs":12}'|off]
 *                        [--wft N] [--la N] [--cache N (default: sized to memory)] [--dispatcher api]
 *   A rate or window of 0 skips that phase; --warmup (50) clicks at 10/s come first, not reported.
 *   BENCH_WORKER_NODE_ARGS: extra node flags for the worker (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig } from '../src/config';
import { openDb } from '../src/db/client';
import { buildIngest } from '../src/ingest';
import { addChannel, updateChannel } from '../src/services/channels';
import { FunnelService } from '../src/services/funnels';
import { createTenant } from '../src/services/tenants';
import { findTemporalCli } from '../src/temporal/binary';
import { registerSearchAttributes } from '../src/temporal/connect';
import { freePort, startDevServer } from '../src/temporal/devServer';
import { WorkflowType } from '../src/workflows/definitions';
import { startEvolutionFake } from '../test/fakes';
import { CpuAccounting, type CpuReport } from './cpuAccounting';

const ROOT = path.resolve(__dirname, '..');
const EventType = temporal.api.enums.v1.EventType;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Peak resident set (VmHWM) of a process, in MB, from /proc. */
function peakRssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
}

/** Resets a process's peak resident set (VmHWM), so the next reading is this phase's peak. */
function resetPeakRss(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not Linux, or not allowed: the peak then spans the whole bench
  }
}

/** One click of the schedule: who, through which number, when (ms from the phase's start). */
interface Click {
  phone: string;
  instance: string;
  secret: string;
  tenant: 'A' | 'B';
  at: number;
}

/** `count` distinct contacts, evenly spread over `windowS`; phones unique per (phase, tenant). */
function schedule(phase: number, tenant: 'A' | 'B', count: number, windowS: number, instance: string, secret: string): Click[] {
  const t = tenant === 'A' ? 1 : 2;
  return Array.from({ length: count }, (_, i) => ({
    phone: `55119${phase}${t}${String(i).padStart(6, '0')}`,
    instance,
    secret,
    tenant,
    at: (i * windowS * 1000) / count,
  }));
}

interface Latencies {
  clicks: number;
  firstSend: number[];
  completion: number[];
}

interface PhaseResult {
  name: string;
  clickSeconds: number;
  clickRate: number;
  /** First sends of tenant A per second, from the first click to the last first send. */
  firstSendRate: number;
  /** Every send of the phase per second over the same span. */
  sendRate: number;
  lastCompletionS: number;
  byTenant: Record<'A' | 'B', Latencies>;
  cpu?: CpuReport;
  workerPeakMb: number;
  incomplete: number;
}

async function main(): Promise<void> {
  const contacts = Number(flag('contacts', '10000'));
  const windowS = Number(flag('window', '60'));
  const delay = flag('delay', '5s');
  const steadyRate = Number(flag('steady-rate', '10'));
  const steadyS = Number(flag('steady-window', '30'));
  const pacedRate = Number(flag('paced-rate', '40'));
  const pacedS = Number(flag('paced-window', '60'));
  const fairness = flag('fairness', 'on') !== 'off';
  const fairnessRate = Number(flag('fairness-rate', '2'));
  const sample = Number(flag('sample', '20'));
  // The channel's own limits (Meta: 80 messages/s per number); "off": none at all.
  const sendLimitsFlag = flag('send-limits', '{"perMinute":4800,"minGapMs":12}');
  const sendLimits = sendLimitsFlag === 'off' ? undefined : (JSON.parse(sendLimitsFlag) as { perMinute?: number; minGapMs?: number; jitterMs?: number });
  const channelRate = Math.min(
    sendLimits?.perMinute ? sendLimits.perMinute / 60 : Infinity,
    sendLimits?.minGapMs ? 1000 / (sendLimits.minGapMs + (sendLimits.jitterMs ?? 0) / 2) : Infinity,
  );
  // Each awaited result is a long poll; the dev server refuses more than ~2,000 at once.
  const emptyCount = Number(flag('empty', '1000'));
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
  const log = pino({ level: 'warn' });
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });

  // Database of its own.
  const dbName = `zf_bench_funnels_${randomBytes(4).toString('hex')}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const dbUrl = new URL(baseUrl);
  dbUrl.pathname = `/${dbName}`;
  const db = await openDb({ url: dbUrl.toString(), poolSize: 20 });
  await db.migrate();

  // Temporal dev server, as the embedded default runs it.
  const temporalPort = await freePort();
  const temporal = await startDevServer({ binary: findTemporalCli()!, port: temporalPort, fastSqlite: true });
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  await registerSearchAttributes(connection, 'default');

  const totalClicks = Number(flag('warmup', '50')) + steadyRate * steadyS + pacedRate * pacedS + contacts + (fairness ? fairnessRate * (steadyS + windowS) : 0);
  const evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro', 'loja-bairro'], maxRecorded: totalClicks * 3 + 1000 });
  // Tenant A bursts; tenant B, on its own number, clicks at a trickle (the fairness probe).
  const tenants = { A: { instance: 'loja-centro', secret: 'bench' }, B: { instance: 'loja-bairro', secret: 'bench-b' } } as const;
  for (const [name, t] of Object.entries(tenants)) {
    const { tenant } = await createTenant(db.db, { name: `Bench ${name}` });
    const channel = await addChannel(db.db, { tenantId: tenant.id, provider: 'evolution', externalId: t.instance, baseUrl: evolution.server.url, apiKey: 'evo-key', webhookSecret: t.secret });
    if (sendLimits) await updateChannel(db.db, { channel: channel.id, change: { sendLimits } });
    await new FunnelService(db.db).create(tenant.id, {
      name: 'Pode falar sim',
      trigger: { type: 'button', phrase: 'Pode falar sim!' },
      steps: [
        { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}! Que bom que respondeu.' } },
        { id: 'wait', type: 'delay', duration: delay },
        { id: 'offer', type: 'send', message: { type: 'text', text: 'Temos uma condição especial hoje.' } },
      ],
    });
  }
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: dbUrl.toString(),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: 'zapflow-bench',
    LOG_LEVEL: 'warn',
    CONTACT_IDLE_TIMEOUT: '2m',
    DISPATCH_CONCURRENCY: flag('dispatch-concurrency', '64'),
    // Dispatch in this process (the API's), not in the worker: a signalWithStart costs ~2.5 ms
    // of its caller's CPU, which the worker's event loop needs for its local activities.
    DISPATCHER: flag('dispatcher', 'api'),
    DATABASE_POOL_SIZE: '20',
    // Unless given, the worker's defaults (src/config.ts), as production runs them.
    ...(flag('cache', '') ? { WORKER_MAX_CACHED_WORKFLOWS: flag('cache', '') } : {}),
    ...(flag('wft', '') ? { WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: flag('wft', '') } : {}),
    ...(flag('la', '') ? { WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: flag('la', '') } : {}),
    PORT: '0',
    // The defaults' per-number safety limits are off: the channels' own --send-limits (Meta's
    // 80/s by default here) are the only pacing, as the issue's scenario asks.
    SEND_CHANNEL_PER_MINUTE: '0',
    SEND_CHANNEL_PER_HOUR: '0',
    SEND_CHANNEL_PER_DAY: '0',
    SEND_TENANT_PER_DAY: '0',
    SEND_PACING_MIN_GAP: '0',
    SEND_PACING_JITTER: '0',
  };
  const config = loadConfig(env);

  // The production worker command, in its own process.
  const workerLog = path.join(os.tmpdir(), `zapflow-bench-worker-${process.pid}.log`);
  // BENCH_WORKER_NODE_ARGS: extra node flags for the worker, as in the other benches (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const worker: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin/zapflow.js'), 'worker'], {
    env,
    stdio: ['ignore', fs.openSync(workerLog, 'w'), fs.openSync(workerLog, 'a')],
  });

  // The API with the real webhook route, in this process; as `zapflow api`, it dispatches
  // only with DISPATCHER=api (by default the worker process does).
  const { ingest, dispatcher, funnelTriggers } = buildIngest({ config, db: db.db, client, log, mode: config.DISPATCHER === 'api' ? 'inline' : 'notify' });
  dispatcher?.start();
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: async () => {},
    log,
    routers: buildRouters({ config, db: db.db, temporal: client, ingest, log, funnelTriggers }),
  });
  const api = await listen(app, 0, '127.0.0.1');
  const apiPort = Number(new URL(api.url).port);
  await new Promise((r) => setTimeout(r, 3000)); // the worker bundles its workflows

  // The clicks: each contact once, at its scheduled time, through the real webhook endpoint.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const clickAt = new Map<string, number>();
  let errors = 0;
  const post = (click: Click) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({
        event: 'messages.upsert',
        instance: click.instance,
        data: {
          key: { remoteJid: `${click.phone}@s.whatsapp.net`, fromMe: false, id: `3EB0${randomBytes(9).toString('hex').toUpperCase()}` },
          pushName: 'Cliente',
          status: 'DELIVERY_ACK',
          message: { templateButtonReplyMessage: { selectedId: 'pode_falar_sim', selectedDisplayText: 'Pode falar sim!', selectedIndex: 0 } },
          messageType: 'templateButtonReplyMessage',
          messageTimestamp: Math.floor(Date.now() / 1000),
        },
        apikey: null,
      });
      clickAt.set(click.phone, Date.now());
      const req = http.request(
        { host: '127.0.0.1', port: apiPort, method: 'POST', path: '/webhooks/evolution', agent, headers: { 'content-type': 'application/json', 'x-zapflow-secret': click.secret, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          if (res.statusCode !== 200) errors++;
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });

  const sendsByPhone = () => {
    const m = new Map<string, number[]>();
    for (const s of evolution.sent) {
      const list = m.get(s.number) ?? [];
      list.push(s.receivedAt);
      m.set(s.number, list);
    }
    for (const list of m.values()) list.sort((a, b) => a - b);
    return m;
  };

  // Where the CPU goes, per click: this process (API, dispatcher, the clicks, the provider
  // fake), the worker, the Temporal server, PostgreSQL.
  const cpu = new CpuAccounting({ bench: process.pid, worker: worker.pid, temporal: temporal.process.pid });

  /**
   * One phase: its clicks on schedule, then wait (at most drainS after the last click) until
   * every contact of the phase has its two messages. CPU and the worker's peak RSS cover the
   * phase from its first click to its last completion.
   */
  const runPhase = async (name: string, clicks: Click[], windowS: number, drainS: number): Promise<PhaseResult> => {
    clicks.sort((a, b) => a.at - b.at);
    const sentBefore = evolution.sent.length;
    resetPeakRss(worker.pid!);
    const cpuBefore = cpu.snapshot();
    const started = Date.now();
    const inflight: Promise<void>[] = [];
    for (const click of clicks) {
      const wait = started + click.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(post(click));
    }
    await Promise.all(inflight);
    const clicksDone = Date.now();
    // An overloaded stack is late, not lossy: only what has not arrived drainS after the
    // last click counts as missing.
    const deadline = clicksDone + drainS * 1000;
    let sends = sendsByPhone();
    let last = -1;
    let lastPrint = 0;
    const doneCount = () => clicks.filter((c) => (sends.get(c.phone)?.length ?? 0) >= 2).length;
    for (;;) {
      const done = doneCount();
      if (done === clicks.length || Date.now() >= deadline) break;
      if (done !== last && Date.now() - lastPrint > 5000) {
        console.log(`  ${name} ${((Date.now() - started) / 1000).toFixed(0)} s: ${done}/${clicks.length} runs completed`);
        last = done;
        lastPrint = Date.now();
      }
      await new Promise((r) => setTimeout(r, 500));
      sends = sendsByPhone();
    }
    const cpuReport = cpu.report(cpuBefore, cpu.snapshot());
    const workerPeakMb = peakRssMb(worker.pid!);
    const byTenant: Record<'A' | 'B', Latencies> = { A: { clicks: 0, firstSend: [], completion: [] }, B: { clicks: 0, firstSend: [], completion: [] } };
    let lastFirstA = started;
    let lastCompletion = started;
    let incomplete = 0;
    for (const c of clicks) {
      const times = sends.get(c.phone) ?? [];
      const at = clickAt.get(c.phone)!;
      const t = byTenant[c.tenant];
      t.clicks++;
      if (times.length < 2) incomplete++;
      if (times[0] !== undefined) {
        t.firstSend.push(times[0] - at);
        if (c.tenant === 'A') lastFirstA = Math.max(lastFirstA, times[0]);
      }
      if (times[1] !== undefined) {
        t.completion.push(times[1] - at);
        lastCompletion = Math.max(lastCompletion, times[1]);
      }
    }
    for (const t of Object.values(byTenant)) {
      t.firstSend.sort((a, b) => a - b);
      t.completion.sort((a, b) => a - b);
    }
    const spanS = Math.max(0.001, (lastFirstA - started) / 1000);
    const phaseSends = evolution.sent.slice(sentBefore).filter((s) => s.receivedAt <= lastFirstA).length;
    return {
      name,
      clickSeconds: (clicksDone - started) / 1000,
      clickRate: byTenant.A.clicks / windowS,
      firstSendRate: byTenant.A.firstSend.length / spanS,
      sendRate: phaseSends / spanS,
      lastCompletionS: (lastCompletion - started) / 1000,
      byTenant,
      cpu: cpuReport,
      workerPeakMb,
      incomplete,
    };
  };

  console.log(
    `bench:funnels: funnel send, wait ${delay}, send; channel limits ${sendLimits ? JSON.stringify(sendLimits) : 'off'}` +
      `\n  phases: steady ${steadyRate}/s for ${steadyS} s, paced ${pacedRate}/s for ${pacedS} s, burst ${contacts} contacts within ${windowS} s` +
      (fairness ? `; tenant B clicks ${fairnessRate}/s during steady and burst` : ''),
  );
  const drainS = Number(flag('drain', '1200'));
  const phases: PhaseResult[] = [];
  const withB = (phase: number, seconds: number) => (fairness ? schedule(phase, 'B', Math.round(fairnessRate * seconds), seconds, tenants.B.instance, tenants.B.secret) : []);
  // Warm-up, not reported: the worker's first tasks (JIT, bundle load, pools) would count against the steady phase.
  const warmup = Number(flag('warmup', '50'));
  if (warmup > 0) await runPhase('warm-up', schedule(0, 'A', warmup, warmup / 10, tenants.A.instance, tenants.A.secret), warmup / 10, 120);
  if (steadyRate > 0 && steadyS > 0) {
    phases.push(await runPhase('steady', [...schedule(1, 'A', Math.round(steadyRate * steadyS), steadyS, tenants.A.instance, tenants.A.secret), ...withB(1, steadyS)], steadyS, 300));
  }
  if (pacedRate > 0 && pacedS > 0) {
    phases.push(await runPhase('paced', schedule(2, 'A', Math.round(pacedRate * pacedS), pacedS, tenants.A.instance, tenants.A.secret), pacedS, 600));
  }
  const burst = await runPhase('burst', [...schedule(3, 'A', contacts, windowS, tenants.A.instance, tenants.A.secret), ...withB(3, windowS)], windowS, drainS);
  phases.push(burst);
  await new Promise((r) => setTimeout(r, 2000)); // anything sent twice would show up now
  const finalSends = sendsByPhone();
  let dropped = 0;
  let duplicated = 0;
  for (const phone of clickAt.keys()) {
    const n = finalSends.get(phone)?.length ?? 0;
    if (n < 2) dropped++;
    if (n > 2) duplicated++;
  }
  const burstCompletions = burst.byTenant.A.completion.length;
  const firstCompletion = Math.min(...[...clickAt.entries()].filter(([p]) => p.startsWith('5511931')).map(([p]) => finalSends.get(p)?.[1] ?? Infinity));
  const burstStart = Math.min(...[...clickAt.entries()].filter(([p]) => p.startsWith('5511931')).map(([, at]) => at));
  const completionWindowS = (burstStart + burst.lastCompletionS * 1000 - firstCompletion) / 1000;
  const runsPerS = burstCompletions / Math.max(completionWindowS, windowS);

  // Temporal's cost per click, from the recorded histories of a sample of the burst's runs,
  // and what the clicks started: one run each, and (the fast path's promise) no contact workflow.
  const count = async (query: string) => {
    try {
      return Number((await client.workflow.count(query)).count);
    } catch {
      return NaN;
    }
  };
  const runCount = await count(`WorkflowType='${WorkflowType.funnelRun}'`);
  const contactCount = await count(`WorkflowType='${WorkflowType.contact}'`);
  const allCount = await count('');
  const sampleIds: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType='${WorkflowType.funnelRun}'` })) {
    sampleIds.push(wf.workflowId);
    if (sampleIds.length >= sample) break;
  }
  const cost = { starts: 0, workflowTasks: 0, timers: 0, activities: 0, signals: 0, localActivities: new Map<string, number>() };
  for (const id of sampleIds) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const countOf = (type: temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === type).length;
    cost.starts += countOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
    cost.workflowTasks += countOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    cost.timers += countOf(EventType.EVENT_TYPE_TIMER_STARTED);
    cost.activities += countOf(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    cost.signals += countOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    for (const e of events) {
      const marker = e.markerRecordedEventAttributes;
      if (marker?.markerName !== 'core_local_activity') continue;
      const data = marker.details?.data?.payloads?.[0]?.data;
      const type = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type : '?';
      cost.localActivities.set(type, (cost.localActivities.get(type) ?? 0) + 1);
    }
  }

  // The engine's floor: empty workflows on the same server, started as fast as the client can.
  const emptyQueue = 'bench-empty';
  const nativeConnection = await NativeConnection.connect({ address: temporal.address });
  const emptyWorker = await Worker.create({
    connection: nativeConnection,
    taskQueue: emptyQueue,
    workflowsPath: require.resolve('./emptyWorkflow'),
    maxConcurrentWorkflowTaskExecutions: 200,
    maxCachedWorkflows: 4000,
  });
  const emptyRun = emptyWorker.run();
  const emptyCpuBefore = cpu.snapshot();
  const emptyStarted = Date.now();
  const handles: Promise<unknown>[] = [];
  const startQueue = Array.from({ length: emptyCount }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = startQueue.shift(); i !== undefined; i = startQueue.shift()) {
        const handle = await client.workflow.start('emptyWorkflow', { taskQueue: emptyQueue, workflowId: `empty-${i}-${randomBytes(3).toString('hex')}` });
        handles.push(handle.result());
      }
    }),
  );
  await Promise.all(handles);
  const emptyRate = emptyCount / ((Date.now() - emptyStarted) / 1000);
  const emptyCpu = cpu.report(emptyCpuBefore, cpu.snapshot());
  emptyWorker.shutdown();
  await emptyRun;
  await nativeConnection.close();

  const line = (k: string, v: string) => console.log(`  ${k.padEnd(44)} ${v}`);
  const ms = (sorted: number[]) => `${percentile(sorted, 50)} / ${percentile(sorted, 99)} / ${sorted.at(-1) ?? NaN} ms`;
  // % of one core over an interval → CPU milliseconds per unit of work.
  const perUnit = (r: CpuReport | undefined, g: string, units: number) => (r ? ((((r.groups[g] ?? 0) / 100) * r.seconds * 1000) / units).toFixed(1) : '?');
  const groups = ['bench', 'worker', 'temporal', 'postgres', 'other'];
  const phaseClicks = (p: PhaseResult) => p.byTenant.A.clicks + p.byTenant.B.clicks;
  console.log('\nresults');
  line('clicks', `${clickAt.size}, non-200: ${errors}; dropped / sent twice: ${dropped} / ${duplicated}`);
  for (const p of phases) {
    console.log(`  ${p.name}: ${p.byTenant.A.clicks} clicks of tenant A in ${p.clickSeconds.toFixed(1)} s (${p.clickRate.toFixed(1)}/s)${p.byTenant.B.clicks ? `, ${p.byTenant.B.clicks} of tenant B` : ''}; last run completed ${p.lastCompletionS.toFixed(1)} s after the first click${p.incomplete ? `; ${p.incomplete} incomplete` : ''}`);
    line('  A click → first send p50 / p99 / max', ms(p.byTenant.A.firstSend));
    line('  A click → run completed p50 / p99 / max', ms(p.byTenant.A.completion));
    if (p.byTenant.B.clicks) {
      line('  B click → first send p50 / p99 / max', ms(p.byTenant.B.firstSend));
      line('  B click → run completed p50 / p99 / max', ms(p.byTenant.B.completion));
    }
    line('  A first sends/s (first click → last one)', `${p.firstSendRate.toFixed(1)}; all sends ${p.sendRate.toFixed(1)}/s; ÷ min(click rate ${p.clickRate.toFixed(1)}, channel ${Number.isFinite(channelRate) ? channelRate.toFixed(1) : '∞'}) = ${(p.firstSendRate / Math.min(p.clickRate, channelRate)).toFixed(2)}`);
    line('  CPU ms per click', `${groups.map((g) => `${g} ${perUnit(p.cpu, g, phaseClicks(p))}`).join(', ')} (machine busy ${p.cpu?.machineBusyPct.toFixed(0) ?? '?'}% over ${p.cpu?.seconds.toFixed(0) ?? '?'} s)`);
    line('  worker peak RSS', `${p.workerPeakMb} MB`);
  }
  const steady = phases.find((p) => p.name === 'steady');
  if (steady) {
    const workerPer = (p: PhaseResult) => Number(perUnit(p.cpu, 'worker', phaseClicks(p)));
    line('worker CPU per click burst ÷ steady', `${(workerPer(burst) / workerPer(steady)).toFixed(2)} (${workerPer(burst)} vs ${workerPer(steady)} ms)`);
    if (fairness) {
      line('tenant B during burst ÷ steady (first send p99)', `${(percentile(burst.byTenant.B.firstSend, 99) / percentile(steady.byTenant.B.firstSend, 99)).toFixed(2)}`);
      line('tenant B during burst ÷ steady (completion p50)', `${(percentile(burst.byTenant.B.completion, 50) / percentile(steady.byTenant.B.completion, 50)).toFixed(2)}`);
    }
  }
  line('burst: funnel runs completed per second', `${runsPerS.toFixed(1)} (completions spread over ${completionWindowS.toFixed(1)} s)`);
  line('empty workflows per second (floor)', `${emptyRate.toFixed(1)} (${emptyCount} workflows)`);
  line('funnel runs/s ÷ empty workflows/s', `${(runsPerS / emptyRate).toFixed(2)}`);
  line('CPU ms per empty workflow', `${['bench', 'temporal', 'postgres', 'other'].map((g) => `${g} ${perUnit(emptyCpu, g, emptyCount)}`).join(', ')} (its worker runs in bench)`);
  if (steady) {
    const temporalPerClick = Number(perUnit(steady.cpu, 'temporal', phaseClicks(steady)));
    const temporalPerEmpty = Number(perUnit(emptyCpu, 'temporal', emptyCount));
    line('Temporal CPU per click (steady) ÷ per empty', `${(temporalPerClick / temporalPerEmpty).toFixed(2)} (${temporalPerClick} vs ${temporalPerEmpty} ms)`);
  }
  const per = (n: number) => (sampleIds.length ? (n / sampleIds.length).toFixed(2) : '?');
  line(`Temporal cost per click (${sampleIds.length} runs' histories)`, `starts ${per(cost.starts)}, workflow tasks ${per(cost.workflowTasks)}, timers ${per(cost.timers)}, activities ${per(cost.activities)}, signals ${per(cost.signals)}, local activities ${per([...cost.localActivities.values()].reduce((a, b) => a + b, 0))} (${[...cost.localActivities].map(([k, v]) => `${k} ${per(v)}`).join(', ')})`);
  line('workflows started (visibility count)', `${runCount} funnel runs, ${contactCount} contact workflows, ${allCount} in all, for ${clickAt.size} clicks`);
  line('settings', `worker cache ${env.WORKER_MAX_CACHED_WORKFLOWS ?? 'sized to memory'}, WFT slots ${config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS}, local activity slots ${config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES}, dispatch concurrency ${env.DISPATCH_CONCURRENCY} (dispatcher in the ${env.DISPATCHER === 'api' ? 'API process' : 'worker process'})`);

  // Tear down.
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  await api.close(1000);
  await dispatcher?.stop();
  await connection.close();
  await temporal.stop();
  await evolution.close();
  await db.close();
  await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  agent.destroy();
  if (dropped > 0 || duplicated > 0 || errors > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
