/**
 * A funnel that loops through a wait: its history stays small (the run continues as new,
 * carrying its progress) and a visit cap ends it with a clear reason instead of looping for
 * ever. Nobody gets a message twice across the new executions.
 */
import { eq } from 'drizzle-orm';
import { funnelRuns } from '../../src/db/schema';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';

describe('funnel run limits', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack({ FUNNEL_MAX_STEP_VISITS: '6', FUNNEL_HISTORY_EVENTS: '30', SEND_PACING_MIN_GAP: '0', SEND_PACING_JITTER: '0' });
  });
  afterAll(() => f.close());

  it('continues as new before the history grows and fails the run past the visit cap', async () => {
    const created = await f.api(
      'POST',
      '/api/funnels',
      funnelDef({
        steps: [
          { id: 'again', type: 'send', message: { type: 'text', text: 'Ainda por aí?' } },
          { id: 'pause', type: 'delay', duration: '50ms' },
          { id: 'loop', type: 'goto', target: 'again' },
        ],
      }),
    );
    expect(created.status).toBe(201);
    const phone = '5511944440001';
    await f.click(phone, { displayText: 'Pode falar sim!' });
    const [run] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
      return rows[0]?.status === 'failed' ? rows : undefined;
    }, 30_000, 'the looping run failed');
    expect(run!.error).toMatchObject({ type: 'FunnelLoopLimit', step: 'again' });
    expect(run!.error!.message).toMatch(/visited more than 6 times/);

    // Six visits, six messages, each once (idempotency keys went on across executions).
    const sent = f.sentTo(phone).filter((s) => s.kind === 'text');
    expect(sent).toHaveLength(6);

    // More than one execution of the same run id: it continued as new.
    const executions: string[] = [];
    for await (const wf of f.stack.client.workflow.list({ query: `WorkflowId = '${run!.id}'` })) executions.push(wf.runId);
    expect(executions.length).toBeGreaterThan(1);
    const last = await f.stack.client.workflow.getHandle(run!.id).describe();
    expect(last.status.name).toBe('FAILED');
    recordHistory('funnel-continued-as-new-loop-limit', run!.id, 'funnelRunWorkflow');
  }, 60_000);
});
