/**
 * The metrics rollup on real Temporal and PostgreSQL: events in the log become hourly and
 * daily rows in the tenant's timezone (America/Sao_Paulo: 23:30 local is that local day, not
 * UTC's next one), with first-response counts, sums and histogram, and funnel step counts.
 * Running it twice, or from scratch, gives the same rows; a late event (a read receipt for
 * yesterday: a new id, an old time) updates yesterday's hour and day. The rollup runs as its
 * workflow (history recorded with RECORD_HISTORIES=1) and its schedule is created once and
 * updated after.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Client, Connection } from '@temporalio/client';
import type { Config } from '../../src/config';
import { appendConversationEvents, type ConversationEvent } from '../../src/db/queries/conversationEvents';
import { ensureMetricsRollupSchedule, rollupMetrics, type MetricsRollupResult } from '../../src/services/metrics';
import { WorkflowType } from '../../src/workflows/definitions';
import type { RunningWorker } from '../../src/worker';
import { recordAndReplay } from '../conversations/histories';
import { connectClient, createTestDb, startTestWorker, testConfig, type TestDb } from '../support/harness';
import { eventually, seedTenantWithChannel } from '../support/stack';

const NONE = '00000000-0000-0000-0000-000000000000';

describe('metrics rollup', () => {
  let db: TestDb;
  let config: Config;
  let client: Client;
  let connection: Connection;
  let worker: RunningWorker;
  let tenantId: string;
  let channelId: string;
  const funnelId = randomUUID();
  const campaignId = randomUUID();

  beforeAll(async () => {
    // Every event counts at once (no settle time) and batches are small: several per run.
    config = testConfig({ METRICS_ROLLUP_SETTLE: '0', METRICS_ROLLUP_BATCH: '4' });
    db = await createTestDb();
    ({ client, connection } = await connectClient());
    worker = await startTestWorker({ db, taskQueue: config.TEMPORAL_TASK_QUEUE, client, config });
    const seeded = await seedTenantWithChannel(db, 'Loja Paulista', { provider: 'sandbox', externalId: `metrics-${randomUUID()}` });
    tenantId = seeded.tenant.id;
    channelId = seeded.channel.id;
    expect(seeded.tenant.timezone).toBe('America/Sao_Paulo');
  });
  afterAll(async () => {
    await worker?.shutdown();
    await connection?.close();
    await db?.drop();
  });

  const rows = async <T>(query: ReturnType<typeof sql>): Promise<T[]> => {
    const result = (await db.db.execute(query)) as unknown as T[] | { rows: T[] };
    return Array.isArray(result) ? result : result.rows;
  };
  const event = (kind: ConversationEvent['kind'], at: string, extra: Partial<ConversationEvent> = {}): ConversationEvent => ({
    tenantId,
    kind,
    occurredAt: new Date(at),
    channelId,
    ...extra,
  });
  const runRollup = (workflowId = `metrics-rollup-test-${randomUUID()}`): Promise<MetricsRollupResult> =>
    client.workflow.execute(WorkflowType.metricsRollup, { workflowId, taskQueue: config.TEMPORAL_TASK_QUEUE, args: [] });

  /** Every rolled-up row of the tenant, comparable across runs. */
  async function snapshot() {
    const hourly = await rows<Record<string, unknown>>(sql`
      select to_char(bucket_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI') as bucket, channel_id::text, funnel_id::text, campaign_id::text,
             sent, received, delivered, read, failed, replies, opt_outs, funnel_started, funnel_completed, frt_count, frt_sum_ms::float8 as frt_sum_ms,
             frt_le_10s, frt_le_30s, frt_le_2m
        from metrics_hourly where tenant_id = ${tenantId} and dimension = 'detail' order by 1, 2, 3, 4`);
    const daily = await rows<Record<string, unknown>>(sql`
      select day::text as day, channel_id::text, funnel_id::text, campaign_id::text,
             sent, received, delivered, read, failed, replies, opt_outs, funnel_started, funnel_completed, frt_count, frt_sum_ms::float8 as frt_sum_ms,
             frt_le_10s, frt_le_30s, frt_le_2m
        from metrics_daily where tenant_id = ${tenantId} and dimension = 'detail' order by 1, 2, 3, 4`);
    const steps = await rows<Record<string, unknown>>(sql`
      select day::text as day, funnel_id::text, step_id, reached from metrics_funnel_steps_daily where tenant_id = ${tenantId} order by 1, 2, 3`);
    // The other levels: per day, per dimension and id (what the API reads).
    const levels = await rows<Record<string, unknown>>(sql`
      select day::text as day, dimension, channel_id::text, funnel_id::text, campaign_id::text, sent, delivered, read, frt_count
        from metrics_daily where tenant_id = ${tenantId} and dimension <> 'detail' order by 1, 2, 3, 4, 5`);
    return { hourly, daily, steps, levels };
  }

  it('rolls events up into hourly and daily rows of the tenant’s local time, and a second run changes nothing', async () => {
    await appendConversationEvents(db.db, [
      // 2025-03-09 23:30 in São Paulo (UTC-3) is 02:30 UTC on the 10th: the local 9th.
      event('message_received', '2025-03-10T02:30:00Z', { valueMs: 60_000 }),
      event('message_sent', '2025-03-10T02:30:05Z', { valueMs: 5_000 }),
      event('message_sent', '2025-03-10T02:40:00Z', { valueMs: 20_000, funnelId }),
      event('message_sent', '2025-03-10T02:50:00Z', { funnelId, campaignId }),
      event('funnel_started', '2025-03-10T02:39:00Z', { funnelId, runId: 'run-1' }),
      event('funnel_step_completed', '2025-03-10T02:40:00Z', { funnelId, runId: 'run-1', stepId: 'hello' }),
      event('funnel_step_completed', '2025-03-10T02:41:00Z', { funnelId, runId: 'run-1', stepId: 'ask' }),
      // 00:30 local on the 10th.
      event('message_sent', '2025-03-10T03:30:00Z', { valueMs: 90_000 }),
      event('message_delivered', '2025-03-10T03:31:00Z'),
      event('opt_out', '2025-03-10T03:35:00Z'),
      event('funnel_completed', '2025-03-10T03:36:00Z', { funnelId, runId: 'run-1' }),
      event('funnel_step_completed', '2025-03-10T03:36:00Z', { funnelId, runId: 'run-2', stepId: 'hello' }),
    ]);
    const workflowId = `metrics-rollup-test-${randomUUID()}`;
    const first = await runRollup(workflowId);
    expect(first).toMatchObject({ events: 12, batches: 3 });
    const after = await snapshot();

    expect(after.daily).toEqual([
      { day: '2025-03-09', channel_id: channelId, funnel_id: NONE, campaign_id: NONE, sent: 1, received: 1, delivered: 0, read: 0, failed: 0, replies: 1, opt_outs: 0, funnel_started: 0, funnel_completed: 0, frt_count: 1, frt_sum_ms: 5_000, frt_le_10s: 1, frt_le_30s: 0, frt_le_2m: 0 },
      { day: '2025-03-09', channel_id: channelId, funnel_id: funnelId, campaign_id: NONE, sent: 1, received: 0, delivered: 0, read: 0, failed: 0, replies: 0, opt_outs: 0, funnel_started: 1, funnel_completed: 0, frt_count: 1, frt_sum_ms: 20_000, frt_le_10s: 0, frt_le_30s: 1, frt_le_2m: 0 },
      { day: '2025-03-09', channel_id: channelId, funnel_id: funnelId, campaign_id: campaignId, sent: 1, received: 0, delivered: 0, read: 0, failed: 0, replies: 0, opt_outs: 0, funnel_started: 0, funnel_completed: 0, frt_count: 0, frt_sum_ms: 0, frt_le_10s: 0, frt_le_30s: 0, frt_le_2m: 0 },
      { day: '2025-03-10', channel_id: channelId, funnel_id: NONE, campaign_id: NONE, sent: 1, received: 0, delivered: 1, read: 0, failed: 0, replies: 0, opt_outs: 1, funnel_started: 0, funnel_completed: 0, frt_count: 1, frt_sum_ms: 90_000, frt_le_10s: 0, frt_le_30s: 0, frt_le_2m: 1 },
      { day: '2025-03-10', channel_id: channelId, funnel_id: funnelId, campaign_id: NONE, sent: 0, received: 0, delivered: 0, read: 0, failed: 0, replies: 0, opt_outs: 0, funnel_started: 0, funnel_completed: 1, frt_count: 0, frt_sum_ms: 0, frt_le_10s: 0, frt_le_30s: 0, frt_le_2m: 0 },
    ]);
    // Each level sums the detail rows over the other dimensions.
    const level = (day: string, dimension: string) => after.levels.filter((l) => l.day === day && l.dimension === dimension);
    expect(level('2025-03-09', 'total')).toEqual([{ day: '2025-03-09', dimension: 'total', channel_id: NONE, funnel_id: NONE, campaign_id: NONE, sent: 3, delivered: 0, read: 0, frt_count: 2 }]);
    expect(level('2025-03-09', 'channel')).toEqual([expect.objectContaining({ channel_id: channelId, funnel_id: NONE, campaign_id: NONE, sent: 3 })]);
    expect(level('2025-03-09', 'funnel').map((l) => [l.funnel_id, l.sent])).toEqual(
      [[NONE, 1], [funnelId, 2]].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(level('2025-03-09', 'campaign').map((l) => [l.campaign_id, l.sent]).sort()).toEqual([[NONE, 2], [campaignId, 1]].sort());
    expect(level('2025-03-10', 'total')).toEqual([expect.objectContaining({ sent: 1, delivered: 1, frt_count: 1 })]);
    // Hours start at the local hour (UTC-3: 02:00 UTC is 23:00 local).
    expect([...new Set(after.hourly.map((h) => h.bucket))]).toEqual(['2025-03-10T02:00', '2025-03-10T03:00']);
    expect(after.steps).toEqual([
      { day: '2025-03-09', funnel_id: funnelId, step_id: 'ask', reached: 1 },
      { day: '2025-03-09', funnel_id: funnelId, step_id: 'hello', reached: 1 },
      { day: '2025-03-10', funnel_id: funnelId, step_id: 'hello', reached: 1 },
    ]);

    // Twice: nothing new, the same rows.
    const second = await runRollup();
    expect(second).toMatchObject({ events: 0, batches: 0, lastEventId: first.lastEventId });
    expect(await snapshot()).toEqual(after);

    // From scratch (the watermark reset): every bucket recomputed, the same rows again.
    await db.db.execute(sql`update metrics_rollup_state set last_event_id = 0`);
    const again = await rollupMetrics(db.db, config);
    expect(again.events).toBe(12);
    expect(await snapshot()).toEqual(after);

    await recordAndReplay('metrics-rollup', workflowId, WorkflowType.metricsRollup);
  }, 120_000);

  it('a late event (a read receipt for yesterday) updates yesterday’s hour and day, and nothing else', async () => {
    const before = await snapshot();
    // Read at 23:45 local on the 9th, reported now (a new id, an old time).
    await appendConversationEvents(db.db, [event('message_read', '2025-03-10T02:45:00Z'), event('message_delivered', '2025-03-10T02:45:00Z')]);
    const result = await runRollup();
    expect(result).toMatchObject({ events: 2, hours: 1, days: 1 });
    const after = await snapshot();
    type Row = Record<string, unknown>;
    const changed = (old: Row[], now: Row[], key: (r: Row) => string) => {
      const was = new Map(old.map((r) => [key(r), JSON.stringify(r)]));
      return now.filter((r) => was.get(key(r)) !== JSON.stringify(r));
    };
    const dayKey = (r: Row) => `${String(r.day)}|${String(r.funnel_id)}|${String(r.campaign_id)}`;
    expect(changed(before.daily, after.daily, dayKey)).toEqual([expect.objectContaining({ day: '2025-03-09', funnel_id: NONE, campaign_id: NONE, read: 1, delivered: 1, sent: 1 })]);
    const hourKey = (r: Row) => `${String(r.bucket)}|${String(r.funnel_id)}|${String(r.campaign_id)}`;
    expect(changed(before.hourly, after.hourly, hourKey)).toEqual([expect.objectContaining({ bucket: '2025-03-10T02:00', read: 1, delivered: 1 })]);
    expect(after.daily.filter((r) => r.day === '2025-03-10')).toEqual(before.daily.filter((r) => r.day === '2025-03-10'));
  }, 60_000);

  it('follows the tenant’s timezone: the same instant is another local day elsewhere', async () => {
    const other = await seedTenantWithChannel(db, 'Loja Lisboa', { provider: 'sandbox', externalId: `metrics-${randomUUID()}` });
    await db.db.execute(sql`update tenants set timezone = 'Europe/Lisbon' where id = ${other.tenant.id}`);
    await appendConversationEvents(db.db, [{ tenantId: other.tenant.id, kind: 'message_sent', occurredAt: new Date('2025-03-10T02:30:00Z'), channelId: other.channel.id }]);
    await runRollup();
    const days = await rows<{ day: string; sent: number }>(sql`select day::text as day, sent from metrics_daily where tenant_id = ${other.tenant.id} and dimension = 'total'`);
    expect(days).toEqual([{ day: '2025-03-10', sent: 1 }]);
  }, 60_000);

  it('creates its schedule once, updates it after, and a run it starts is the rollup workflow', async () => {
    const scheduleId = `zapflow-metrics-rollup-test-${randomUUID()}`;
    const ensure = (taskQueue: string) =>
      ensureMetricsRollupSchedule(client, { taskQueue, everyMs: config.METRICS_ROLLUP_INTERVAL, catchupWindowMs: config.METRICS_ROLLUP_CATCHUP, scheduleId });
    expect(await ensure('some-other-queue')).toBe('created');
    expect(await ensure(config.TEMPORAL_TASK_QUEUE)).toBe('updated');
    const handle = client.schedule.getHandle(scheduleId);
    try {
      const described = await handle.describe();
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: WorkflowType.metricsRollup, taskQueue: config.TEMPORAL_TASK_QUEUE });
      expect(described.policies.overlap).toBe('SKIP');
      expect(described.policies.catchupWindow).toBe(config.METRICS_ROLLUP_CATCHUP);
      expect(described.spec.intervals?.map((i) => i.every)).toEqual([config.METRICS_ROLLUP_INTERVAL]);

      await appendConversationEvents(db.db, [event('message_sent', new Date().toISOString())]);
      await handle.trigger();
      const action = await eventually(async () => (await handle.describe()).info.recentActions[0]?.action, 30_000, 'a scheduled run');
      const result = (await client.workflow.getHandle(action.workflow.workflowId).result()) as MetricsRollupResult;
      expect(result.events).toBe(1);
    } finally {
      await handle.delete();
    }
  }, 90_000);
});
