/**
 * Priority and fairness on every start (issue 23): each kind of work reaches Temporal with
 * its level (src/domain/priorities.ts) and, when it is a tenant's, the tenant as fairness
 * key. Read from the histories: the WorkflowExecutionStarted event carries what the server
 * queues the workflow's tasks by.
 */
import type { temporal } from '@temporalio/proto';
import { campaignWorkflowId, contactWorkflowId, followUpWorkflowId, scheduleWorkflowId } from '../../src/domain/workflowIds';
import { ensureMetricsRollupSchedule } from '../../src/services/metrics';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { CAMPAIGN_TEST_ENV } from '../campaigns/support';
import { FAST_SENDING } from '../sending/support';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';

describe('priority and fairness keys on every start', () => {
  let openai: OpenAiFake;
  let f: FunnelStack;
  let tenantId: string;

  /** The priority the workflow was started with, as recorded in its first event. */
  async function startedPriority(workflowId: string): Promise<temporal.api.common.v1.IPriority | null | undefined> {
    const history = await eventually(async () => {
      const fetched = await f.stack.client.workflow.getHandle(workflowId).fetchHistory().catch(() => undefined);
      return fetched?.events?.length ? fetched : undefined;
    }, 20_000, `history of ${workflowId}`);
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(started).toBeTruthy();
    return started!.priority;
  }
  const expectPriority = (actual: temporal.api.common.v1.IPriority | null | undefined, priorityKey: number, fairnessKey?: string) =>
    expect({ priorityKey: actual?.priorityKey, fairnessKey: actual?.fairnessKey || undefined }).toEqual({ priorityKey, fairnessKey });

  beforeAll(async () => {
    openai = await startOpenAiFake();
    // The follow-up's AI declines: this test looks at starts, not at what follows.
    openai.respond = () => JSON.stringify({ send: false, reason: 'test' });
    f = await startFunnelStack({ ...FAST_SENDING, ...CAMPAIGN_TEST_ENV, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseUrl });
    tenantId = f.tenant.tenant.id;
    expect((await f.api('PUT', '/api/conversations/settings', { followUp: { enabled: true, quietPeriod: '1h', max: 1, windows: [] } })).status).toBe(200);
    expect((await f.api('POST', '/api/funnels', funnelDef())).status).toBe(201);
  });
  afterAll(async () => {
    await f?.close();
    await openai?.close();
  });

  it("a click: its contact workflow and funnel run first-reply level, its follow-up deferred, all keyed by the tenant", async () => {
    const phone = '5511977710001';
    expect((await f.click(phone, { displayText: 'Pode falar sim!' })).status).toBe(200);
    await eventually(() => Promise.resolve(f.sentTo(phone).length === 1), 20_000, 'first reply');
    expectPriority(await startedPriority(contactWorkflowId(tenantId, phone)), 2, tenantId);
    const runs = await f.api<{ runs: Array<{ id: string }> }>('GET', `/api/funnel-runs?contact=${phone}`);
    expect(runs.body.runs).toHaveLength(1);
    const runId = runs.body.runs[0]?.id ?? '';
    expect(runId).toMatch(new RegExp(`^funnel:${tenantId}:${phone}:`));
    expectPriority(await startedPriority(runId), 2, tenantId);
    expectPriority(await startedPriority(followUpWorkflowId(tenantId, phone)), 3, tenantId);
  });

  it('a scheduled send goes first; a campaign is bulk; both keyed by the tenant', async () => {
    const scheduled = await f.api<{ scheduleId: string }>('POST', '/api/whatsapp/schedule-message', {
      instanceName: 'loja-centro',
      phoneNumber: '5511977710002',
      message: 'Lembrete',
      scheduledFor: new Date(Date.now() + 60 * 60_000).toISOString(),
    });
    expect(scheduled.status).toBe(202);
    expectPriority(await startedPriority(scheduleWorkflowId(scheduled.body.scheduleId)), 1, tenantId);

    const campaign = await f.api<{ id: string }>('POST', '/api/campaigns', { name: 'Prioridade', channels: ['loja-centro'], message: 'Oi!', audience: { phones: ['5511977710003'] } });
    expect(campaign.status).toBe(201);
    expectPriority(await startedPriority(campaignWorkflowId(campaign.body.id)), 4, tenantId);
  });

  it("system schedules start their workflows at the lowest level, without a tenant's key", async () => {
    const scheduleId = `priority-test-${uniqueId()}`;
    await ensureMetricsRollupSchedule(f.stack.client, { taskQueue: f.stack.config.TEMPORAL_TASK_QUEUE, everyMs: 3_600_000, catchupWindowMs: 60_000, scheduleId });
    const handle = f.stack.client.schedule.getHandle(scheduleId);
    try {
      const described = await handle.describe();
      expect(described.action).toMatchObject({ priority: { priorityKey: 5 } });
      expect((described.action as { priority?: { fairnessKey?: string } }).priority?.fairnessKey ?? '').toBe('');
    } finally {
      await handle.delete();
    }
  });
});
