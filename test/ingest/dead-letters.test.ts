/**
 * Dead letters: a stored message Temporal keeps refusing is given up after
 * DISPATCH_MAX_ATTEMPTS refusals (error kept, event `dead`, out of the scan, counted in
 * /metrics), listed by `zapflow events list --status dead` and put back by `zapflow events
 * retry`; Temporal being down counts nothing. Also: the dispatcher reads each tenant's
 * settings once per batch and still gives every message its own tenant's.
 */
import { eq } from 'drizzle-orm';
import type { Client } from '@temporalio/client';
import { countDeadMessages, countDispatchBacklog } from '../../src/db/queries/messages';
import { updateTenantSettings } from '../../src/db/queries/tenants';
import { messages, webhookEvents } from '../../src/db/schema';
import { createDispatcher } from '../../src/ingest';
import { ChannelDirectory } from '../../src/ingest/channelDirectory';
import type { Dispatcher } from '../../src/ingest/dispatcher';
import { parseEvolution } from '../../src/ingest/parse/evolution';
import { recordWebhook } from '../../src/ingest/record';
import { registerStateGauges, registry } from '../../src/metrics';
import { FunnelTriggerCache } from '../../src/services/funnels';
import type { InboundSignalPayload } from '../../src/workflows/types';
import { runCli } from '../support/cli';
import { connectClient, createTestDb, testConfig, testLog, type TestDb } from '../support/harness';
import { evolutionText } from '../support/payloads';
import { seedTenantWithChannel } from '../support/stack';

const MAX_ATTEMPTS = 3;
/** The CLI reaches this file's database only on PostgreSQL (on PGlite it would open its own). */
const usesPostgres = !!process.env.DATABASE_URL;
const POISON = '5511977770001';
const OUTAGE = '5511977770002';

/** A refusal as Temporal's client reports an unreachable server (gRPC UNAVAILABLE in the cause). */
function unavailable(): Error {
  return Object.assign(new Error('Failed to signalWithStart Workflow'), {
    cause: Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }),
  });
}

/** A Temporal client whose signalWithStart fails: a refusal for the poison contact, an outage for another; records what it was given. */
function failingClient(seen: InboundSignalPayload[] = []): Client {
  return {
    workflow: {
      signalWithStart: (_type: string, opts: { workflowId: string; signalArgs: [InboundSignalPayload] }) => {
        seen.push(opts.signalArgs[0]);
        if (opts.workflowId.endsWith(OUTAGE)) return Promise.reject(unavailable());
        if (opts.workflowId.endsWith(POISON)) return Promise.reject(new Error('3 INVALID_ARGUMENT: payload refused by the test'));
        return Promise.resolve({ workflowId: opts.workflowId });
      },
    },
  } as unknown as Client;
}

