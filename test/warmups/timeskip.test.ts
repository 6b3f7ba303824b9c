/**
 * A warm-up across two windows of a day on the time-skipping test server, in
 * America/Sao_Paulo: rounds start when the morning window opens, one every delay, stop when
 * it closes, and go on when the afternoon window opens, up to the day's ramp. The real
 * workflow and activities, PostgreSQL, a loopback Evolution with two instances of one tenant.
 * Times are read from the rounds' started_at, which the workflow's clock (the test server's)
 * writes.
 */
import { randomUUID } from 'node:crypto';
import { asc, eq, like } from 'drizzle-orm';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { channels, messages, warmupRounds } from '../../src/db/schema';
import { nextTimeOfDay } from '../../src/domain/timeOfDay';
import { warmupWorkflowId } from '../../src/domain/workflowIds';
import { addChannel } from '../../src/services/channels';
import { createTenant } from '../../src/services/tenants';
import { createWarmup, type WarmupServiceDeps } from '../../src/services/warmups';
import { findTemporalTestServer } from '../../src/temporal/binary';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { createTestDb, installQuietRuntime, testConfig, testLog, testProviders, workflowBundle, type TestDb } from '../support/harness';
import { FAST_SENDING } from '../sending/support';

const TZ = 'America/Sao_Paulo';
const HOUR = 3_600_000;

/** `HH:MM` in São Paulo. */
function localTime(ms: number): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

describe('a warm-up on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  let evolution: EvolutionFake;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `warmup-timeskip-${randomUUID()}`;
  const config = testConfig({
    ...FAST_SENDING,
    WARMUP_REPLY_PAUSE_MIN: '10ms',
    WARMUP_REPLY_PAUSE_MAX: '30ms',
    WARMUP_CHANNEL_RECHECK: '5m',
    TEMPORAL_TASK_QUEUE: taskQueue,
  });

  beforeAll(async () => {
    installQuietRuntime();
    const path = findTemporalTestServer();
    if (!path) throw new Error('temporal-test-server not found (scripts/setup.sh temporal installs it into .tools/)');
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    db = await createTestDb();
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['aquece-a', 'aquece-b'] });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: workflowBundle(),
      activities: createActivities({ db: db.db, providers: testProviders(db), log: testLog, config }),
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running?.catch(() => {});
    await env?.teardown();
    await db?.drop();
    await evolution?.close();
  });

  it('runs rounds in the morning window, waits through the afternoon gap, and goes on in the next window up to the ramp', async () => {
    const { tenant } = await createTenant(db.db, { name: 'Aquece', timezone: TZ });
    const phones = { 'aquece-a': '5511971110001', 'aquece-b': '5511971110002' } as const;
    for (const [instance, phone] of Object.entries(phones)) {
      const row = await addChannel(db.db, { tenantId: tenant.id, provider: 'evolution', externalId: instance, baseUrl: evolution.url, apiKey: 'evo-key' });
      await db.db.update(channels).set({ connectionState: 'connected', phoneNumber: phone }).where(eq(channels.id, row.id));
    }

    // 08:30 local: before the first window.
    const now = await env.currentTimeMs();
    const start = nextTimeOfDay(now + 10 * 60_000, '08:30', TZ);
    await env.sleep(start - now);

    const deps: WarmupServiceDeps = { db: db.db, temporal: env.client, config, log: testLog, searchAttributes: false };
    const warmup = await createWarmup(deps, {
      tenantId: tenant.id,
      now: await env.currentTimeMs(),
      input: {
        channels: ['aquece-a', 'aquece-b'],
        windows: [
          { start: '09:00', end: '10:00' },
          { start: '14:00', end: '15:00' },
        ],
        ramp: { start: 6, growthPercent: 20, cap: 100 },
        delayMs: 15 * 60_000,
        turnsPerRound: 2,
        topics: ['futebol', 'receitas'],
      },
    });

    // Past the afternoon window: six rounds (the first day's ramp), four in the morning, two after 14:00.
    await env.sleep(7 * HOUR);
    const rounds = await eventually(async () => {
      const rows = await db.db.select().from(warmupRounds).where(eq(warmupRounds.warmupId, warmup.id)).orderBy(asc(warmupRounds.startedAt));
      return rows.length >= 6 ? rows : undefined;
    });
    expect(rounds).toHaveLength(6);
    expect(rounds.map((r) => localTime(r.startedAt.getTime()))).toEqual(['09:00', '09:15', '09:30', '09:45', '14:00', '14:15']);
    expect(rounds.every((r) => r.status === 'done' && r.messages === 2)).toBe(true);
    expect(new Set(rounds.map((r) => r.day)).size).toBe(1);
    // The opener alternates between the two numbers.
    expect(rounds.slice(1).every((r, i) => r.initiatorChannelId !== rounds[i]!.initiatorChannelId && r.initiatorChannelId === rounds[i]!.responderChannelId)).toBe(true);

    const sends = await db.db.select().from(messages).where(like(messages.idempotencyKey, `warmup:${warmup.id}:%`));
    expect(sends).toHaveLength(12);
    expect(evolution.sent.filter((s) => s.instance === 'aquece-a' && s.number === phones['aquece-b'])).toHaveLength(6);
    expect(evolution.sent.filter((s) => s.instance === 'aquece-b' && s.number === phones['aquece-a'])).toHaveLength(6);
    // "typing…" before every answer.
    expect(evolution.presences).toHaveLength(6);

    const progress = await env.client.workflow.getHandle(warmupWorkflowId(warmup.id)).query<{ waitingFor?: string; waitingUntil?: number }>('warmupProgress');
    // The day's quota is done: the next round is tomorrow at 09:00.
    expect(progress.waitingFor).toBe('quota');
    expect(localTime(progress.waitingUntil!)).toBe('09:00');
    await env.client.workflow.getHandle(warmupWorkflowId(warmup.id)).terminate('test over');
  }, 120_000);

  async function eventually<T>(fn: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 300; i++) {
      const value = await fn();
      if (value) return value;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('never reached');
  }
});
