/**
 * Warm-ups on real Temporal and PostgreSQL with the loopback Evolution: two numbers of one
 * tenant (their phone numbers set on the channels as a connection would) talk in rounds
 * through the delivery, with "typing…" before each answer; a number down skips rounds with the
 * reason and the warm-up goes on once it is back; pause, resume and cancel are updates; bad
 * input names its field and another tenant's warm-up is not found. Messages between the
 * tenant's own numbers start no funnel (a customer's same text does) and count in no metric.
 */
import { and, eq, like } from 'drizzle-orm';
import { channels, conversationEvents, funnelRuns, messages } from '../../src/db/schema';
import { warmupWorkflowId } from '../../src/domain/workflowIds';
import { addChannel } from '../../src/services/channels';
import { rollupMetrics } from '../../src/services/metrics';
import { WorkflowType } from '../../src/workflows/definitions';
import { postJson } from '../support/http';
import { evolutionText } from '../support/payloads';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';
import { EVO_INSTANCE, startSendingWorld, type SendingWorld } from '../sending/support';

/** Short pauses and rechecks so tests spend seconds (no test asserts a duration). */
const WARMUP_TEST_ENV: Record<string, string> = {
  WARMUP_REPLY_PAUSE_MIN: '10ms',
  WARMUP_REPLY_PAUSE_MAX: '40ms',
  WARMUP_CHANNEL_RECHECK: '500ms',
  WARMUP_HEARTBEAT_TIMEOUT: '5s',
  // Continue-as-new every two rounds: the day's count and the round numbers carry over.
  WARMUP_ROUNDS_PER_RUN: '2',
  FUNNEL_TRIGGER_CACHE: '0',
  METRICS_ROLLUP_SETTLE: '0',
};

const FILIAL = 'loja-filial';
const PHONE_A = '5511970000001';
const PHONE_B = '5511970000002';
const CUSTOMER = '5511955550001';

