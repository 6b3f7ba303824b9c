/**
 * `zapflow dev`, `zapflow api`, `zapflow worker`: the long-running processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Runtime } from '@temporalio/worker';
import type { Config } from '../../config';
import type { DbHandle } from '../../db/client';
import type { Logger } from '../../log';
import { createApp } from '../../api/app';
import { buildRouters } from '../../api/routes';
import { displayUrl, listen, type ApiServer } from '../../api/server';
import { buildProviders, openDatabase, startTemporal, type TemporalRuntime } from '../../runtime';
import { addChannel } from '../../services/channels';
import { createTenant } from '../../services/tenants';
import { cachedWorkflowsFor, startWorker, type RunningWorker } from '../../worker';
import { createTemporalPinger } from '../../temporal/connect';
import { buildIngest, startDispatcher, type DispatchMode } from '../../ingest';
import { countDeadMessages, countDispatchBacklog } from '../../db/queries/messages';
import { conversationHealthInfo } from '../../services/ai';
import { ensureRetentionSchedule } from '../../services/retention';
import { ensureOptOutDigestSchedule } from '../../services/optOutDigest';
import { failInterruptedImports } from '../../services/contactImport';
import { ensureMetricsRollupSchedule } from '../../services/metrics';
import { ensureChannelWatches } from '../../services/channelWatch';
import { registerStateGauges } from '../../metrics';
import { getChannelByExternalId } from '../../db/queries/channels';
import { countRunsByStatus } from '../../db/queries/funnelRuns';
import { CliError } from '../output';
import { isApiClusterWorker, SHUTDOWN_MESSAGE, startApiPrimary } from '../../api/cluster';

type Stopper = () => Promise<void>;

/** Runs stoppers in reverse order of start on SIGINT/SIGTERM, once; a second signal forces exit. */
function onShutdown(log: Logger, stoppers: Stopper[]): void {
  let stopping = false;
  /** Signals that may still arrive for the same stop without forcing an exit. */
  let toleratedSignals = 0;
  const stop = async (reason: string, bySignal: boolean) => {
    if (stopping) {
      if (!bySignal) return;
      if (toleratedSignals-- > 0) return;
      log.warn('second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal: reason }, 'shutting down');
    for (const stopper of [...stoppers].reverse()) {
      await stopper().catch((err) => log.error({ err }, 'error while stopping'));
    }
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT', true));
  process.on('SIGTERM', () => void stop('SIGTERM', true));
  if (isApiClusterWorker()) {
    // The primary asks by message; Ctrl-C signals every process of the group as well, so the
    // group's signal after the primary's request is the same stop, not a second one.
    process.on('message', (msg: { type?: string }) => {
      if (msg?.type !== SHUTDOWN_MESSAGE || stopping) return;
      toleratedSignals = 1;
      void stop('primary', false);
    });
    process.on('disconnect', () => void stop('primary gone', false));
  }
}

function installTemporalRuntime(log: Logger): void {
  // zapflow owns signal handling: the worker is shut down in order with the API and the dev server.
  Runtime.install({
    shutdownSignals: [],
    logger: {
      log: (level, message, meta) => log[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'info')]({ ...meta, component: 'temporal-sdk' }, message),
      trace: (m, meta) => log.trace({ ...meta, component: 'temporal-sdk' }, m),
      debug: (m, meta) => log.debug({ ...meta, component: 'temporal-sdk' }, m),
      info: (m, meta) => log.debug({ ...meta, component: 'temporal-sdk' }, m),
      warn: (m, meta) => log.warn({ ...meta, component: 'temporal-sdk' }, m),
      error: (m, meta) => log.error({ ...meta, component: 'temporal-sdk' }, m),
    },
  });
}

async function startApi(
  config: Config,
  db: DbHandle,
  temporal: TemporalRuntime,
  log: Logger,
  stoppers: Stopper[],
  mode: DispatchMode,
): Promise<ApiServer> {
  const apiLog = log.child({ component: 'api' });
  const pinger = createTemporalPinger(temporal.address);
  stoppers.push(() => pinger.close());
  const { ingest, dispatcher, funnelTriggers } = buildIngest({ config, db: db.db, client: temporal.client, log: apiLog, mode });
  stoppers.push(() => ingest.flush()); // after the server has closed (stoppers run in reverse)
  if (dispatcher) {
    dispatcher.start();
    stoppers.push(() => dispatcher.stop());
  }
  registerStateGauges({
    dispatchBacklog: () => countDispatchBacklog(db.db),
    deadLetters: () => countDeadMessages(db.db),
    funnelRunsByStatus: () => countRunsByStatus(db.db),
  });
  // Contact imports whose process is gone (a restart mid-import) are marked failed: upload again.
  await failInterruptedImports(db.db, config)
    .then((failed) => (failed > 0 ? apiLog.warn({ failed }, 'interrupted contact imports marked failed') : undefined))
    .catch((err) => apiLog.error({ err }, 'interrupted contact imports could not be marked failed'));
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: pinger.ping,
    healthInfo: conversationHealthInfo(config, apiLog),
    log: apiLog,
    routers: buildRouters({ config, db: db.db, temporal: temporal.client, ingest, log: apiLog, funnelTriggers }),
  });
  return listen(app, config.PORT, config.HOST);
}

