/**
 * A worker killed with SIGKILL in the middle of a campaign (a real process, on real Temporal
 * and PostgreSQL): a worker started afterwards takes the batch over when its heartbeat
 * times out, and every recipient gets the message exactly once. Claims the dead worker left
 * `sending` go back to the queue and are sent under their idempotency key: one whose send
 * had gone out is found already sent, one that had not goes out once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { campaignRecipients } from '../../src/db/schema';
import { eventually } from '../support/stack';
import type { SendingWorld } from '../sending/support';
import { EVO_INSTANCE, FAST_SENDING } from '../sending/support';
import { CAMPAIGN_TEST_ENV, createCampaign, phones, recipientsOf, untilState } from './support';
import { startSendingWorld } from '../sending/support';

// A second process shares the database only on PostgreSQL (PGlite lives in this process).
const onPostgres = process.env.DATABASE_URL ? describe : describe.skip;

onPostgres('a worker killed mid-campaign', () => {
  let world: SendingWorld;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    world = await startSendingWorld({ worker: false, env: CAMPAIGN_TEST_ENV });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await world?.close();
  });

  function startWorkerProcess(): Promise<ChildProcess> {
    const config = world.stack.config;
    const proc = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'workerProcess.ts')], {
      env: {
        ...process.env,
        ...FAST_SENDING,
        ...CAMPAIGN_TEST_ENV,
        LOG_LEVEL: 'warn',
        DATABASE_URL: world.stack.db.url,
        TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
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

  it('sends everyone exactly once after a SIGKILL and a new worker', async () => {
    const audience = phones('51', 30);
    child = await startWorkerProcess();
    const campaign = await createCampaign(world, {
      name: 'Resistente',
      channels: [EVO_INSTANCE],
      message: 'Oi {{phone}}',
      audience: { phones: audience },
      pacing: { minGapMs: 200, jitterMs: 0 },
    });
    const received = () => world.evolution.sent.filter((s) => audience.includes(s.number));
    await eventually(async () => received().length >= 8, 30_000, 'eight sends');
    // Between two sends (the lane waits for its next slot), the process dies at once.
    const last = Math.max(...received().map((s) => s.receivedAt));
    await new Promise((r) => setTimeout(r, Math.max(0, last + 100 - Date.now())));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    // What a kill at a worse moment leaves: a claim whose send went out but whose row was not
    // recorded yet, and a claim that never reached the provider.
    const rows = await recipientsOf(world, campaign.id);
    const sentRow = rows.find((r) => r.status === 'sent')!;
    const queuedRow = rows.filter((r) => r.status === 'queued').sort((a, b) => a.id - b.id).pop()!;
    const db = world.stack.db.db;
    await db.update(campaignRecipients).set({ status: 'sending' }).where(eq(campaignRecipients.id, sentRow.id));
    await db
      .update(campaignRecipients)
      .set({ status: 'sending', channelId: world.tenant.channel.id, sentAt: new Date() })
      .where(and(eq(campaignRecipients.id, queuedRow.id), eq(campaignRecipients.status, 'queued')));
    const before = received().length;

    await world.stack.startWorker();
    const done = await untilState(world, campaign.id, ['completed'], 60_000);
    expect(done.counts).toMatchObject({ sent: audience.length, queued: 0, sending: 0, failed: 0 });
    expect(received().length).toBeGreaterThan(before);
    const perPhone = new Map<string, number>();
    for (const s of received()) perPhone.set(s.number, (perPhone.get(s.number) ?? 0) + 1);
    // Nobody twice, nobody lost.
    expect([...perPhone.values()].filter((n) => n > 1)).toEqual([]);
    expect([...perPhone.keys()].sort()).toEqual([...audience].sort());
  });
});
