/**
 * A worker in a process of its own, wired like `zapflow worker` (without the dispatcher and
 * the schedules), on the test run's prebuilt workflow bundle: what the crash test kills with
 * SIGKILL. Settings come from the environment; it tells its parent `ready` over IPC.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { openDb } from '../../src/db/client';
import { buildProviders } from '../../src/runtime';
import { startWorker } from '../../src/worker';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = pino({ level: 'warn' });
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const db = await openDb({ url: config.DATABASE_URL, poolSize: 4 });
  await startWorker({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: { db: db.db, providers: buildProviders(config, db, log), log, config },
    workflowBundle: { codePath: process.env.ZAPFLOW_TEST_WORKFLOW_BUNDLE! },
    scheduleDispatch: false,
    log,
  });
  process.send?.('ready');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