async function launchWorker(config: Config, db: DbHandle, temporal: TemporalRuntime, log: Logger): Promise<RunningWorker> {
  const workerLog = log.child({ component: 'worker' });
  const worker = await startWorker({
    address: temporal.address,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: {
      db: db.db,
      providers: buildProviders(config, db, workerLog),
      log: workerLog,
      config,
      temporal: { client: temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE },
    },
    maxCachedWorkflows: cachedWorkflowsFor(config, workerLog),
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    log: workerLog,
  });
  // The daily retention run: created, or updated to this configuration, by every worker start.
  // Not fatal: the worker serves without it, and the next start tries again.
  await ensureRetentionSchedule(temporal.client, { taskQueue: config.TEMPORAL_TASK_QUEUE, cron: config.RETENTION_CRON })
    .then((outcome) => workerLog.info({ cron: config.RETENTION_CRON, outcome }, 'retention schedule ready'))
    .catch((err) => workerLog.error({ err }, 'retention schedule could not be created or updated'));
  // The daily opt-out digest to each tenant's admin contact: the same way.
  await ensureOptOutDigestSchedule(temporal.client, { taskQueue: config.TEMPORAL_TASK_QUEUE, cron: config.OPT_OUT_DIGEST_CRON, windowMs: config.OPT_OUT_DIGEST_WINDOW })
    .then((outcome) => workerLog.info({ cron: config.OPT_OUT_DIGEST_CRON, outcome }, 'opt-out digest schedule ready'))
    .catch((err) => workerLog.error({ err }, 'opt-out digest schedule could not be created or updated'));
  // The metrics rollup, every METRICS_ROLLUP_INTERVAL: the same way.
  await ensureMetricsRollupSchedule(temporal.client, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    everyMs: config.METRICS_ROLLUP_INTERVAL,
    catchupWindowMs: config.METRICS_ROLLUP_CATCHUP,
  })
    .then((outcome) => workerLog.info({ everyMs: config.METRICS_ROLLUP_INTERVAL, outcome }, 'metrics rollup schedule ready'))
    .catch((err) => workerLog.error({ err }, 'metrics rollup schedule could not be created or updated'));
  // A watching workflow for every channel that has none yet (operator-added, or from before).
  await ensureChannelWatches({ db: db.db, client: temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE, config, log: workerLog })
    .then((started) => workerLog.info({ started }, 'channel workflows ready'))
    .catch((err) => workerLog.error({ err }, 'channel workflows could not be started'));
  return worker;
}

/** First run of `dev`: a demo tenant with a sandbox channel; its API key is written under DATA_DIR. */
async function ensureDemoTenant(config: Config, db: DbHandle): Promise<{ created: boolean; keyFile: string; apiKey?: string }> {
  const keyFile = path.join(config.DATA_DIR, 'demo-api-key.txt');
  if (await getChannelByExternalId(db.db, { provider: 'sandbox', externalId: 'demo-sandbox' })) return { created: false, keyFile };
  const { tenant, apiKey } = await createTenant(db.db, { name: 'Demo' });
  await addChannel(db.db, { tenantId: tenant.id, provider: 'sandbox', externalId: 'demo-sandbox', name: 'Demo sandbox' });
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
  fs.writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
  return { created: true, keyFile, apiKey };
}

