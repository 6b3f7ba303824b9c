/**
 * Records histories of the conversation paths (a capped follow-up, a contact workflow with a
 * debounced AI turn) and checks they replay. With RECORD_HISTORIES=1 they are saved to
 * test/fixtures/histories, where test/replay/histories.test.ts replays them on every run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');

export async function recordAndReplay(name: string, workflowId: string, workflowType: string): Promise<void> {
  const history = JSON.parse(
    execFileSync(
      process.env.ZAPFLOW_TEST_TEMPORAL_CLI!,
      ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS!],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    ),
  );
  const dir = process.env.RECORD_HISTORIES === '1' ? FIXTURES : fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-histories-'));
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ workflowId, workflowType, history }, null, 1)}\n`);
  const check = await runCli(['workflows', 'check-replay', file]);
  if (check.code !== 0 || !/replayed 1 histor(y|ies): 1 ok, 0 failed/.test(check.stdout)) {
    throw new Error(`history ${name} does not replay:\n${check.stdout}\n${check.stderr}`);
  }
}
