/**
 * The ingest stack of one test file, on real parts: its own database, the shared Temporal
 * dev server with a task queue of its own, a worker, the API with webhooks and dispatcher.
 */
import type { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { buildRouters } from '../../src/api/routes';
import type { ApiServer } from '../../src/api/server';
import type { Config } from '../../src/config';
import { buildIngest, startDispatcher, type IngestRuntime } from '../../src/ingest';
import type { Dispatcher } from '../../src/ingest/dispatcher';
import { registerStateGauges } from '../../src/metrics';
import { countRunsByStatus } from '../../src/db/queries/funnelRuns';
import { countDeadMessages } from '../../src/db/queries/messages';
import { addChannel, type AddChannelInput } from '../../src/services/channels';
import { createTenant } from '../../src/services/tenants';
import type { ProviderRegistry } from '../../src/providers/types';
import { createTemporalPinger } from '../../src/temporal/connect';
import type { RunningWorker } from '../../src/worker';
import { connectClient, createTestDb, startTestWorker, temporalAddress, testConfig, testLog, testProviders, type TestDb } from './harness';
import { serve } from './http';

export interface Stack {
  config: Config;
  db: TestDb;
  client: Client;
  connection: Connection;
  /** Undefined when started with `worker: false`. */
  worker?: RunningWorker;
  startWorker(): Promise<RunningWorker>;
  ingestRuntime: IngestRuntime;
  server: ApiServer;
  url: string;
  close(): Promise<void>;
}

export async function startStack(
  opts: {
    env?: Record<string, string>;
    providers?: (db: TestDb) => ProviderRegistry;
    /** Another Temporal server than the shared one. */
    temporalAddress?: string;
    /** false: start no worker now (call stack.startWorker() later). */
    worker?: boolean;
    /**
     * `inline` (default): the API process dispatches. `worker`: as `zapflow api` + `zapflow
     * worker` with DISPATCHER=worker: the API only stores and NOTIFYs, and a dispatcher of its
     * own (as the worker process runs it) listens.
     */
    dispatch?: 'inline' | 'worker';
  } = {},
): Promise<Stack> {
  const address = opts.temporalAddress ?? temporalAddress();
  const config = testConfig({ DISPATCH_RETRY_INTERVAL: '300ms', CONTACT_IDLE_TIMEOUT: '20s', TEMPORAL_ADDRESS: address, ...opts.env });
  const db = await createTestDb();
  const { client, connection } = await connectClient(address);
  // The dispatcher's eager first sends go through the same providers as the worker's sends.
  const providers = opts.providers?.(db) ?? testProviders(db);
  const launch = () => startTestWorker({ db, address, client, config, taskQueue: config.TEMPORAL_TASK_QUEUE, providers });
  let worker = opts.worker === false ? undefined : await launch();
  const ingestRuntime = buildIngest({ config, db: db.db, client, log: testLog, mode: opts.dispatch === 'worker' ? 'notify' : 'inline', providers });
  let dispatcher: Pick<Dispatcher, 'backlog' | 'stop'>;
  if (ingestRuntime.dispatcher) {
    ingestRuntime.dispatcher.start();
    dispatcher = ingestRuntime.dispatcher;
  } else {
    const running = await startDispatcher({ config, db, client, log: testLog, providers });
    dispatcher = { backlog: () => running.dispatcher.backlog(), stop: () => running.stop() };
  }
  registerStateGauges({
    dispatchBacklog: () => dispatcher.backlog(),
    deadLetters: () => countDeadMessages(db.db),
    funnelRunsByStatus: () => countRunsByStatus(db.db),
  });
  const pinger = createTemporalPinger(config.TEMPORAL_ADDRESS!);
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: pinger.ping,
    log: testLog,
    routers: buildRouters({ config, db: db.db, temporal: client, ingest: ingestRuntime.ingest, log: testLog, funnelTriggers: ingestRuntime.funnelTriggers }),
  });
  const server = await serve(app);
  return {
    config,
    db,
    client,
    connection,
    get worker() {
      return worker;
    },
    async startWorker() {
      worker = await launch();
      return worker;
    },
    ingestRuntime,
    server,
    url: server.url,
    async close() {
      await server.close(1000);
      await dispatcher.stop();
      await worker?.shutdown();
      await pinger.close();
      await connection.close();
      await db.drop();
    },
  };
}

export async function seedTenantWithChannel(db: TestDb, name: string, channel: Omit<AddChannelInput, 'tenantId'>) {
  const { tenant, apiKey } = await createTenant(db.db, { name });
  const row = await addChannel(db.db, { ...channel, tenantId: tenant.id });
  return { tenant, apiKey, channel: row };
}

/** Polls until `fn` returns a truthy value (or throws after timeoutMs). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
