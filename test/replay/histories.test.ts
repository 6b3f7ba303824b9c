/**
 * Every history recorded in test/fixtures/histories replays against the current workflow
 * code, through the operator command CI also runs. Re-record with
 * `RECORD_HISTORIES=1 npm run test:only -- test/replay/record.test.ts` after a deliberate,
 * versioned change (patched()).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as registered from '../../src/workflows';
import { WorkflowType } from '../../src/workflows/definitions';
import { runCli } from '../support/cli';

const DIR = path.resolve(__dirname, '../fixtures/histories');
const NONDETERMINISTIC = path.resolve(__dirname, '../fixtures/nondeterministic-workflows');

describe('recorded workflow histories', () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => path.join(DIR, f));

  it('cover every workflow the worker registers', () => {
    // The worker registers src/workflows/index.ts's exports: each needs a recorded history,
    // so a nondeterministic change to any of them fails here rather than in production.
    const recorded = new Set(files.map((f) => (JSON.parse(fs.readFileSync(f, 'utf8')) as { workflowType: string }).workflowType));
    const types = Object.keys(registered).sort();
    expect(types.filter((t) => !recorded.has(t))).toEqual([]);
    // The names the rest of zapflow starts them by are the registered ones.
    expect(Object.values(WorkflowType).sort()).toEqual(types);
  });

  it('replay against the current code', async () => {
    const res = await runCli(['workflows', 'check-replay', ...files]);
    expect(res.stdout).toContain(`replayed ${files.length} histories: ${files.length} ok, 0 failed`);
    expect(res.code).toBe(0);
  }, 240_000); // bundles the workflow code in a child process: slow on a loaded 2-core machine

  it('fail check-replay on a nondeterministic change, naming the first divergence', async () => {
    const res = await runCli(['workflows', 'check-replay', '--workflows', NONDETERMINISTIC, ...files]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/first divergence: funnel:/);
    expect(res.stdout).toMatch(/[Nn]ondeterminism/);
  }, 240_000);
});
