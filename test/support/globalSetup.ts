/**
 * Once per test run: one Temporal dev server (in memory, headless) shared by every test
 * file, and the workflow bundle built once. Both reach the test files through env vars.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflows } from '../../src/worker';
import { findTemporalCli } from '../../src/temporal/binary';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer';

declare global {
  // eslint-disable-next-line no-var
  var __ZAPFLOW_DEV_SERVER__: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  const binary = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new Error('Temporal CLI not found and scripts/setup.sh temporal could not install it');
  const port = await freePort();
  const [server, bundle] = await Promise.all([
    startDevServer({ binary, port, fastSqlite: true }),
    bundleWorkflows(),
  ]);
  globalThis.__ZAPFLOW_DEV_SERVER__ = server;
  const bundlePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-bundle-')), 'workflows.js');
  fs.writeFileSync(bundlePath, bundle.code);
  process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.ZAPFLOW_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.ZAPFLOW_TEST_TEMPORAL_CLI = binary;
}
