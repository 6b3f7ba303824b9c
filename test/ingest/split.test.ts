/**
 * The split deployment (`zapflow api` + `zapflow worker`, DISPATCHER=worker): the webhook
 * process only stores and NOTIFYs; the worker process's dispatcher hears the ids and signals
 * the contact workflows, in order per contact; what it missed while down, its scan finds.
 */
import { and, eq, isNull } from 'drizzle-orm';
import { parseEvolution } from '../../src/ingest/parse';
import { recordWebhook } from '../../src/ingest/record';
import { messages, webhookEvents } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('ingest with the dispatcher in the worker process', () => {
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;

  beforeAll(async () => {
    stack = await startStack({ dispatch: 'worker' });
    tenant = await seedTenantWithChannel(stack.db, 'Loja', { provider: 'evolution', externalId: 'loja-split', baseUrl: 'http://127.0.0.1:1', webhookSecret: 's' });
  });
  afterAll(async () => {
    await stack.close();
  });

  const post = (phone: string, text: string, id = uniqueId()) =>
    postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-split', phone, text, id }), { 'x-zapflow-secret': 's' }).then((res) => ({ res, id }));

  it('has no dispatcher in the API process', () => {
    expect(stack.ingestRuntime.dispatcher).toBeUndefined();
  });

  it('hands messages to the contact workflow in the order they were posted', async () => {
    const phone = '5511933330001';
    const ids: string[] = [];
    for (const text of ['oi', 'tudo bem?', 'quero saber o preço']) {
      const { res, id } = await post(phone, text);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('pending');
      ids.push(id);
    }
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    const state = await eventually(async () => {
      const s = await handle.query<{ seen: string[]; handled: number }>('state').catch(() => undefined);
      return s && s.handled === 3 ? s : undefined;
    });
    const rows = await stack.db.db.select().from(messages).where(eq(messages.channelId, tenant.channel.id));
    const rowId = new Map(rows.map((r) => [r.providerMessageId, r.id]));
    expect(state.seen).toEqual(ids.map((id) => rowId.get(id)));
    await eventually(async () => {
      const events = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.channelId, tenant.channel.id));
      return events.length === 3 && events.every((e) => e.status === 'dispatched');
    }, 10_000, 'events marked dispatched');
  });

  it('a re-delivered webhook is a duplicate and signals nothing new', async () => {
    const phone = '5511933330002';
    const id = uniqueId();
    const first = await post(phone, 'Pode falar sim!', id);
    const again = await post(phone, 'Pode falar sim!', id);
    expect(first.res.body.status).toBe('pending');
    expect(again.res.body.status).toBe('duplicate');
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    await eventually(async () => (await handle.query<{ handled: number }>('state').catch(() => undefined))?.handled === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect((await handle.query<{ handled: number }>('state')).handled).toBe(1);
  });

  it('a message whose notification was lost is found by the scan', async () => {
    // Stored exactly as the API stores it, but without the NOTIFY (as if the dispatcher was
    // down or its connection dropped when it went out).
    const phone = '5511933330003';
    const body = evolutionText({ instance: 'loja-split', phone, text: 'alguém aí?' });
    const routed = await stack.ingestRuntime.ingest.directory.byExternalId('evolution', 'loja-split');
    const parsed = parseEvolution(body);
    const outcome = await recordWebhook(
      stack.db.db,
      { provider: 'evolution', rawBody: JSON.stringify(body), eventType: parsed.eventType, items: parsed.items.map((i) => ({ routed: routed ?? null, channelKey: i.channelKey, event: i.event })) },
    );
    expect(outcome.status).toBe('pending');
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    await eventually(async () => (await handle.query<{ handled: number }>('state').catch(() => undefined))?.handled === 1, 15_000, 'the scan dispatched it');
    await eventually(async () => {
      const left = await stack.db.db.select().from(messages).where(and(eq(messages.channelId, tenant.channel.id), isNull(messages.dispatchedAt)));
      return left.length === 0;
    });
  });
});
