/**
 * Long timers on the time-skipping test server: a funnel with a two-day delay runs in
 * seconds, on the real workflow code and activities.
 */
import { eq } from 'drizzle-orm';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { funnelRuns, sandboxOutbox } from '../../src/db/schema';
import { findTemporalTestServer } from '../../src/temporal/binary';
import { FunnelService } from '../../src/services/funnels';
import { startWorker } from '../../src/worker';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { createTestDb, installQuietRuntime, testLog, testProviders, workflowBundle, type TestDb } from '../support/harness';
import { seedTenantWithChannel } from '../support/stack';
import type { FunnelRunInput } from '../../src/workflows/types';

describe('funnels on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  beforeAll(async () => {
    installQuietRuntime();
    const path = findTemporalTestServer();
    if (!path) throw new Error('temporal-test-server not installed (scripts/setup.sh temporal)');
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    db = await createTestDb();
  });
  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
  });

  it('runs a funnel with a two-day delay in seconds', async () => {
    const { tenant, channel } = await seedTenantWithChannel(db, 'Loja', { provider: 'sandbox', externalId: 'ts-sandbox' });
    const funnel = await new FunnelService(db.db).create(tenant.id, {
      name: 'Dois dias',
      trigger: { type: 'keyword', phrase: 'oi' },
      steps: [
        { id: 'a', type: 'send', message: { type: 'text', text: 'Olá!' } },
        { id: 'wait', type: 'delay', duration: '2d' },
        { id: 'b', type: 'send', message: { type: 'text', text: 'Dois dias depois' } },
      ],
    });
    const taskQueue = 'timeskipping';
    const running = await startWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      deps: { db: db.db, providers: testProviders(db), log: testLog, temporal: { client: env.client, taskQueue } },
      workflowBundle: workflowBundle(),
      log: testLog,
    });
    try {
      const runId = `funnel:${tenant.id}:5511999990001:${funnel.id}:m1`;
      await db.db.insert(funnelRuns).values({
        id: runId,
        tenantId: tenant.id,
        funnelId: funnel.id,
        funnelVersion: 1,
        contactKey: '5511999990001',
        channelId: channel.id,
        status: 'queued',
      });
      const input: FunnelRunInput = {
        runId,
        tenantId: tenant.id,
        contactKey: '5511999990001',
        channelId: channel.id,
        funnelId: funnel.id,
        funnelName: 'Dois dias',
        version: 1,
        triggerMessageId: 'm1',
        contactWorkflowId: contactWorkflowId(tenant.id, '5511999990001'),
        sendRetry: { maximumAttempts: 3, initialIntervalMs: 100, maximumIntervalMs: 1000 },
      };
      const started = Date.now();
      const skippedFrom = await env.currentTimeMs();
      const result = await env.client.workflow.execute('funnelRunWorkflow', { workflowId: runId, taskQueue, args: [input] });
      expect(result).toMatchObject({ status: 'completed' });
      expect((await env.currentTimeMs()) - skippedFrom).toBeGreaterThanOrEqual(2 * 86_400_000);
      expect(Date.now() - started).toBeLessThan(30_000);
      const outbox = await db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, channel.id));
      expect(outbox.map((o) => (o.message as { text: string }).text)).toEqual(['Olá!', 'Dois dias depois']);
      const [row] = await db.db.select().from(funnelRuns).where(eq(funnelRuns.id, runId));
      expect(row!.status).toBe('completed');
    } finally {
      await running.shutdown();
    }
  });
});
