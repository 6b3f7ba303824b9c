import { and, eq, isNull } from 'drizzle-orm';
import { messages, webhookEvents } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { findTemporalCli } from '../../src/temporal/binary';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer';
import { runCli } from '../support/cli';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('ingest durability', () => {
  let port: number;
  let server: DevServer;
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;

  beforeAll(async () => {
    port = await freePort();
    server = await startDevServer({ binary: findTemporalCli()!, port });
    stack = await startStack({ temporalAddress: server.address, worker: false });
    tenant = await seedTenantWithChannel(stack.db, 'Loja', {
      provider: 'evolution',
      externalId: 'loja-centro',
      baseUrl: 'http://127.0.0.1:1',
      webhookSecret: 's',
    });
  });
  afterAll(async () => {
    await stack.close();
    await server.stop();
  });

  it('accepts webhooks while Temporal is down, keeps them pending, and dispatches all in order once it is back', async () => {
    await server.stop();
    const phones = ['5511922220001', '5511922220002', '5511922220003', '5511922220004'];
    const sent: Array<{ phone: string; id: string }> = [];
    for (let i = 0; i < 5; i++) {
      for (const phone of phones) {
        const id = uniqueId();
        const started = Date.now();
        const res = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-centro', phone, text: `msg ${i}`, id }), {
          'x-zapflow-secret': 's',
        });
        expect(res.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(1000); // the 200 does not wait for Temporal
        sent.push({ phone, id });
      }
    }
    // Give the dispatcher a few failed rounds.
    await new Promise((r) => setTimeout(r, 1500));
    const pending = await stack.db.db.select().from(messages).where(and(eq(messages.channelId, tenant.channel.id), isNull(messages.dispatchedAt)));
    expect(pending).toHaveLength(sent.length);
    const listed = await runCli(['events', 'list', '--status', 'pending', '--json'], { DATABASE_URL: stack.db.url ?? '' });
    if (stack.db.url) {
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toHaveLength(sent.length);
    }

    // Temporal comes back (a fresh in-memory server on the same port) with a worker.
    server = await startDevServer({ binary: findTemporalCli()!, port });
    await stack.startWorker();
    await eventually(
      async () => {
        const left = await stack.db.db.select().from(messages).where(and(eq(messages.channelId, tenant.channel.id), isNull(messages.dispatchedAt)));
        return left.length === 0;
      },
      30_000,
      'every pending message dispatched',
    );
    const events = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.channelId, tenant.channel.id));
    expect(events.every((e) => e.status === 'dispatched')).toBe(true);

    // Each contact's workflow got its five messages, in the order they were posted.
    const rows = await stack.db.db.select().from(messages).where(eq(messages.channelId, tenant.channel.id));
    const rowIdByProviderId = new Map(rows.map((r) => [r.providerMessageId, r.id]));
    for (const phone of phones) {
      const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
      const state = await eventually(async () => {
        const s = await handle.query<{ seen: string[]; handled: number }>('state');
        return s.handled === 5 ? s : undefined;
      });
      const expected = sent.filter((s) => s.phone === phone).map((s) => rowIdByProviderId.get(s.id));
      expect(state.seen).toEqual(expected);
    }
  }, 90_000);
});
