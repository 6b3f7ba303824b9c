import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '../..');
const TOOLS_BIN = path.join(PROJECT_ROOT, '.tools/venv/bin');

function onPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const out = found.stdout.trim();
  return found.status === 0 && out ? out : undefined;
}

function runSetup(what: 'temporal'): void {
  const script = path.join(PROJECT_ROOT, 'scripts/setup.sh');
  if (!fs.existsSync(script)) return;
  try {
    execFileSync('bash', [script, what], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    // Setup failed: the caller falls back to the SDK's download.
  }
}

/**
 * The Temporal CLI: TEMPORAL_CLI_PATH, else the project's .tools/ (scripts/setup.sh), else
 * `temporal` on PATH; when none is found, runs scripts/setup.sh once and looks again.
 * Undefined means "let the SDK download it" (works on a machine with internet).
 */
export function findTemporalCli(explicit?: string): string | undefined {
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} does not exist`);
    return explicit;
  }
  const local = path.join(TOOLS_BIN, 'temporal');
  if (fs.existsSync(local)) return local;
  const global = onPath('temporal');
  if (global) return global;
  runSetup('temporal');
  return fs.existsSync(local) ? local : undefined;
}

/** The time-skipping test server (tests only), found the same way. */
export function findTemporalTestServer(explicit?: string): string | undefined {
  if (explicit && fs.existsSync(explicit)) return explicit;
  const local = path.join(TOOLS_BIN, 'temporal-test-server');
  if (fs.existsSync(local)) return local;
  const global = onPath('temporal-test-server');
  if (global) return global;
  runSetup('temporal');
  return fs.existsSync(local) ? local : undefined;
}
