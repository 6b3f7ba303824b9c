/**
 * Per-test-file real parts: a database of its own (a fresh PostgreSQL database when
 * DATABASE_URL is set, else in-memory PGlite), a Temporal client and worker on the shared
 * dev server with a task queue of its own.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import postgres from 'postgres';
import { loadConfig, type Config } from '../../src/config';
import { openDb, type DbHandle } from '../../src/db/client';
import type { ProviderRegistry } from '../../src/providers/types';
import { createSandboxClient } from '../../src/providers/sandbox';
import { createProviderClients } from '../../src/providers';
import { startWorker, type RunningWorker } from '../../src/worker';

export const testLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let runtimeInstalled = false;
/** Keeps the SDK quiet in tests (warnings and errors only). */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  } catch {
    // already installed in this realm
  }
}

export function temporalAddress(): string {
  const address = process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('ZAPFLOW_TEST_TEMPORAL_ADDRESS unset: run tests through jest (globalSetup)');
  return address;
}

export function workflowBundle(): { codePath: string } {
  return { codePath: process.env.ZAPFLOW_TEST_WORKFLOW_BUNDLE! };
}

export interface TestDb extends DbHandle {
  /** The URL of this file's own database (undefined on PGlite). */
  url?: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file. */
export async function createTestDb(): Promise<TestDb> {
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    const handle = await openDb({});
    await handle.migrate();
    return { ...handle, drop: () => handle.close() };
  }
  const name = `zf_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDb({ url: url.toString(), poolSize: 10 });
  await handle.migrate();
  return {
    ...handle,
    url: url.toString(),
    async drop() {
      await handle.close();
      const cleanup = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    DATA_DIR: '/tmp/zapflow-test-data',
    ...overrides,
  });
}

export async function connectClient(address = temporalAddress()): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address });
  return { connection, client: new Client({ connection }) };
}

export function testProviders(db: DbHandle, timeoutMs = 2000): ProviderRegistry {
  return { ...createProviderClients({ timeoutMs }), sandbox: createSandboxClient(db.db, testLog) };
}

export async function startTestWorker(opts: {
  db: DbHandle;
  taskQueue: string;
  providers?: ProviderRegistry;
  address?: string;
  client?: Client;
  config?: Config;
}): Promise<RunningWorker> {
  installQuietRuntime();
  return startWorker({
    address: opts.address ?? temporalAddress(),
    namespace: 'default',
    taskQueue: opts.taskQueue,
    deps: {
      db: opts.db.db,
      providers: opts.providers ?? testProviders(opts.db),
      log: testLog,
      config: opts.config,
      temporal: opts.client ? { client: opts.client, taskQueue: opts.taskQueue } : undefined,
    },
    workflowBundle: workflowBundle(),
    log: testLog,
  });
}
