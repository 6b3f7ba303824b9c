/**
 * Long timers on the time-skipping test server: a schedule two days ahead is delivered
 * without waiting two days. The activity runs for real (Postgres, loopback Evolution fake).
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { getSchedule } from '../../src/db/queries/schedules';
import { findTemporalTestServer } from '../../src/temporal/binary';
import { addChannel } from '../../src/services/channels';
import { scheduleMessage, type SendingServiceDeps } from '../../src/services/sending';
import { createTenant } from '../../src/services/tenants';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { createTestDb, installQuietRuntime, testConfig, testLog, testProviders, workflowBundle, type TestDb } from '../support/harness';
import { FAST_SENDING } from './support';

describe('scheduled sends on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  let evolution: EvolutionFake;

  beforeAll(async () => {
    installQuietRuntime();
    const path = findTemporalTestServer();
    if (!path) throw new Error('temporal-test-server not found (scripts/setup.sh temporal installs it into .tools/)');
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    db = await createTestDb();
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro'] });
  });
  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
    await evolution?.close();
  });

  it('delivers a schedule two days ahead once the clock gets there', async () => {
    const taskQueue = `timeskip-${randomUUID()}`;
    const config = testConfig({ ...FAST_SENDING, TEMPORAL_TASK_QUEUE: taskQueue });
    const { tenant } = await createTenant(db.db, { name: 'Loja' });
    await addChannel(db.db, { tenantId: tenant.id, provider: 'evolution', externalId: 'loja-centro', baseUrl: evolution.url, apiKey: 'evo-key' });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: workflowBundle(),
      activities: createActivities({ db: db.db, providers: testProviders(db), log: testLog, config }),
    });
    // The test server knows none of zapflow's search attributes.
    const deps: SendingServiceDeps = { db: db.db, temporal: env.client, config, log: testLog, searchAttributes: false };

    await worker.runUntil(async () => {
      const scheduledFor = Date.now() + 2 * 86_400_000;
      const answer = await scheduleMessage(deps, {
        tenantId: tenant.id,
        input: { instanceName: 'loja-centro', phoneNumber: '5511944440001', message: { type: 'text', text: 'Sua assinatura renova em 2 dias.' } },
        scheduledFor,
      });
      expect(answer.statusCode).toBe(202);
      const handle = env.client.workflow.getHandle(`schedule:${answer.body.scheduleId}`);
      const skippedFrom = await env.currentTimeMs();
      expect(await handle.result()).toMatchObject({ status: 'sent', scheduledFor });
      // The server's clock moved two days; ours did not.
      expect((await env.currentTimeMs()) - skippedFrom).toBeGreaterThanOrEqual(2 * 86_400_000 - 60_000);
      expect(evolution.sent.map((s) => s.number)).toEqual(['5511944440001']);
      expect(await getSchedule(db.db, { tenantId: tenant.id, scheduleId: answer.body.scheduleId })).toMatchObject({ status: 'sent' });
    });
  });
});
