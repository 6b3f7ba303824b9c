import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');

/**
 * With RECORD_HISTORIES=1, saves a workflow's history (as `temporal workflow show` exports
 * it: the Web UI's download) to test/fixtures/histories/<name>.json, where the replay test
 * runs it against every later version of the workflow code. Otherwise does nothing.
 */
export function recordHistory(name: string, workflowId: string, workflowType: string): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const out = execFileSync(
    process.env.ZAPFLOW_TEST_TEMPORAL_CLI!,
    ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS!],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  fs.writeFileSync(path.join(FIXTURES, `${name}.json`), `${JSON.stringify({ workflowId, workflowType, history: JSON.parse(out) as unknown }, null, 1)}\n`);
}
