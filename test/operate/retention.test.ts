/**
 * Retention: the daily run prunes what is older than its RETENTION_* age (raw webhook bodies
 * cleared with their rows kept, status events, send attempts, AI call logs, idempotency keys)
 * in batches of RETENTION_BATCH, keeps everything younger and every message, and a second run
 * prunes nothing more. The schedule is created once and updated after, and its run is the
 * same workflow. With RECORD_HISTORIES=1 the run's history is saved for the replay test.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Client, Connection } from '@temporalio/client';
import type { Config } from '../../src/config';
import { RETENTION_TABLES, type RetentionResult } from '../../src/domain/retention';
import { ensureRetentionSchedule } from '../../src/services/retention';
import { WorkflowType } from '../../src/workflows/definitions';
import type { RunningWorker } from '../../src/worker';
import { recordAndReplay } from '../conversations/histories';
import { connectClient, createTestDb, startTestWorker, testConfig, type TestDb } from '../support/harness';
import { eventually, seedTenantWithChannel } from '../support/stack';

/** Rows seeded past their age per table (BATCH is smaller: several batches), and young ones. */
const OLD = 7;
const YOUNG = 2;
const BATCH = 3;

describe('retention', () => {
  let db: TestDb;
  let config: Config;
  let client: Client;
  let connection: Connection;
  let worker: RunningWorker;

  beforeAll(async () => {
    config = testConfig({ RETENTION_BATCH: String(BATCH) });
    db = await createTestDb();
    ({ client, connection } = await connectClient());
    worker = await startTestWorker({ db, taskQueue: config.TEMPORAL_TASK_QUEUE, client, config });
  });
  afterAll(async () => {
    await worker?.shutdown();
    await connection?.close();
    await db?.drop();
  });

  /** Rows of a statement: postgres.js resolves to the rows, PGlite to `{ rows }`. */
  const rows = async <T>(query: ReturnType<typeof sql>): Promise<T[]> => {
    const result = (await db.db.execute(query)) as unknown as T[] | { rows: T[] };
    return Array.isArray(result) ? result : result.rows;
  };
  const count = async (query: ReturnType<typeof sql>) => Number((await rows<{ n: number }>(query))[0]!.n);
  /** A time `ms` past (positive) a table's age, or before it (negative): ages are settings, never literals here. */
  const aged = (ageMs: number, beyondMs: number) => sql`now() - ${ageMs + beyondMs}::float8 * interval '1 millisecond'`;
  const HOUR = 3_600_000;

  async function seed(): Promise<{ tenantId: string }> {
    const { tenant, channel } = await seedTenantWithChannel(db, 'Loja Antiga', { provider: 'sandbox', externalId: `retention-${randomUUID()}` });
    const [{ id: contactId }] = await rows<{ id: string }>(sql`insert into contacts (tenant_id, phone) values (${tenant.id}, '5511900000001') returning id`);
    const [{ id: messageId }] = await rows<{ id: string }>(sql`
      insert into messages (tenant_id, channel_id, contact_id, direction, author, type, body, status)
      values (${tenant.id}, ${channel.id}, ${contactId}, 'outbound', 'zapflow', 'text', 'oi', 'sent') returning id`);
    for (const [n, beyond, tag] of [
      [OLD, HOUR, 'old'],
      [YOUNG, -HOUR, 'young'],
    ] as const) {
      for (let i = 0; i < n; i++) {
        await db.db.execute(sql`
          insert into webhook_events (provider, tenant_id, channel_id, status, raw_body, received_at)
          values ('sandbox', ${tenant.id}, ${channel.id}, 'dispatched', ${`{"phone":"5511900000001","text":"${tag} ${i}"}`}, ${aged(config.RETENTION_RAW_BODIES, beyond)})`);
        await db.db.execute(sql`
          insert into message_status_events (channel_id, provider_message_id, status, occurred_at, applied_at, created_at)
          values (${channel.id}, ${`${tag}-${i}`}, 'delivered', now(), now(), ${aged(config.RETENTION_STATUS_EVENTS, beyond)})`);
        await db.db.execute(sql`
          insert into ai_interactions (tenant_id, kind, key, status, created_at)
          values (${tenant.id}, 'reply', ${`${tag}-${i}-${randomUUID()}`}, 'ok', ${aged(config.RETENTION_AI_CALLS, beyond)})`);
        await db.db.execute(sql`
          insert into api_idempotency_keys (tenant_id, key, request_hash, resource_id, created_at)
          values (${tenant.id}, ${`${tag}-${i}`}, 'h', ${randomUUID()}, ${aged(config.RETENTION_IDEMPOTENCY_KEYS, beyond)})`);
      }
    }
    // Attempts: OLD finished ones to prune, then the kept kinds (an uncertain one, one never
    // finished: the record that a send may have gone out), then YOUNG ones.
    const attempt = async (n: number, beyond: number, outcome: string | null) =>
      db.db.execute(sql`
        insert into message_attempts (message_id, attempt, started_at, finished_at, outcome)
        values (${messageId}, ${n}, ${aged(config.RETENTION_SEND_ATTEMPTS, beyond)},
          ${outcome === null ? null : aged(config.RETENTION_SEND_ATTEMPTS, beyond)}, ${outcome})`);
    let n = 0;
    for (let i = 0; i < OLD; i++) await attempt(++n, HOUR, 'retry');
    await attempt(++n, HOUR, 'uncertain');
    await attempt(++n, HOUR, null);
    for (let i = 0; i < YOUNG; i++) await attempt(++n, -HOUR, 'sent');
    return { tenantId: tenant.id };
  }

  async function runRetention(workflowId: string): Promise<RetentionResult> {
    return client.workflow.execute(WorkflowType.retention, { workflowId, taskQueue: config.TEMPORAL_TASK_QUEUE, args: [] });
  }

  it('prunes old rows in batches, keeps young ones and every message, and a second run prunes nothing', async () => {
    await seed();
    const messagesBefore = await count(sql`select count(*)::int as n from messages`);

    const workflowId = `retention-test-${randomUUID()}`;
    const first = await runRetention(workflowId);
    expect(first.failed).toEqual([]);
    expect(first.pruned).toEqual(Object.fromEntries(RETENTION_TABLES.map((t) => [t, OLD])));
    expect(first.total).toBe(OLD * RETENTION_TABLES.length);

    // Raw bodies: emptied, the event rows kept; the young bodies intact.
    expect(await count(sql`select count(*)::int as n from webhook_events`)).toBe(OLD + YOUNG);
    expect(await count(sql`select count(*)::int as n from webhook_events where raw_body = ''`)).toBe(OLD);
    const kept = await rows<{ raw_body: string }>(sql`select raw_body from webhook_events where raw_body <> ''`);
    expect(kept.map((r) => r.raw_body).every((b) => b.includes('young'))).toBe(true);
    expect(kept).toHaveLength(YOUNG);
    // The others: only the young rows are left.
    expect(await rows(sql`select provider_message_id from message_status_events where provider_message_id like 'old-%'`)).toEqual([]);
    expect(await count(sql`select count(*)::int as n from message_status_events`)).toBe(YOUNG);
    expect(await count(sql`select count(*)::int as n from ai_interactions`)).toBe(YOUNG);
    expect(await count(sql`select count(*)::int as n from ai_interactions where key like 'old-%'`)).toBe(0);
    expect(await count(sql`select count(*)::int as n from api_idempotency_keys`)).toBe(YOUNG);
    expect(await count(sql`select count(*)::int as n from api_idempotency_keys where key like 'old-%'`)).toBe(0);
    const attempts = await rows<{ outcome: string | null }>(sql`select outcome from message_attempts order by attempt`);
    expect(attempts.map((a) => a.outcome)).toEqual(['uncertain', null, ...Array<string>(YOUNG).fill('sent')]);
    expect(await count(sql`select count(*)::int as n from messages`)).toBe(messagesBefore);

    const second = await runRetention(`${workflowId}-again`);
    expect(second).toEqual({ pruned: Object.fromEntries(RETENTION_TABLES.map((t) => [t, 0])), total: 0, failed: [] });

    await recordAndReplay('retention-daily', workflowId, WorkflowType.retention);
  }, 240_000);

  it('creates the daily schedule once, updates it after, and its run is the retention workflow', async () => {
    const scheduleId = `zapflow-retention-test-${randomUUID()}`;
    const ensure = (taskQueue: string) => ensureRetentionSchedule(client, { taskQueue, cron: config.RETENTION_CRON, scheduleId });
    expect(await ensure('some-other-queue')).toBe('created');
    expect(await ensure(config.TEMPORAL_TASK_QUEUE)).toBe('updated');
    const handle = client.schedule.getHandle(scheduleId);
    try {
      const described = await handle.describe();
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: WorkflowType.retention, taskQueue: config.TEMPORAL_TASK_QUEUE });
      expect(described.policies.overlap).toBe('SKIP');
      expect(described.spec.calendars?.length ?? 0).toBeGreaterThan(0);

      await handle.trigger();
      const action = await eventually(async () => (await handle.describe()).info.recentActions[0]?.action, 30_000, 'a scheduled run');
      const result = await client.workflow.getHandle(action.workflow.workflowId).result() as RetentionResult;
      expect(result.failed).toEqual([]);
      expect(Object.keys(result.pruned).sort()).toEqual([...RETENTION_TABLES].sort());
    } finally {
      await handle.delete();
    }
  }, 120_000);
});