describe('dispatch dead letters', () => {
  let db: TestDb;
  let directory: ChannelDirectory;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const config = testConfig({ DISPATCH_MAX_ATTEMPTS: String(MAX_ATTEMPTS) });
  const cli = (args: string[]) => runCli(['events', ...args], { DATABASE_URL: db.url ?? '' });

  beforeAll(async () => {
    db = await createTestDb();
    tenant = await seedTenantWithChannel(db, 'Loja Veneno', { provider: 'evolution', externalId: 'loja-veneno', baseUrl: 'http://127.0.0.1:1', webhookSecret: 's' });
    directory = new ChannelDirectory(db.db);
  });
  afterAll(() => db.drop());

  function dispatcherWith(client: Client): Dispatcher {
    return createDispatcher({ config, db: db.db, client, log: testLog, funnelTriggers: new FunnelTriggerCache(db.db, 1000) });
  }

  /** Stores an inbound text as the webhook would, stored two seconds ago (the scan takes rows older than a second). */
  async function store(instance: string, phone: string, text: string): Promise<{ messageId: string; eventId: number }> {
    const body = evolutionText({ instance, phone, text });
    const parsed = parseEvolution(body);
    const routed = (await directory.byExternalId('evolution', instance))!;
    const outcome = await recordWebhook(db.db, {
      provider: 'evolution',
      rawBody: JSON.stringify(body),
      eventType: parsed.eventType,
      items: parsed.items.map((i) => ({ ...i, routed })),
    });
    const messageId = outcome.toDispatch[0]!;
    await db.db.update(messages).set({ createdAt: new Date(Date.now() - 2000) }).where(eq(messages.id, messageId));
    return { messageId, eventId: outcome.eventId };
  }

  const messageRow = async (id: string) => (await db.db.select().from(messages).where(eq(messages.id, id)))[0]!;
  const eventRow = async (id: number) => (await db.db.select().from(webhookEvents).where(eq(webhookEvents.id, id)))[0]!;

  it('gives a message up after DISPATCH_MAX_ATTEMPTS refusals, keeps the error, and leaves Temporal outages uncounted', async () => {
    const poison = await store('loja-veneno', POISON, 'veneno');
    const outage = await store('loja-veneno', OUTAGE, 'sem temporal');
    const dispatcher = dispatcherWith(failingClient());
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      await dispatcher.scan();
      const row = await messageRow(poison.messageId);
      expect(row.dispatchAttempts).toBe(attempt);
      expect(row.deadAt).toBeNull();
      expect((await eventRow(poison.eventId)).status).toBe('pending');
    }
    await dispatcher.scan();
    const dead = await messageRow(poison.messageId);
    expect(dead.dispatchAttempts).toBe(MAX_ATTEMPTS);
    expect(dead.deadAt).toBeInstanceOf(Date);
    expect(dead.dispatchedAt).toBeNull();
    expect(dead.dispatchError).toContain('payload refused by the test');
    const event = await eventRow(poison.eventId);
    expect(event.status).toBe('dead');
    expect(event.error?.message).toContain('payload refused by the test');

    // Out of the scan and the backlog; the outage's message is still waiting, nothing counted.
    for (let i = 0; i < 2; i++) await dispatcher.scan();
    expect((await messageRow(poison.messageId)).dispatchAttempts).toBe(MAX_ATTEMPTS);
    const waiting = await messageRow(outage.messageId);
    expect(waiting.dispatchAttempts).toBe(0);
    expect(waiting.deadAt).toBeNull();
    expect((await eventRow(outage.eventId)).status).toBe('pending');
    expect(await countDispatchBacklog(db.db)).toBe(1);
    expect(await countDeadMessages(db.db)).toBe(1);
    await dispatcher.stop();

    // /metrics counts it.
    registerStateGauges({ dispatchBacklog: () => countDispatchBacklog(db.db), deadLetters: () => countDeadMessages(db.db), funnelRunsByStatus: async () => [] });
    expect(await registry.metrics()).toMatch(/^zapflow_dispatch_dead 1$/m);

    // Listed as dead.
    if (!usesPostgres) return;
    const listed = await cli(['list', '--status', 'dead', '--json']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ id: number; status: string; error: { message: string } }>;
    expect(rows.map((r) => r.id)).toEqual([poison.eventId]);
    expect(rows[0]!.error.message).toContain('payload refused by the test');
  }, 60_000);

  (usesPostgres ? it : it.skip)('retries dead events from the CLI: pending again with fresh counters, dispatched by a working client', async () => {
    const [{ id: eventId }] = await db.db.select({ id: webhookEvents.id }).from(webhookEvents).where(eq(webhookEvents.status, 'dead'));
    const [{ id: messageId }] = await db.db.select({ id: messages.id }).from(messages).where(eq(messages.webhookEventId, eventId!));

    // Nothing matched, or not dead: non-zero, nothing changed.
    const none = await cli(['retry', '--all-dead', '--provider', 'meta']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no dead events matched');
    const mixed = await cli(['retry', String(eventId), '999999999', '--json']);
    expect(mixed.code).toBe(1);
    const mixedOut = JSON.parse(mixed.stdout) as { requeued: Array<{ eventId: number }>; notRequeued: Array<{ eventId: number; reason: string }> };
    expect(mixedOut.requeued).toEqual([{ eventId, messages: 1 }]);
    expect(mixedOut.notRequeued).toEqual([{ eventId: 999999999, reason: 'no such event' }]);
    // (that one did requeue the real event: make it dead again for the rest)
    await db.db.update(messages).set({ deadAt: new Date(), dispatchAttempts: MAX_ATTEMPTS }).where(eq(messages.id, messageId));
    await db.db.update(webhookEvents).set({ status: 'dead' }).where(eq(webhookEvents.id, eventId!));

    const dry = await cli(['retry', '--all-dead', '--provider', 'evolution', '--since', '1h', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ dryRun: true, requeued: [{ eventId, messages: 1 }], notRequeued: [] });
    expect((await eventRow(eventId!)).status).toBe('dead');

    const retried = await cli(['retry', String(eventId)]);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain(`requeued event ${eventId} (1 message)`);
    const requeued = await messageRow(messageId);
    expect(requeued.deadAt).toBeNull();
    expect(requeued.dispatchAttempts).toBe(0);
    expect(requeued.dispatchError).toBeNull();
    const event = await eventRow(eventId!);
    expect(event.status).toBe('pending');
    expect(event.error).toBeNull();
    expect((await cli(['retry', String(eventId)])).code).toBe(1); // pending now, not dead

    // A dispatcher with a working Temporal takes it.
    const { client, connection } = await connectClient();
    const dispatcher = dispatcherWith(client);
    try {
      await dispatcher.scan();
    } finally {
      await dispatcher.stop();
      await connection.close();
    }
    expect((await messageRow(messageId)).dispatchedAt).toBeInstanceOf(Date);
    // The outage's message went too, with the same scan.
    expect(await countDispatchBacklog(db.db)).toBe(0);
    expect(await countDeadMessages(db.db)).toBe(0);
    expect((await eventRow(eventId!)).status).toBe('dispatched');
  }, 120_000);

  it('gives every message of a batch its own tenant settings', async () => {
    const other = await seedTenantWithChannel(db, 'Loja Outra', { provider: 'evolution', externalId: 'loja-outra', baseUrl: 'http://127.0.0.1:1', webhookSecret: 's' });
    await updateTenantSettings(db.db, { tenantId: tenant.tenant.id, change: (s) => ({ ...s, optOutKeywords: ['sair-veneno'] }) });
    await updateTenantSettings(db.db, { tenantId: other.tenant.id, change: (s) => ({ ...s, optOutKeywords: ['sair-outra'] }) });
    const ids = new Map<string, string>();
    for (let i = 0; i < 3; i++) {
      ids.set((await store('loja-veneno', `551196666000${i}`, `a${i}`)).messageId, 'sair-veneno');
      ids.set((await store('loja-outra', `551195555000${i}`, `b${i}`)).messageId, 'sair-outra');
    }
    const seen: InboundSignalPayload[] = [];
    const dispatcher = dispatcherWith(failingClient(seen));
    try {
      await dispatcher.scan();
    } finally {
      await dispatcher.stop();
    }
    const ours = seen.filter((p) => ids.has(p.message.messageId));
    expect(ours).toHaveLength(6);
    for (const payload of ours) expect(payload.policy.optOutKeywords).toEqual([ids.get(payload.message.messageId)]);
  });
});
