import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { eq } from 'drizzle-orm';
import { funnelRuns, messages } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import type { Dispatcher } from '../../src/ingest/dispatcher';
import { FunnelTriggerCache } from '../../src/services/funnels';
import { funnelRunLimits, startFunnelRun } from '../../src/services/funnelRuns';
import { WorkflowType } from '../../src/workflows/definitions';
import { testLog, testProviders } from '../support/harness';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { uniqueId } from '../support/payloads';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';

const { EventType } = temporal.api.enums.v1;

/** What a workflow execution cost Temporal, read from its history. */
async function costOf(client: Client, workflowId: string) {
  const handle = client.workflow.getHandle(workflowId);
  // The row says finished one step before the history does (the last task's markers are written when it completes).
  await handle.result().catch(() => undefined);
  const events = (await handle.fetchHistory()).events ?? [];
  const count = (type: temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === type).length;
  const localActivities = events.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_local_activity') return [];
    const data = marker.details?.data?.payloads?.[0]?.data;
    return [data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type : '?'];
  });
  return {
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    timers: count(EventType.EVENT_TYPE_TIMER_STARTED),
    activities: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    externalSignals: count(EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
    localActivities,
  };
}

describe('funnel clicks and replies without a contact workflow', () => {
  let f: FunnelStack;
  let phoneSeq = 0;
  const nextPhone = () => `55119444${String(++phoneSeq).padStart(5, '0')}`;
  const runsOf = (phone: string) => f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
  const finishedRun = (phone: string) =>
    eventually(async () => (await runsOf(phone)).find((r) => ['completed', 'failed', 'cancelled'].includes(r.status)), 20_000, `a finished run for ${phone}`);
  const dispatcher = () => f.stack.ingestRuntime.dispatcher as Dispatcher;
  const createFunnel = async (def: Record<string, unknown>) => {
    const res = await f.api('POST', '/api/funnels', def);
    expect(res.status).toBe(201);
    return res.body as { id: string; version: number };
  };
  const deactivateAll = async () => {
    const list = await f.api<{ funnels: Array<{ id: string }> }>('GET', '/api/funnels');
    for (const funnel of list.body.funnels) await f.api('POST', `/api/funnels/${funnel.id}/deactivate`);
  };
  const contactWorkflowOf = (phone: string) => f.stack.client.workflow.getHandle(contactWorkflowId(f.tenant.tenant.id, phone));
  const expectNoContactWorkflow = async (phone: string) =>
    expect(contactWorkflowOf(phone).describe()).rejects.toMatchObject({ name: 'WorkflowNotFoundError' });
  const sendWaitSend = () =>
    funnelDef({
      steps: [
        { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
        { id: 'wait', type: 'delay', duration: '300ms' },
        { id: 'bye', type: 'send', message: { type: 'text', text: 'Até logo' } },
      ],
    });
  const askAndWait = () =>
    funnelDef({
      steps: [
        { id: 'ask', type: 'send', message: { type: 'buttons', text: 'Quer o plano?', buttons: [{ id: 'sim', title: 'Sim' }, { id: 'nao', title: 'Não' }] } },
        { id: 'reply', type: 'waitForReply', timeout: '1h', branches: [{ button: 'sim', next: 'yes' }], default: 'no' },
        { id: 'yes', type: 'send', message: { type: 'text', text: 'Ótimo!' } },
        { id: 'end', type: 'end' },
        { id: 'no', type: 'send', message: { type: 'text', text: 'Tudo bem' } },
      ],
    });

  beforeAll(async () => {
    f = await startFunnelStack();
  });
  afterAll(() => f.close());
  beforeEach(() => deactivateAll());

  it('a click starts its run and sends the first message once, with no contact workflow, for one start, two workflow tasks and one timer', async () => {
    await createFunnel(sendWaitSend());
    const phone = nextPhone();
    const clicks = dispatcher().fastPath.clicks;
    await f.click(phone, { id: 'pode_falar_sim', displayText: 'Pode falar sim!', name: 'Bia' });
    const run = await finishedRun(phone);
    expect(run.status).toBe('completed');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Bia!', 'Até logo']);
    expect(dispatcher().fastPath.clicks).toBe(clicks + 1);
    await expectNoContactWorkflow(phone);

    // The first send left before the workflow existed: its first task went straight to the timer.
    const cost = await costOf(f.stack.client, run.id);
    expect(cost).toEqual({ workflowTasks: 2, timers: 1, activities: 0, externalSignals: 0, localActivities: ['beginFunnelRun', 'funnelProgress', 'funnelSend', 'finishFunnelRun'] });
    recordHistory('funnel-lead-sent-eagerly', run.id, WorkflowType.funnelRun);
  });

  it('a reply reaches the waiting run through the database, with no contact workflow', async () => {
    await createFunnel(askAndWait());
    const phone = nextPhone();
    const replies = dispatcher().fastPath.replies;
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(phone))[0]?.status === 'waiting');
    await f.say(phone, 'Sim'); // typed: the label of the button counts as the tap
    const run = await finishedRun(phone);
    expect(run.status).toBe('completed');
    expect(run.variables).toBeDefined();
    expect(f.sentTo(phone).map((s) => s.body.text ?? s.kind)).toEqual(['buttons', 'Ótimo!']);
    expect(dispatcher().fastPath.replies).toBe(replies + 1);
    await expectNoContactWorkflow(phone);
    // Nobody to tell that it waits: no external signal, no failed one.
    expect((await costOf(f.stack.client, run.id)).externalSignals).toBe(0);
    recordHistory('funnel-reply-routed-by-database', run.id, WorkflowType.funnelRun);
  });

  it('an opt-out stops the waiting run, and the opted-out contact is never fast-pathed again', async () => {
    await createFunnel(askAndWait());
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(phone))[0]?.status === 'waiting');
    await f.say(phone, 'PARE');
    const run = await finishedRun(phone);
    expect(run).toMatchObject({ status: 'cancelled', cancelReason: 'contact opted out' });
    // The opt-out is recorded and confirmed (the one message an opted-out contact gets).
    await eventually(() => Promise.resolve(f.sentTo(phone).length === 2), 15_000, 'the opt-out confirmation');
    const sentBefore = f.sentTo(phone).length;
    const clicks = dispatcher().fastPath.clicks;
    const id = uniqueId();
    await f.click(phone, { displayText: 'Pode falar sim!', messageId: id });
    await eventually(async () => {
      const [row] = await f.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
      return row?.dispatchedAt ? row : undefined;
    });
    // The contact workflow took it (and drops it): no new run, no send.
    await eventually(async () => (await contactWorkflowOf(phone).query<{ handled: number }>('state')).handled >= 2);
    expect(dispatcher().fastPath.clicks).toBe(clicks);
    expect(await runsOf(phone)).toHaveLength(1);
    expect(f.sentTo(phone)).toHaveLength(sentBefore);
  });

  it('a click right behind an opt-out waits its turn in the contact workflow and starts nothing', async () => {
    await createFunnel(sendWaitSend());
    const phone = nextPhone();
    const clicks = dispatcher().fastPath.clicks;
    // Back to back: the click is loaded before the contact workflow has recorded the opt-out.
    await f.say(phone, 'PARE');
    const id = uniqueId();
    await f.click(phone, { id: 'pode_falar_sim', displayText: 'Pode falar sim!', messageId: id });
    await eventually(async () => {
      const [row] = await f.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
      return row?.dispatchedAt ? row : undefined;
    });
    await eventually(async () => (await contactWorkflowOf(phone).query<{ handled: number }>('state')).handled >= 2);
    expect(dispatcher().fastPath.clicks).toBe(clicks);
    expect(await runsOf(phone)).toHaveLength(0);
    // Only the opt-out's confirmation went out.
    await eventually(() => Promise.resolve(f.sentTo(phone).length === 1), 15_000, 'the opt-out confirmation');
    expect(f.sentTo(phone).map((s) => s.body.text)).not.toContain('Oi !');
  });

  it('a handover stops the waiting run and blocks the fast path', async () => {
    await createFunnel(askAndWait());
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(phone))[0]?.status === 'waiting');
    const handover = await f.api('POST', `/api/contacts/${phone}/handover`, { reason: 'vendedor' });
    expect(handover.status).toBe(200);
    const run = await finishedRun(phone);
    expect(run).toMatchObject({ status: 'cancelled', cancelReason: 'handed over to a human' });
    const clicks = dispatcher().fastPath.clicks;
    const replies = dispatcher().fastPath.replies;
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await f.say(phone, 'Sim');
    // Both went to the contact workflow, which knows the pause: nothing started, nothing sent.
    await eventually(async () => (await contactWorkflowOf(phone).query<{ handled: number }>('state').catch(() => ({ handled: 0 }))).handled >= 2);
    expect(dispatcher().fastPath).toMatchObject({ clicks, replies });
    expect(await runsOf(phone)).toHaveLength(1);
    expect(f.sentTo(phone).map((s) => s.kind)).toEqual(['buttons']);
  });

  it('sends the eager first message exactly once across a crash between the send and the workflow start', async () => {
    const funnel = await createFunnel(sendWaitSend());
    const phone = nextPhone();
    const [spec] = (await new FunnelTriggerCache(f.stack.db.db, 0).forTenant(f.tenant.tenant.id)).filter((s) => s.funnelId === funnel.id);
    // The click is stored as a message of the contact, as the webhook stores it (not dispatched: no trigger matches it).
    await f.say(phone, 'um clique', uniqueId());
    const [message] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(messages).where(eq(messages.channelId, f.tenant.channel.id));
      const mine = rows.filter((r) => r.body === 'um clique');
      return mine.length ? mine : undefined;
    });
    const request = {
      tenantId: f.tenant.tenant.id,
      contactKey: phone,
      channelId: f.tenant.channel.id,
      triggerMessageId: message.id,
      funnel: spec,
      sendRetry: { maximumAttempts: 3, initialIntervalMs: 100, maximumIntervalMs: 200 },
      limits: funnelRunLimits(f.stack.config),
      notifyContact: false,
    };
    const deps = { db: f.stack.db.db, providers: testProviders(f.stack.db), log: testLog, config: f.stack.config };
    // The process dies after the eager send, before Temporal hears of the run.
    const crashing = { workflow: { start: () => Promise.reject(new Error('killed before the start')) } } as unknown as Client;
    await expect(startFunnelRun({ ...deps, temporal: { client: crashing, taskQueue: f.stack.config.TEMPORAL_TASK_QUEUE } }, { ...request, eager: true })).rejects.toThrow(
      'killed before the start',
    );
    const eager = f.sentTo(phone).map((s) => s.body.text);
    expect(eager).toHaveLength(1);
    expect(eager[0]).toMatch(/^Oi /);
    const [queued] = await runsOf(phone);
    expect(queued).toMatchObject({ status: 'queued', currentStep: 'hello' });

    // The dispatch is redone (the scan): the run's row is there, the send is found already
    // made, the workflow starts once and goes on from the next step.
    const temporalDeps = { temporal: { client: f.stack.client, taskQueue: f.stack.config.TEMPORAL_TASK_QUEUE } };
    const again = await startFunnelRun({ ...deps, ...temporalDeps }, { ...request, eager: true });
    const twice = await startFunnelRun({ ...deps, ...temporalDeps }, { ...request, eager: true });
    expect(twice).toEqual({ outcome: 'duplicate', runId: again.runId });
    const run = await finishedRun(phone);
    expect(run.status).toBe('completed');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual([eager[0], 'Até logo']);
    // Only the second step's send ran in the workflow.
    expect((await costOf(f.stack.client, run.id)).localActivities.filter((a) => a === 'funnelSend')).toHaveLength(1);
  });

  it('without the eager flag on the retry, the workflow finds the eager send recorded and does not send it again', async () => {
    const funnel = await createFunnel(sendWaitSend());
    const phone = nextPhone();
    const [spec] = (await new FunnelTriggerCache(f.stack.db.db, 0).forTenant(f.tenant.tenant.id)).filter((s) => s.funnelId === funnel.id);
    await f.say(phone, 'outro clique', uniqueId());
    const [message] = await eventually(async () => {
      const rows = (await f.stack.db.db.select().from(messages).where(eq(messages.channelId, f.tenant.channel.id))).filter((r) => r.body === 'outro clique');
      return rows.length ? rows : undefined;
    });
    const request = {
      tenantId: f.tenant.tenant.id,
      contactKey: phone,
      channelId: f.tenant.channel.id,
      triggerMessageId: message.id,
      funnel: spec,
      sendRetry: { maximumAttempts: 3, initialIntervalMs: 100, maximumIntervalMs: 200 },
      limits: funnelRunLimits(f.stack.config),
      notifyContact: false,
    };
    const deps = { db: f.stack.db.db, providers: testProviders(f.stack.db), log: testLog, config: f.stack.config };
    const crashing = { workflow: { start: () => Promise.reject(new Error('killed before the start')) } } as unknown as Client;
    await expect(startFunnelRun({ ...deps, temporal: { client: crashing, taskQueue: 'x' } }, { ...request, eager: true })).rejects.toThrow();
    // The workflow walks the first step itself (as after a deferred eager send): delivery says already sent.
    await startFunnelRun({ db: f.stack.db.db, temporal: { client: f.stack.client, taskQueue: f.stack.config.TEMPORAL_TASK_QUEUE } }, request);
    const run = await finishedRun(phone);
    expect(run.status).toBe('completed');
    const texts = f.sentTo(phone).map((s) => s.body.text);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toBe('Até logo');
    expect((await costOf(f.stack.client, run.id)).localActivities.filter((a) => a === 'funnelSend')).toHaveLength(2);
  });

  it('a tenant with AI replies on still goes through the contact workflow', async () => {
    await createFunnel(sendWaitSend());
    const settings = await f.api('PUT', '/api/conversations/settings', { ai: { replies: true } });
    expect(settings.status).toBe(200);
    try {
      const phone = nextPhone();
      const clicks = dispatcher().fastPath.clicks;
      await f.click(phone, { displayText: 'Pode falar sim!', name: 'Caio' });
      const run = await finishedRun(phone);
      expect(run.status).toBe('completed');
      expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Caio!', 'Até logo']);
      expect(dispatcher().fastPath.clicks).toBe(clicks);
      expect((await contactWorkflowOf(phone).describe()).type).toBe(WorkflowType.contact);
    } finally {
      await f.api('PUT', '/api/conversations/settings', { ai: { replies: false } });
    }
  });
});

