/**
 * Follow-ups with their real durations (4 hours quiet, allowed hours of the day) on the
 * time-skipping test server: the real workflow and activities, PostgreSQL, OpenAI faked.
 */
import { and, eq } from 'drizzle-orm';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { contacts, sandboxOutbox, tenants } from '../../src/db/schema';
import { upsertContact } from '../../src/db/queries/contacts';
import { followUpWorkflowId } from '../../src/domain/workflowIds';
import { findTemporalTestServer } from '../../src/temporal/binary';
import { startWorker, type RunningWorker } from '../../src/worker';
import type { FollowUpInput } from '../../src/workflows/types';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { createTestDb, installQuietRuntime, testConfig, testLog, testProviders, workflowBundle, type TestDb } from '../support/harness';
import { seedTenantWithChannel } from '../support/stack';

const HOUR = 3_600_000;

describe('follow-ups on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  let openai: OpenAiFake;
  let worker: RunningWorker;
  const taskQueue = 'followup-timeskipping';

  beforeAll(async () => {
    installQuietRuntime();
    const path = findTemporalTestServer();
    if (!path) throw new Error('temporal-test-server not installed (scripts/setup.sh temporal)');
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    db = await createTestDb();
    openai = await startOpenAiFake();
    let n = 0;
    openai.respond = () => JSON.stringify({ send: true, text: `Oi! Conseguiu ver a proposta? (${++n})`, reason: 'proposta em aberto' });
    // Default follow-up settings (4 h, at most 2), AI on the loopback fake.
    const config = testConfig({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseUrl, TEMPORAL_TASK_QUEUE: taskQueue });
    worker = await startWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      deps: { db: db.db, providers: testProviders(db), log: testLog, config, temporal: { client: env.client, taskQueue } },
      workflowBundle: workflowBundle(),
      log: testLog,
    });
  });
  afterAll(async () => {
    await worker?.shutdown();
    await env?.teardown();
    await db?.drop();
    await openai?.close();
  });

  /** A tenant whose contact wrote a minute ago and got zapflow's answer just now. */
  async function conversation(name: string, followUp: Record<string, unknown>) {
    const { tenant, channel } = await seedTenantWithChannel(db, name, { provider: 'sandbox', externalId: `ts-${name}` });
    await db.db.update(tenants).set({ timezone: 'UTC', settings: { followUp: { enabled: true, ...followUp } } }).where(eq(tenants.id, tenant.id));
    const phone = '5511999990001';
    const t0 = await env.currentTimeMs();
    await upsertContact(db.db, { tenantId: tenant.id, phone, name: 'Ana', lastInboundAt: new Date(t0 - 60_000) });
    await db.db.update(contacts).set({ lastOutboundAt: new Date(t0) }).where(and(eq(contacts.tenantId, tenant.id), eq(contacts.phone, phone)));
    const input: FollowUpInput = { tenantId: tenant.id, contactKey: phone, channelId: channel.id };
    // What the contact workflow does after its answer.
    await env.client.workflow.signalWithStart('followUpWorkflow', {
      workflowId: followUpWorkflowId(tenant.id, phone),
      taskQueue,
      args: [input],
      signal: 'outbound',
      signalArgs: [{ at: t0, channelId: channel.id }],
    });
    const result = (await env.client.workflow.getHandle(followUpWorkflowId(tenant.id, phone)).result()) as {
      sent: number;
      reason: string;
      log: Array<{ at: number; event: string; detail?: string }>;
    };
    const outbox = await db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, channel.id));
    return { t0, result, sent: result.log.filter((e) => e.event === 'sent'), outbox };
  }

  it('sends after 4 quiet hours, again 4 hours later, then stops at the cap of 2', async () => {
    const started = Date.now();
    const { t0, result, sent, outbox } = await conversation('Quatro horas', { windows: [] });
    expect(result).toMatchObject({ sent: 2, reason: 'cap reached: 2 follow-up(s) sent' });
    expect(sent).toHaveLength(2);
    expect(sent[0]!.at - t0).toBeGreaterThanOrEqual(4 * HOUR);
    expect(sent[0]!.at - t0).toBeLessThan(4 * HOUR + 60_000);
    expect(sent[1]!.at - sent[0]!.at).toBeGreaterThanOrEqual(4 * HOUR);
    expect(outbox.map((o) => (o.message as { text: string }).text)).toEqual(['Oi! Conseguiu ver a proposta? (1)', 'Oi! Conseguiu ver a proposta? (2)']);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('holds a follow-up due outside the allowed hours until the next window opens', async () => {
    const now = await env.currentTimeMs();
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    const windowStart = Math.floor((now + 6 * HOUR) / 60_000) * 60_000;
    const { t0, sent } = await conversation('Horário', { windows: `${hhmm(now + 6 * HOUR)}-${hhmm(now + 8 * HOUR)}` });
    expect(sent).toHaveLength(2);
    // Due at t0 + 4 h, outside 6 h..8 h from now: held to the window's start.
    expect(sent[0]!.at).toBeGreaterThanOrEqual(windowStart);
    expect(sent[0]!.at).toBeLessThan(windowStart + 60_000);
    expect(sent[0]!.at - t0).toBeGreaterThan(5 * HOUR);
    // The second is due 4 h later, after the window closed: the next day's window.
    expect(sent[1]!.at).toBeGreaterThanOrEqual(windowStart + 24 * HOUR);
    expect(sent[1]!.at).toBeLessThan(windowStart + 24 * HOUR + 60_000);
  });
});
