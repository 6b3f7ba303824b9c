/**
 * Funnel benchmark (`npm run bench:funnels`).
 *
 * N distinct contacts (default 10,000) click the same template button ("Pode falar sim!")
 * through the real webhook endpoint, spread evenly over a window (default 60 s). The funnel
 * sends a message, waits 5 s, sends another. Real PostgreSQL, a Temporal dev server spawned
 * here (WAL + synchronous=off, as `npm run dev`), the production worker command in a child
 * process, the API in this process, and a loopback Evolution fake that timestamps every send.
 *
 * Prints: click-to-first-send p50/p99/max, funnel runs completed per second, time until the
 * last run completes, the worker's peak RSS; then, on the same Temporal server, the rate at
 * which it completes empty workflows (the engine's floor) and the funnel rate as a ratio of
 * it. Checks that every contact got exactly its two messages (nothing dropped, nothing twice).
 *
 *   tsx bench/funnels.ts [--contacts 10000] [--window 60] [--delay 5s] [--empty 1000] [--drain 1200]
 *                        [--wft N] [--la N] [--cache 4000] [--dispatcher api]
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
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig } from '../src/config';
import { openDb } from '../src/db/client';
import { buildIngest } from '../src/ingest';
import { addChannel } from '../src/services/channels';
import { FunnelService } from '../src/services/funnels';
import { createTenant } from '../src/services/tenants';
import { findTemporalCli } from '../src/temporal/binary';
import { registerSearchAttributes } from '../src/temporal/connect';
import { freePort, startDevServer } from '../src/temporal/devServer';
import { startEvolutionFake } from '../test/fakes';
import { CpuAccounting } from './cpuAccounting';

const ROOT = path.resolve(__dirname, '..');

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

async function main(): Promise<void> {
  const contacts = Number(flag('contacts', '10000'));
  const windowS = Number(flag('window', '60'));
  const delay = flag('delay', '5s');
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

  const evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro'], maxRecorded: contacts * 3 });
  const { tenant } = await createTenant(db.db, { name: 'Bench' });
  await addChannel(db.db, { tenantId: tenant.id, provider: 'evolution', externalId: 'loja-centro', baseUrl: evolution.server.url, apiKey: 'evo-key', webhookSecret: 'bench' });
  await new FunnelService(db.db).create(tenant.id, {
    name: 'Pode falar sim',
    trigger: { type: 'button', phrase: 'Pode falar sim!' },
    steps: [
      { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}! Que bom que respondeu.' } },
      { id: 'wait', type: 'delay', duration: delay },
      { id: 'offer', type: 'send', message: { type: 'text', text: 'Temos uma condição especial hoje.' } },
    ],
  });

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
    WORKER_MAX_CACHED_WORKFLOWS: flag('cache', '4000'),
    // Unless given, the worker's defaults (src/config.ts), as production runs them.
    ...(flag('wft', '') ? { WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: flag('wft', '') } : {}),
    ...(flag('la', '') ? { WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: flag('la', '') } : {}),
    PORT: '0',
    // The engine is measured, not the per-number safety limits: 10,000 sends a minute from one
    // number is what this scenario asks for (Meta allows 80/s), so quotas and pacing are off.
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

  // The clicks: evenly spread over the window, each contact once.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const phones = Array.from({ length: contacts }, (_, i) => `5511${String(900000000 + i)}`);
  const clickAt = new Map<string, number>();
  let errors = 0;
  const post = (phone: string) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({
        event: 'messages.upsert',
        instance: 'loja-centro',
        data: {
          key: { remoteJid: `${phone}@s.whatsapp.net`, fromMe: false, id: `3EB0${randomBytes(9).toString('hex').toUpperCase()}` },
          pushName: 'Cliente',
          status: 'DELIVERY_ACK',
          message: { templateButtonReplyMessage: { selectedId: 'pode_falar_sim', selectedDisplayText: 'Pode falar sim!', selectedIndex: 0 } },
          messageType: 'templateButtonReplyMessage',
          messageTimestamp: Math.floor(Date.now() / 1000),
        },
        apikey: null,
      });
      clickAt.set(phone, Date.now());
      const req = http.request(
        { host: '127.0.0.1', port: apiPort, method: 'POST', path: '/webhooks/evolution', agent, headers: { 'content-type': 'application/json', 'x-zapflow-secret': 'bench', 'content-length': Buffer.byteLength(body) } },
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

  console.log(`bench:funnels: ${contacts} contacts click within ${windowS} s; funnel: send, wait ${delay}, send`);
  // Where the CPU goes, per click: this process (API, dispatcher, the clicks, the provider
  // fake), the worker, the Temporal server, PostgreSQL.
  const cpu = new CpuAccounting({ bench: process.pid, worker: worker.pid, temporal: temporal.process.pid });
  const cpuBefore = cpu.snapshot();
  const started = Date.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < contacts; i++) {
    const due = started + (i * windowS * 1000) / contacts;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(post(phones[i]));
  }
  await Promise.all(inflight);
  const clicksDone = Date.now();

  // Wait for every contact's second message (an overloaded stack is late, not lossy): only
  // what has not arrived --drain seconds after the last click counts as dropped.
  const deadline = clicksDone + Number(flag('drain', '1200')) * 1000;
  const perPhone = () => {
    const m = new Map<string, number[]>();
    for (const s of evolution.sent) {
      const list = m.get(s.number) ?? [];
      list.push(s.receivedAt);
      m.set(s.number, list);
    }
    return m;
  };
  let sends = perPhone();
  let last = -1;
  let lastPrint = 0;
  while (Date.now() < deadline) {
    const done = phones.filter((p) => (sends.get(p)?.length ?? 0) >= 2).length;
    if (done !== last && Date.now() - lastPrint > 5000) {
      console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${done}/${contacts} runs completed`);
      last = done;
      lastPrint = Date.now();
    }
    if (done === contacts) break;
    await new Promise((r) => setTimeout(r, 500));
    sends = perPhone();
  }
  const cpuReport = cpu.report(cpuBefore, cpu.snapshot());
  await new Promise((r) => setTimeout(r, 2000)); // anything sent twice would show up now
  sends = perPhone();

  const firstSend: number[] = [];
  let completedAt = 0;
  let dropped = 0;
  let duplicated = 0;
  let firstCompletion = Infinity;
  for (const phone of phones) {
    const times = (sends.get(phone) ?? []).sort((a, b) => a - b);
    if (times.length < 2) dropped++;
    if (times.length > 2) duplicated++;
    if (times[0]) firstSend.push(times[0] - clickAt.get(phone)!);
    if (times[1]) {
      completedAt = Math.max(completedAt, times[1]);
      firstCompletion = Math.min(firstCompletion, times[1]);
    }
  }
  firstSend.sort((a, b) => a - b);
  const drainS = (completedAt - started) / 1000;
  const completionWindowS = (completedAt - firstCompletion) / 1000;
  const runsPerS = contacts / Math.max(completionWindowS, windowS);
  const workerPeak = peakRssMb(worker.pid!);

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
  emptyWorker.shutdown();
  await emptyRun;
  await nativeConnection.close();

  const line = (k: string, v: string) => console.log(`  ${k.padEnd(36)} ${v}`);
  console.log('\nresults');
  line('contacts / clicks', `${contacts} in ${((clicksDone - started) / 1000).toFixed(1)} s, non-200: ${errors}`);
  line('click → first send p50 / p99 / max', `${percentile(firstSend, 50)} / ${percentile(firstSend, 99)} / ${firstSend.at(-1)} ms`);
  line('funnel runs completed per second', `${runsPerS.toFixed(1)} (completions spread over ${completionWindowS.toFixed(1)} s)`);
  line('last run completed after', `${drainS.toFixed(1)} s from the first click`);
  line('worker peak RSS', `${workerPeak} MB`);
  line('empty workflows per second (floor)', `${emptyRate.toFixed(1)} (${emptyCount} workflows)`);
  line('funnel runs/s ÷ empty workflows/s', `${(runsPerS / emptyRate).toFixed(2)}`);
  line('dropped / sent twice', `${dropped} / ${duplicated}`);
  if (cpuReport) {
    // % of one core over the run → CPU milliseconds per click.
    const perClick = (g: string) => `${g} ${(((cpuReport.groups[g] ?? 0) / 100) * cpuReport.seconds * 1000 / contacts).toFixed(1)}`;
    line('CPU ms per click', `${['bench', 'worker', 'temporal', 'postgres', 'other'].map(perClick).join(', ')} (machine busy ${cpuReport.machineBusyPct.toFixed(0)}%; bench = API + dispatcher + clicks + provider fake)`);
  }
  line('settings', `quotas and pacing off; worker cache ${env.WORKER_MAX_CACHED_WORKFLOWS}, WFT slots ${config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS}, local activity slots ${config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES}, dispatch concurrency ${env.DISPATCH_CONCURRENCY} (dispatcher in the ${env.DISPATCHER === 'api' ? 'API process' : 'worker process'})`);

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