// A second process shares the database only on PostgreSQL (PGlite lives in this process).
const onPostgres = process.env.DATABASE_URL ? describe : describe.skip;

onPostgres('the eager first send and a worker killed before the run’s first task', () => {
  let f: FunnelStack;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    f = await startFunnelStack({}, { worker: false });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await f?.close();
  });

  /** A worker in a process of its own (as `zapflow worker`), ready when it says so. */
  function startWorkerProcess(): Promise<ChildProcess> {
    const config = f.stack.config;
    const proc = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, '../campaigns/workerProcess.ts')], {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        DATABASE_URL: f.stack.db.url,
        TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
        FUNNEL_SEND_MAX_ATTEMPTS: '3',
        FUNNEL_SEND_RETRY_INITIAL: '100ms',
        FUNNEL_SEND_RETRY_MAX: '200ms',
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve, reject) => {
      proc.once('message', () => resolve(proc));
      proc.once('exit', (code) => reject(new Error(`worker process exited (${code}) before it was ready:\n${stderr}`)));
    });
  }

  it('sends the first message exactly once when the worker dies with SIGKILL before the run’s first task, and the run goes on', async () => {
    const res = await f.api('POST', '/api/funnels', {
      ...funnelDef(),
      steps: [
        { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
        { id: 'wait', type: 'delay', duration: '300ms' },
        { id: 'bye', type: 'send', message: { type: 'text', text: 'Até logo' } },
      ],
    });
    expect(res.status).toBe(201);
    const phones = Array.from({ length: 5 }, (_, i) => `55119333${String(i).padStart(5, '0')}`);
    // No worker yet: the dispatcher records each run, sends its first message and starts its
    // workflow, whose first task waits for a worker.
    for (const phone of phones) await f.click(phone, { displayText: 'Pode falar sim!', name: 'Rui' });
    await eventually(() => Promise.resolve(phones.every((p) => f.sentTo(p).length === 1)), 15_000, 'every first message, eagerly');
    // A worker process takes the tasks and is killed at once, wherever it is in them.
    child = await startWorkerProcess();
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    await f.stack.startWorker();
    await eventually(
      async () => {
        const rows = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.tenantId, f.tenant.tenant.id));
        return rows.length === phones.length && rows.every((r) => r.status === 'completed');
      },
      60_000,
      'every run completed',
    );
    for (const phone of phones) expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Rui!', 'Até logo']);
  }, 120_000);
});
