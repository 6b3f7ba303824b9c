/**
 * Builds zapflow's real parts from the configuration: database (postgres.js or PGlite),
 * Temporal (a cluster, or the CLI dev server spawned here), provider clients.
 */
import path from 'node:path';
import type { Config } from './config';
import { openDb, type DbHandle } from './db/client';
import type { Logger } from './log';
import { createProviderClients } from './providers';
import { createSandboxClient } from './providers/sandbox';
import type { ProviderRegistry } from './providers/types';
import { findTemporalCli } from './temporal/binary';
import { connectTemporal, registerSearchAttributes, type TemporalClients } from './temporal/connect';
import { startDevServer, type DevServer } from './temporal/devServer';

/** `role` names the process in pg_stat_activity (zapflow-api, zapflow-worker, …). */
export async function openDatabase(config: Config, role = 'cli'): Promise<DbHandle> {
  return openDb({
    url: config.DATABASE_URL,
    pgliteDir: path.join(config.DATA_DIR, 'pglite'),
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: `zapflow-${role}`,
  });
}

export interface TemporalRuntime extends TemporalClients {
  address: string;
  devServer?: DevServer;
}

/** TEMPORAL_ADDRESS set: connect to it. Unset and `spawn`: start the CLI dev server under DATA_DIR. */
export async function startTemporal(config: Config, log: Logger, opts: { spawn: boolean }): Promise<TemporalRuntime> {
  let devServer: DevServer | undefined;
  let address = config.TEMPORAL_ADDRESS;
  if (!address) {
    if (!opts.spawn) {
      address = `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
    } else {
      const binary = findTemporalCli(config.TEMPORAL_CLI_PATH);
      if (!binary) {
        throw new Error(
          'Temporal CLI not found: set TEMPORAL_CLI_PATH, put `temporal` on PATH, or run scripts/setup.sh temporal',
        );
      }
      log.info({ binary }, 'starting the Temporal dev server');
      devServer = await startDevServer({
        binary,
        dbFile: path.join(config.DATA_DIR, 'temporal.db'),
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        fastSqlite: config.TEMPORAL_DEV_FAST_SQLITE,
        log: (line) => log.debug({ component: 'temporal-dev-server' }, line),
      });
      address = devServer.address;
    }
  }
  try {
    const clients = await connectTemporal(address, config.TEMPORAL_NAMESPACE);
    await registerSearchAttributes(clients.connection, config.TEMPORAL_NAMESPACE);
    return { ...clients, address, devServer };
  } catch (err) {
    await devServer?.stop();
    throw err;
  }
}

export function buildProviders(config: Config, handle: DbHandle, log: Logger): ProviderRegistry {
  const http = createProviderClients({ timeoutMs: config.PROVIDER_TIMEOUT });
  return { ...http, sandbox: createSandboxClient(handle.db, log.child({ component: 'sandbox' })) };
}