describe('warm-ups', () => {
  let world: SendingWorld;
  let channelA: string;
  let channelB: string;

  beforeAll(async () => {
    world = await startSendingWorld({ env: WARMUP_TEST_ENV });
    world.evolution.addInstance(FILIAL);
    const filial = await addChannel(world.stack.db.db, {
      tenantId: world.tenant.tenant.id,
      provider: 'evolution',
      externalId: FILIAL,
      name: 'Loja Filial',
      baseUrl: world.evolution.url,
      apiKey: 'evo-key',
      webhookSecret: 'filial-secret',
    });
    channelA = world.tenant.channel.id;
    channelB = filial.id;
    // As the channel workflow would on `connection.update` (open, wuid): connected, with the number.
    await setChannel(channelA, { connectionState: 'connected', phoneNumber: PHONE_A });
    await setChannel(channelB, { connectionState: 'connected', phoneNumber: PHONE_B });
    world.stack.ingestRuntime.ingest.directory.invalidate();
  }, 120_000);
  afterAll(() => world?.close());

  function setChannel(id: string, values: { connectionState?: string; phoneNumber?: string }) {
    return world.stack.db.db.update(channels).set(values).where(eq(channels.id, id));
  }

  const plan = (overrides: Record<string, unknown> = {}) => ({
    name: 'Aquecimento',
    channels: [EVO_INSTANCE, FILIAL],
    ramp: { start: 3, growthPercent: 20, cap: 50 },
    delayBetweenRounds: '200ms',
    turnsPerRound: 3,
    phrases: ['Oi, tudo bem?', 'Tudo ótimo!', 'Vamos almoçar amanhã?'],
    ...overrides,
  });

  async function createWarmup(body: Record<string, unknown>) {
    const res = await world.api('/warmups', { body });
    if (res.status !== 201) throw new Error(`warm-up not created: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string; state: string };
  }

  async function view(id: string) {
    const res = await world.api(`/warmups/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  const control = (id: string, action: 'pause' | 'resume' | 'cancel') => world.api(`/warmups/${id}/${action}`, { body: {} });

  function warmupSends(id: string) {
    return world.stack.db.db
      .select()
      .from(messages)
      .where(like(messages.idempotencyKey, `warmup:${id}:%`));
  }

  it('refuses bad input naming the field, and another tenant’s warm-up is not found', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [plan({ channels: [EVO_INSTANCE] }), 'channels'],
      [plan({ channels: [EVO_INSTANCE, 'outra-loja'] }), 'channels.1'],
      [plan({ channels: [EVO_INSTANCE, 'nao-existe'] }), 'channels.1'],
      [plan({ phrases: undefined }), 'phrases'],
      [plan({ windows: '25:00-26:00' }), 'windows'],
      [plan({ ramp: { start: 0, cap: 10 } }), 'ramp.start'],
      [plan({ ramp: { start: 20, cap: 10 } }), 'ramp.cap'],
      [plan({ delayBetweenRounds: 'soon' }), 'delayBetweenRounds'],
      [plan({ turnsPerRound: 1 }), 'turnsPerRound'],
      [plan({ days: [7] }), 'days.0'],
    ];
    for (const [body, field] of cases) {
      const res = await world.api('/warmups', { body });
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(JSON.stringify(res.body)).toContain(field);
    }
    const mine = await createWarmup(plan({ windows: '03:00-03:01', days: [0] }));
    const theirs = await world.api(`/warmups/${mine.id}`, { key: world.other.apiKey });
    expect(theirs.status).toBe(404);
    expect((await world.api(`/warmups/${mine.id}/pause`, { body: {}, key: world.other.apiKey })).status).toBe(404);
    expect((await world.api('/warmups/not-a-uuid')).status).toBe(404);
    expect((await control(mine.id, 'cancel')).status).toBe(200);
  });

  it('runs rounds between the two numbers through the delivery, with typing before each answer, up to the day’s ramp', async () => {
    const created = await createWarmup(plan());
    expect(created.state).toBe('running');
    const done = await eventually(
      async () => {
        const v = await view(created.id);
        const today = v.progress.days[v.progress.days.length - 1];
        return today?.done === 3 ? v : undefined;
      },
      30_000,
      'three rounds',
    );
    const today = done.progress.days[done.progress.days.length - 1];
    expect(today).toMatchObject({ planned: 3, done: 3, failed: 0, skipped: 0, messages: 9 });
    expect(done.progress.messages).toBe(9);

    // Both numbers sent (the opener alternates), each to the other's number.
    const sent = world.evolution.sent.filter((s) => s.instance === EVO_INSTANCE ? s.number === PHONE_B : s.instance === FILIAL && s.number === PHONE_A);
    expect(sent.filter((s) => s.instance === EVO_INSTANCE).length).toBeGreaterThan(0);
    expect(sent.filter((s) => s.instance === FILIAL).length).toBeGreaterThan(0);
    expect(sent).toHaveLength(9);
    // "typing…" before each answer: two per round of three turns.
    const presences = world.evolution.presences.filter((p) => p.number === PHONE_A || p.number === PHONE_B);
    expect(presences.length).toBe(6);
    expect(presences.every((p) => p.presence === 'composing')).toBe(true);

    const rows = await warmupSends(created.id);
    expect(rows).toHaveLength(9);
    expect(rows.every((r) => r.status === 'sent' && r.providerMessageId)).toBe(true);
    // The day's ramp is reached: the workflow (a run continued as new after two rounds) waits for tomorrow's quota.
    const handle = world.stack.client.workflow.getHandle(warmupWorkflowId(created.id));
    const progress = await handle.query<{ waitingFor?: string; rounds: number }>('warmupProgress');
    expect(progress).toMatchObject({ waitingFor: 'quota', rounds: 3 });
    const history = await handle.fetchHistory();
    expect(history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBeTruthy();
    expect(new Set(rows.map((r) => r.idempotencyKey)).size).toBe(9);
    expect((await control(created.id, 'cancel')).status).toBe(200);
    expect(await handle.result()).toMatchObject({ state: 'cancelled', rounds: 3 });
    // Its last run: carried state, a round, the wait for tomorrow's quota, the cancel update.
    recordHistory('warmup', warmupWorkflowId(created.id), WorkflowType.warmup);
  }, 60_000);

  it('skips rounds while a number is disconnected, says why, and goes on once it reconnects', async () => {
    await setChannel(channelB, { connectionState: 'disconnected' });
    const created = await createWarmup(plan({ ramp: { start: 2, cap: 2 } }));
    const skipped = await eventually(
      async () => {
        const v = await view(created.id);
        return v.progress.skips.length > 0 ? v : undefined;
      },
      20_000,
      'a skipped round',
    );
    expect(skipped.progress.skips[0]).toMatchObject({ status: 'skipped', reason: 'Loja Filial is disconnected' });
    expect(skipped.progress.rounds.done).toBe(0);
    expect(await warmupSends(created.id)).toHaveLength(0);

    await setChannel(channelB, { connectionState: 'connected' });
    const resumed = await eventually(
      async () => {
        const v = await view(created.id);
        return v.progress.rounds.done === 2 ? v : undefined;
      },
      20_000,
      'rounds after the reconnect',
    );
    // One row for the outage however many rechecks it took.
    expect(resumed.progress.skips).toHaveLength(1);
    expect(resumed.progress.rounds.skipped).toBe(1);
    expect(await warmupSends(created.id)).toHaveLength(6);
    expect((await control(created.id, 'cancel')).status).toBe(200);
  }, 60_000);

  it('pauses, resumes and cancels through its workflow', async () => {
    const created = await createWarmup(plan({ ramp: { start: 50, cap: 50 }, delayBetweenRounds: '1s', turnsPerRound: 2 }));
    await eventually(async () => (await view(created.id)).progress.rounds.done >= 1, 20_000, 'a first round');

    const paused = await control(created.id, 'pause');
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe('paused');
    const atPause = (await view(created.id)).progress.rounds.done;
    expect((await control(created.id, 'pause')).body.state).toBe('paused');

    const resumed = await control(created.id, 'resume');
    expect(resumed.body.state).toBe('running');
    await eventually(async () => (await view(created.id)).progress.rounds.done > atPause, 20_000, 'a round after the resume');

    const cancelled = await control(created.id, 'cancel');
    expect(cancelled.body.state).toBe('cancelled');
    const handle = world.stack.client.workflow.getHandle(warmupWorkflowId(created.id));
    expect(await handle.result()).toMatchObject({ state: 'cancelled' });
    expect((await control(created.id, 'resume')).status).toBe(409);
    expect((await world.api('/warmups?status=cancelled')).body.warmups.map((w: { id: string }) => w.id)).toContain(created.id);
  }, 60_000);

  it('a message from one of the tenant’s own numbers starts no funnel; the same text from a customer does', async () => {
    const funnel = await world.api('/funnels', {
      body: { name: 'Quero', trigger: { type: 'keyword', phrase: 'quero comprar' }, steps: [{ id: 'hi', type: 'send', message: { type: 'text', text: 'Oba!' } }] },
    });
    expect(funnel.status).toBe(201);
    const webhook = (phone: string) =>
      postJson(`${world.stack.url}/webhooks/evolution`, evolutionText({ instance: FILIAL, phone, text: 'Quero comprar' }), { 'x-zapflow-secret': 'filial-secret' });

    expect((await webhook(PHONE_A)).status).toBe(200);
    expect((await webhook(CUSTOMER)).status).toBe(200);
    await eventually(
      async () => (await world.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, CUSTOMER))).length === 1,
      20_000,
      'the customer’s run',
    );
    const own = await world.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, PHONE_A));
    expect(own).toHaveLength(0);
    // Recorded all the same, as a message that triggers nothing and counts in no metric.
    const [stored] = await world.stack.db.db
      .select()
      .from(messages)
      .where(and(eq(messages.channelId, channelB), eq(messages.direction, 'inbound'), eq(messages.body, 'Quero comprar'), eq(messages.triggersAutomation, false)));
    expect(stored).toBeDefined();
    const events = await world.stack.db.db.select().from(conversationEvents).where(eq(conversationEvents.messageId, stored!.id));
    expect(events).toHaveLength(0);
  }, 60_000);

  it('warm-up traffic is not in the tenant’s metrics', async () => {
    const db = world.stack.db.db;
    const tenantId = world.tenant.tenant.id;
    const warm = await db.select().from(messages).where(and(eq(messages.tenantId, tenantId), like(messages.idempotencyKey, 'warmup:%')));
    expect(warm.length).toBeGreaterThan(0);
    await eventually(
      async () => (await db.select().from(messages).where(and(eq(messages.tenantId, tenantId), eq(messages.body, 'Oba!'), eq(messages.status, 'sent')))).length === 1,
      20_000,
      'the funnel’s answer to the customer',
    );
    // Sends of the tenant's that are not warm-up turns (the customer's funnel answer).
    const outbound = (await db.select().from(messages).where(and(eq(messages.tenantId, tenantId), eq(messages.direction, 'outbound')))).filter(
      (m) => m.sentAt && !m.idempotencyKey?.startsWith('warmup:') && m.author === 'zapflow',
    );
    const inbound = (await db.select().from(messages).where(and(eq(messages.tenantId, tenantId), eq(messages.direction, 'inbound')))).filter(
      (m) => m.body === 'Quero comprar',
    );
    expect(inbound).toHaveLength(2);
    expect(outbound.length).toBeGreaterThan(0);

    await rollupMetrics(db, world.stack.config);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const res = await world.api(`/metrics?from=${yesterday}&to=${tomorrow}&groupBy=day`);
    expect(res.status).toBe(200);
    // The customer's message and the funnel's answer; none of the warm-up's turns, nor the own number's message.
    expect(res.body.totals).toMatchObject({ sent: outbound.length, received: 1 });
  }, 60_000);
});