export async function runDev(config: Config, log: Logger): Promise<void> {
  installTemporalRuntime(log);
  const stoppers: Stopper[] = [];
  onShutdown(log, stoppers);
  const db = await openDatabase(config, 'dev');
  stoppers.push(() => db.close());
  await db.migrate();
  log.info({ driver: db.driver }, 'database ready');
  const temporal = await startTemporal(config, log, { spawn: true });
  if (temporal.devServer) stoppers.push(() => temporal.devServer!.stop());
  stoppers.push(() => temporal.connection.close());
  const demo = await ensureDemoTenant(config, db);
  const worker = await launchWorker(config, db, temporal, log);
  stoppers.push(() => worker.shutdown());
  const api = await startApi(config, db, temporal, log, stoppers, 'inline');
  stoppers.push(() => api.close());

  const lines = [
    '',
    'zapflow is running (embedded defaults)',
    `  API          ${api.url}   (health: ${api.url}/health)`,
    `  Temporal UI  ${temporal.devServer?.uiUrl ?? `(external Temporal at ${temporal.address})`}`,
    `  Temporal     ${temporal.address}`,
    `  Database     ${db.driver === 'pglite' ? `PGlite in ${path.join(config.DATA_DIR, 'pglite')}` : 'PostgreSQL (DATABASE_URL)'}`,
    demo.created
      ? `  Demo tenant  created with a sandbox channel; API key (shown once, also in ${demo.keyFile}):\n               ${demo.apiKey}`
      : `  Demo tenant  API key in ${demo.keyFile}`,
    '  Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function requireDatabaseUrl(config: Config, command: string): void {
  if (!config.DATABASE_URL) {
    throw new CliError(
      `zapflow ${command} needs DATABASE_URL: the embedded PGlite database serves one process (use \`zapflow dev\` for the all-in-one stack)`,
    );
  }
}

/**
 * What every process of a split deployment starts with: a PostgreSQL URL (PGlite serves one
 * process), shutdown on signals, the database and the Temporal client, stopped in reverse.
 */
async function startProcess(config: Config, log: Logger, command: 'api' | 'dispatcher' | 'worker') {
  requireDatabaseUrl(config, command);
  if (command === 'worker') installTemporalRuntime(log);
  const stoppers: Stopper[] = [];
  onShutdown(log, stoppers);
  const db = await openDatabase(config, command);
  stoppers.push(() => db.close());
  const temporal = await startTemporal(config, log, { spawn: false });
  stoppers.push(() => temporal.connection.close());
  return { stoppers, db, temporal };
}

export async function runApi(config: Config, log: Logger): Promise<void> {
  if (config.API_PROCESSES > 1 && !isApiClusterWorker()) return runApiPrimary(config, log);
  const { stoppers, db, temporal } = await startProcess(config, log, 'api');
  const api = await startApi(config, db, temporal, log, stoppers, config.DISPATCHER === 'api' ? 'inline' : 'notify');
  stoppers.push(() => api.close());
  // In a cluster the primary announces the address once all processes serve.
  const level = isApiClusterWorker() ? 'debug' : 'info';
  log[level]({ url: api.url, dispatcher: config.DISPATCHER }, 'API listening');
}

/** API_PROCESSES > 1: the cluster primary (src/api/cluster.ts); the forked processes run runApi. */
async function runApiPrimary(config: Config, log: Logger): Promise<void> {
  requireDatabaseUrl(config, 'api');
  const stoppers: Stopper[] = [];
  onShutdown(log, stoppers);
  const primary = await startApiPrimary({ processes: config.API_PROCESSES, log });
  stoppers.push(() => primary.stop());
  log.info({ url: displayUrl(config.HOST, config.PORT), processes: config.API_PROCESSES, dispatcher: config.DISPATCHER }, 'API listening');
}

/** `zapflow dispatcher`: only the dispatcher (LISTEN + scan), for DISPATCHER=none deployments. */
export async function runDispatcherProcess(config: Config, log: Logger): Promise<void> {
  const { stoppers, db, temporal } = await startProcess(config, log, 'dispatcher');
  const dispatch = await startDispatcher({ config, db, client: temporal.client, log: log.child({ component: 'dispatcher' }) });
  stoppers.push(() => dispatch.stop());
  log.info('dispatcher running');
}

export async function runWorkerProcess(config: Config, log: Logger): Promise<void> {
  const { stoppers, db, temporal } = await startProcess(config, log, 'worker');
  const worker = await launchWorker(config, db, temporal, log);
  stoppers.push(() => worker.shutdown());
  if (config.DISPATCHER === 'worker') {
    // Stopped before the worker (stoppers run last-in first): no signal goes out to a worker shutting down.
    const dispatch = await startDispatcher({ config, db, client: temporal.client, log: log.child({ component: 'worker' }) });
    stoppers.push(() => dispatch.stop());
  }
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, dispatcher: config.DISPATCHER === 'worker' }, 'worker running');
}
