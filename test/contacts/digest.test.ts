/**
 * The daily opt-out digest on real Temporal and PostgreSQL: a tenant with an admin contact and
 * opt-outs in the window gets one message (count and the newest numbers, masked), and a second
 * run the same day sends nothing more; a tenant without opt-outs, one without an admin
 * contact, and opt-outs older than the window get nothing. The schedule is created once and
 * updated after, and its run's window ends at its scheduled time. With RECORD_HISTORIES=1
 * the run's history is saved for the replay test.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, like } from 'drizzle-orm';
import type { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Config } from '../../src/config';
import { contacts, messages, sandboxOutbox, tenants } from '../../src/db/schema';
import { digestText, ensureOptOutDigestSchedule, maskPhone, type OptOutDigestResult } from '../../src/services/optOutDigest';
import { optOutDigestWorkflowId } from '../../src/domain/workflowIds';
import { WorkflowType } from '../../src/workflows/definitions';
import type { RunningWorker } from '../../src/worker';
import { recordAndReplay } from '../conversations/histories';
import { connectClient, createTestDb, startTestWorker, testConfig, type TestDb } from '../support/harness';
import { eventually, seedTenantWithChannel } from '../support/stack';

describe('opt-out digest', () => {
  let db: TestDb;
  let config: Config;
  let client: Client;
  let connection: Connection;
  let worker: RunningWorker;

  beforeAll(async () => {
    config = testConfig();
    db = await createTestDb();
    ({ client, connection } = await connectClient());
    worker = await startTestWorker({ db, taskQueue: config.TEMPORAL_TASK_QUEUE, client, config });
  });
  afterAll(async () => {
    await worker?.shutdown();
    await connection?.close();
    await db?.drop();
  });

  /** A tenant on a sandbox channel; with `admin`, its admin contact on that channel. */
  async function tenant(name: string, admin: string | null) {
    const seeded = await seedTenantWithChannel(db, name, { provider: 'sandbox', externalId: `digest-${randomUUID()}` });
    if (admin) await db.db.update(tenants).set({ settings: { adminContact: { channelId: seeded.channel.id, phone: admin } } }).where(eq(tenants.id, seeded.tenant.id));
    return seeded;
  }
  /** Contacts opted out `msAgo` before now. */
  async function optOuts(tenantId: string, phones: string[], msAgo: (i: number) => number) {
    await db.db.insert(contacts).values(phones.map((phone, i) => ({ tenantId, phone, optedOutAt: new Date(Date.now() - msAgo(i)) })));
  }
  const run = (workflowId: string, until = Date.now()) =>
    client.workflow.execute(WorkflowType.optOutDigest, {
      workflowId,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [{ windowMs: config.OPT_OUT_DIGEST_WINDOW, until }],
    }) as Promise<OptOutDigestResult>;
  const sentOn = (channelId: string) => db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, channelId));

  it('sends each tenant with opt-outs one digest a day, and nobody else anything', async () => {
    const window = config.OPT_OUT_DIGEST_WINDOW;
    const a = await tenant('Loja A', '5511990000001');
    const b = await tenant('Loja B (no opt-outs)', '5511990000002');
    const c = await tenant('Loja C (no admin)', null);
    const recent = ['5511981110001', '5511981110002', '5531981110003', '5511981110004', '5511981110005', '5511981110006', '5511981110007'];
    // Spread inside the window, newest last in the list.
    await optOuts(a.tenant.id, recent, (i) => Math.floor((window / 2) * ((recent.length - i) / recent.length)));
    await optOuts(a.tenant.id, ['5511981110099'], () => window + 60_000); // before the window
    await optOuts(c.tenant.id, ['5511981110100'], () => 60_000);
    await optOuts(b.tenant.id, ['5511981110200'], () => window * 2);

    const workflowId = `opt-out-digest-test-${randomUUID()}`;
    const until = Date.now();
    const first = await run(workflowId, until);
    expect(first).toMatchObject({ sent: 1, skipped: 0, failed: [] });
    const toA = await sentOn(a.channel.id);
    expect(toA).toHaveLength(1);
    expect(toA[0]!.to).toBe('5511990000001');
    const text = (toA[0]!.message as { text: string }).text;
    const newest = [...recent].reverse().slice(0, 5);
    expect(text).toBe(digestText({ count: recent.length, phones: newest, windowMs: window }));
    expect(text).toContain('7 contatos');
    expect(text).toContain(maskPhone('5511981110007'));
    expect(text).not.toContain('5511981110007');
    expect(maskPhone('5511981110007')).toBe('+55 11 9••••-0007');
    expect(await sentOn(b.channel.id)).toEqual([]);
    expect(await sentOn(c.channel.id)).toEqual([]);

    // Again the same day (a manual trigger, a retried run): nothing more goes out.
    const second = await run(`${workflowId}-again`, until + 60_000);
    expect(second).toMatchObject({ sent: 0, skipped: 1, failed: [] });
    expect(await sentOn(a.channel.id)).toHaveLength(1);
    const rows = await db.db.select().from(messages).where(and(eq(messages.tenantId, a.tenant.id), like(messages.idempotencyKey, 'opt-out-digest:%')));
    expect(rows).toHaveLength(1);

    await recordAndReplay('opt-out-digest', workflowId, WorkflowType.optOutDigest);
  }, 120_000);

  it('creates the daily schedule once, updates it after, and its run is the digest workflow', async () => {
    const scheduleId = `zapflow-opt-out-digest-test-${randomUUID()}`;
    const ensure = (taskQueue: string) =>
      ensureOptOutDigestSchedule(client, { taskQueue, cron: config.OPT_OUT_DIGEST_CRON, windowMs: config.OPT_OUT_DIGEST_WINDOW, scheduleId });
    expect(await ensure('some-other-queue')).toBe('created');
    expect(await ensure(config.TEMPORAL_TASK_QUEUE)).toBe('updated');
    const handle = client.schedule.getHandle(scheduleId);
    try {
      const described = await handle.describe();
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: WorkflowType.optOutDigest, taskQueue: config.TEMPORAL_TASK_QUEUE });
      expect((described.action as { workflowId: string }).workflowId).toBe(optOutDigestWorkflowId());
      expect(described.policies.overlap).toBe('SKIP');
      await handle.trigger();
      const action = await eventually(async () => (await handle.describe()).info.recentActions[0]?.action, 30_000, 'a scheduled run');
      const result = (await client.workflow.getHandle(action.workflow.workflowId).result()) as OptOutDigestResult;
      expect(result.failed).toEqual([]);
      // The window ends at the run's scheduled time (a run made up late covers the same day).
      const described2 = await client.workflow.getHandle(action.workflow.workflowId).describe();
      const scheduledAt = described2.typedSearchAttributes.get(defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME));
      expect(result.until).toBe(scheduledAt!.getTime());
      expect(result.until - result.since).toBe(config.OPT_OUT_DIGEST_WINDOW);
    } finally {
      await handle.delete();
    }
  }, 120_000);
});
