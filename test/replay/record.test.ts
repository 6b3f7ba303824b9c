/**
 * Produces real histories of each workflow type (contact with opt-out, a funnel run that
 * sends, waits, branches on a reply, and a failed run), replays them at once, and with
 * RECORD_HISTORIES=1 saves them to test/fixtures/histories for the replay test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { execFileSync } from 'node:child_process';
import { funnelRuns } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { runCli } from '../support/cli';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { eventually } from '../support/stack';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');

/** The history as Temporal exports it (`temporal workflow show --output json`, the Web UI's download). */
function exportHistory(workflowId: string): unknown {
  const out = execFileSync(
    process.env.ZAPFLOW_TEST_TEMPORAL_CLI!,
    ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS!],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out);
}

describe('history recording', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack({ CONTACT_IDLE_TIMEOUT: '1s' });
  });
  afterAll(() => f.close());

  it('records contact and funnel histories that replay', async () => {
    await f.api(
      'POST',
      '/api/funnels',
      funnelDef({
        steps: [
          { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
          { id: 'pause', type: 'delay', duration: '200ms' },
          { id: 'ask', type: 'send', message: { type: 'buttons', text: 'Quer ver os planos?', buttons: [{ id: 'sim', title: 'Sim' }] } },
          { id: 'reply', type: 'waitForReply', timeout: '10s', branches: [{ button: 'sim', next: 'yes' }], onTimeout: 'bye' },
          { id: 'yes', type: 'tag', tags: ['interessado'] },
          { id: 'plans', type: 'send', message: { type: 'text', text: 'Aqui estão' }, next: 'end' },
          { id: 'bye', type: 'send', message: { type: 'text', text: 'Até logo' } },
          { id: 'end', type: 'end' },
        ],
      }),
    );
    const phone = '5511966660001';
    await f.click(phone, { id: 'pode_falar_sim', displayText: 'Pode falar sim!', name: 'Ana' });
    await eventually(async () => (await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone)))[0]?.status === 'waiting');
    await f.click(phone, { id: 'sim', displayText: 'Sim' });
    const [run] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
      return rows[0]?.status === 'completed' ? rows : undefined;
    });
    await f.say(phone, 'PARE');
    const contactId = contactWorkflowId(f.tenant.tenant.id, phone);
    const contactHandle = f.stack.client.workflow.getHandle(contactId);
    await eventually(async () => (await contactHandle.describe()).status.name === 'COMPLETED', 20_000, 'contact workflow ended idle');

    const failing = '5511966660002';
    const remove = f.evolution.server.respondWith((r) => JSON.stringify(r.body ?? '').includes(failing), { status: 500, body: { error: 'boom' } });
    await f.click(failing, { displayText: 'Pode falar sim!' });
    const [failed] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, failing));
      return rows[0]?.status === 'failed' ? rows : undefined;
    });
    remove();
    await eventually(async () => (await f.stack.client.workflow.getHandle(failed!.id).describe()).status.name === 'FAILED');

    const dir = process.env.RECORD_HISTORIES === '1' ? FIXTURES : fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-histories-'));
    const written: string[] = [];
    for (const [name, workflowId, workflowType] of [
      ['contact-optout', contactId, 'contactWorkflow'],
      ['funnel-reply-branch', run!.id, 'funnelRunWorkflow'],
      ['funnel-failed', failed!.id, 'funnelRunWorkflow'],
    ] as const) {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(file, `${JSON.stringify({ workflowId, workflowType, history: exportHistory(workflowId) }, null, 1)}\n`);
      written.push(file);
    }
    // Replayed by the operator command (a process of its own: proto JSON does not cross jest realms).
    const check = await runCli(['workflows', 'check-replay', ...written]);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/replayed 3 histories: 3 ok, 0 failed/);
    expect(check.code).toBe(0);
  }, 240_000);
});
