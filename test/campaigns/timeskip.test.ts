/**
 * Campaigns across hours and days on the time-skipping test server, in America/Sao_Paulo:
 * quiet hours and a window that wraps midnight, and a full quota that resumes the next day at
 * the same local time. The real workflow and activities, PostgreSQL, a loopback Evolution.
 * Times are read from the recipients' sent_at, which the campaign clock (the test server's,
 * far ahead of ours) writes.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { campaignRecipients, campaigns } from '../../src/db/schema';
import { nextTimeOfDay } from '../../src/domain/timeOfDay';
import { campaignWorkflowId } from '../../src/domain/workflowIds';
import { addChannel } from '../../src/services/channels';
import { createCampaign, type CampaignServiceDeps, type CreateCampaignInput } from '../../src/services/campaigns';
import { createTenant } from '../../src/services/tenants';
import { findTemporalTestServer } from '../../src/temporal/binary';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { createTestDb, installQuietRuntime, testConfig, testLog, testProviders, workflowBundle, type TestDb } from '../support/harness';
import { CAMPAIGN_TEST_ENV, phones } from './support';
import { FAST_SENDING } from '../sending/support';

const TZ = 'America/Sao_Paulo';
const HOUR = 3_600_000;

/** `YYYY-MM-DD HH:MM` in São Paulo. */
function local(ms: number): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: TZ, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

describe('campaigns on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  let evolution: EvolutionFake;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `campaign-timeskip-${randomUUID()}`;
  const config = testConfig({ ...FAST_SENDING, ...CAMPAIGN_TEST_ENV, TEMPORAL_TASK_QUEUE: taskQueue });

  beforeAll(async () => {
    installQuietRuntime();
    const path = findTemporalTestServer();
    if (!path) throw new Error('temporal-test-server not found (scripts/setup.sh temporal installs it into .tools/)');
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    db = await createTestDb();
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: [] });
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

  async function tenantWithChannel(name: string) {
    const { tenant } = await createTenant(db.db, { name });
    const instance = `loja-${name.toLowerCase()}`;
    evolution.addInstance(instance);
    await addChannel(db.db, { tenantId: tenant.id, provider: 'evolution', externalId: instance, baseUrl: evolution.url, apiKey: 'evo-key' });
    return { tenantId: tenant.id, instance };
  }

  /** Moves the test server's clock to the next `hhmm` in São Paulo (at least a few minutes ahead). */
  async function skipTo(hhmm: string): Promise<number> {
    const now = await env.currentTimeMs();
    const target = nextTimeOfDay(now + 10 * 60_000, hhmm, TZ);
    await env.sleep(target - now);
    return target;
  }

  async function run({ tenantId, instance }: { tenantId: string; instance: string }, input: Partial<CreateCampaignInput> & Pick<CreateCampaignInput, 'audience'>) {
    // The test server knows none of zapflow's search attributes.
    const deps: CampaignServiceDeps = { db: db.db, temporal: env.client, config, log: testLog, searchAttributes: false };
    const { campaign } = await createCampaign(deps, {
      tenantId,
      input: { name: 'Noite', channels: [instance], message: { type: 'text', text: 'Boa noite!' }, windows: [], quotas: {}, pacing: { minGapMs: 0, jitterMs: 0 }, ...input },
    });
    return campaign;
  }

  it('waits for a window that wraps midnight, then sends through it and past the day boundary', async () => {
    const tenant = await tenantWithChannel('Noturna');
    const created = await skipTo('21:00');
    const audience = phones('91', 5);
    const campaign = await run(tenant, { audience: { phones: audience }, windows: [{ start: '22:00', end: '02:00' }], quotas: { perChannelPerHour: 2 } });

    // 21:00 is quiet: it waits for the window, until 22:00 local.
    const [waiting] = await waitForRow(campaign.id, (r) => r.status === 'waiting');
    expect(waiting).toMatchObject({ waitingFor: 'window' });
    expect(local(waiting!.waitingUntil!.getTime())).toBe(`${local(created).slice(0, 10)} 22:00`);

    const result = await env.client.workflow.getHandle(campaignWorkflowId(campaign.id)).result();
    expect(result).toMatchObject({ state: 'completed', processed: 5 });
    const sent = (await recipientsOf(campaign.id)).filter((r) => r.status === 'sent').map((r) => r.sentAt!.getTime()).sort((a, b) => a - b);
    expect(sent).toHaveLength(5);
    // Two an hour (a sliding hour): 22:00, 22:00, 23:00, 23:00, then midnight, the next day.
    const day = local(created).slice(0, 10);
    const next = local(created + 24 * HOUR).slice(0, 10);
    expect(sent.map(local)).toEqual([`${day} 22:00`, `${day} 22:00`, `${day} 23:00`, `${day} 23:00`, `${next} 00:00`]);
    expect(evolution.sent.filter((s) => audience.includes(s.number))).toHaveLength(5);
  });

  it('resumes a campaign whose daily quota is full the next day, at the same local time', async () => {
    const tenant = await tenantWithChannel('Diaria');
    const created = await skipTo('17:30');
    const audience = phones('92', 3);
    const campaign = await run(tenant, { audience: { phones: audience }, windows: [{ start: '09:00', end: '18:00' }], quotas: { perChannelPerDay: 2 } });

    const [waiting] = await waitForRow(campaign.id, (r) => r.status === 'waiting');
    expect(waiting).toMatchObject({ waitingFor: 'quota' });
    const tomorrow = local(created + 24 * HOUR).slice(0, 10);
    expect(local(waiting!.waitingUntil!.getTime())).toBe(`${tomorrow} 17:30`);

    const result = await env.client.workflow.getHandle(campaignWorkflowId(campaign.id)).result();
    expect(result).toMatchObject({ state: 'completed', processed: 3 });
    const sent = (await recipientsOf(campaign.id)).map((r) => r.sentAt!.getTime()).sort((a, b) => a - b);
    expect(sent.map(local)).toEqual([`${local(created).slice(0, 10)} 17:30`, `${local(created).slice(0, 10)} 17:30`, `${tomorrow} 17:30`]);
  });

  async function waitForRow(campaignId: string, ok: (r: typeof campaigns.$inferSelect) => boolean) {
    for (let i = 0; i < 200; i++) {
      const rows = await db.db.select().from(campaigns).where(eq(campaigns.id, campaignId));
      if (rows[0] && ok(rows[0])) return rows;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`campaign ${campaignId} never reached the expected state`);
  }

  function recipientsOf(campaignId: string) {
    return db.db.select().from(campaignRecipients).where(eq(campaignRecipients.campaignId, campaignId));
  }
});
