import { and, eq } from 'drizzle-orm';
import { channels, contacts, messages, messageStatusEvents, webhookEvents } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';
import { postJson } from '../support/http';
import { evolutionText, fixture, fixtureNames, uniqueId } from '../support/payloads';

const SECRET = 'evo-webhook-secret-A';
const GLOBAL = 'evo-global-secret';

describe('Evolution webhooks', () => {
  let stack: Stack;
  let tenantA: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let tenantB: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const post = (body: unknown, opts: { path?: string; secret?: string | null; query?: string } = {}) =>
    postJson(
      `${stack.url}${opts.path ?? '/webhooks/evolution'}${opts.query ?? ''}`,
      body,
      opts.secret === null ? {} : { 'x-zapflow-secret': opts.secret ?? SECRET },
    );
  const rowsFor = (channelId: string) => stack.db.db.select().from(messages).where(eq(messages.channelId, channelId));

  beforeAll(async () => {
    stack = await startStack({ env: { EVOLUTION_WEBHOOK_SECRET: GLOBAL } });
    tenantA = await seedTenantWithChannel(stack.db, 'Loja Centro', {
      provider: 'evolution',
      externalId: 'loja-centro',
      baseUrl: 'http://127.0.0.1:1',
      apiKey: 'instance-token-A',
      webhookSecret: SECRET,
    });
    // A look-alike instance name in another tenant.
    tenantB = await seedTenantWithChannel(stack.db, 'Loja Centro 2', {
      provider: 'evolution',
      externalId: 'loja-centro-2',
      baseUrl: 'http://127.0.0.1:1',
      apiKey: 'instance-token-B',
      webhookSecret: 'evo-webhook-secret-B',
    });
  });
  afterAll(() => stack.close());

  it('accepts every payload kind in its real shape, stores it once, and answers 200', async () => {
    for (const name of fixtureNames('evolution')) {
      if (name.startsWith('malformed')) continue;
      const body = fixture('evolution', name);
      if (body.instance !== 'loja-centro') continue;
      const res = await post(body);
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect(['pending', 'processed', 'ignored', 'duplicate']).toContain(res.body.status);
    }
    const rows = await rowsFor(tenantA.channel.id);
    const types = new Set(rows.map((r) => r.type));
    for (const t of ['text', 'button_reply', 'template_button_reply', 'list_reply', 'interactive_reply', 'media', 'reaction', 'location', 'contact']) {
      expect(types).toContain(t);
    }
    const template = rows.find((r) => r.type === 'template_button_reply')!;
    expect(template.payload.button).toEqual({ id: 'pode_falar_sim', text: 'Pode falar sim!' });
    const [channel] = await stack.db.db.select().from(channels).where(eq(channels.id, tenantA.channel.id));
    expect(channel!.qrCode?.base64).toMatch(/^data:image\/png/);
    // Stored in zapflow's words (domain/channelState.ts), not Evolution's `open`/`close`.
    expect(['connected', 'disconnected', 'closed', 'qr', 'connecting']).toContain(channel!.connectionState);
  });

  it('accepts the secret as header, ?token=, the global secret, a jwt_key bearer, or the body apikey', async () => {
    const phone = '5511911110001';
    expect((await post(evolutionText({ instance: 'loja-centro', phone, text: 'a' }))).status).toBe(200);
    expect((await post(evolutionText({ instance: 'loja-centro', phone, text: 'b' }), { secret: null, query: `?token=${SECRET}` })).status).toBe(200);
    expect((await post(evolutionText({ instance: 'loja-centro', phone, text: 'c' }), { secret: null, query: `?token=${GLOBAL}` })).status).toBe(200);
    expect((await post(evolutionText({ instance: 'loja-centro', phone, text: 'd', apikey: 'instance-token-A' }), { secret: null })).status).toBe(200);
    const { createHmac } = await import('node:crypto');
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const iat = Math.floor(Date.now() / 1000);
    const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat, exp: iat + 600, app: 'evolution', action: 'webhook' })}`;
    const jwt = `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
    const res = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-centro', phone, text: 'e' }), {
      authorization: `Bearer ${jwt}`,
    });
    expect(res.status).toBe(200);
  });

  it('answers 401 and stores nothing without a valid secret; another tenant\'s secret never crosses', async () => {
    const before = await stack.db.db.select().from(webhookEvents);
    const id = uniqueId();
    const cases = [
      post(evolutionText({ instance: 'loja-centro', phone: '5511911110002', text: 'x', id }), { secret: null }),
      post(evolutionText({ instance: 'loja-centro', phone: '5511911110002', text: 'x', id }), { secret: 'wrong' }),
      // tenant B's secret presented for tenant A's instance
      post(evolutionText({ instance: 'loja-centro', phone: '5511911110002', text: 'x', id }), { secret: 'evo-webhook-secret-B' }),
      post(evolutionText({ instance: 'loja-centro', phone: '5511911110002', text: 'x', id, apikey: 'instance-token-B' }), { secret: null }),
      // unknown instance without the global secret
      post(evolutionText({ instance: 'loja-centro-3', phone: '5511911110002', text: 'x', id }), { secret: SECRET }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    const after = await stack.db.db.select().from(webhookEvents);
    expect(after.length).toBe(before.length);
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id))).toHaveLength(0);
  });

  it('files each look-alike instance under its own tenant only', async () => {
    const idA = uniqueId();
    const idB = uniqueId();
    await post(evolutionText({ instance: 'loja-centro', phone: '5511911110003', text: 'oi A', id: idA }));
    await post(evolutionText({ instance: 'loja-centro-2', phone: '5511911110003', text: 'oi B', id: idB }), { secret: 'evo-webhook-secret-B' });
    const [a] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idA));
    const [b] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idB));
    expect(a!.tenantId).toBe(tenantA.tenant.id);
    expect(b!.tenantId).toBe(tenantB.tenant.id);
    const contactRows = await stack.db.db.select().from(contacts).where(eq(contacts.phone, '5511911110003'));
    expect(contactRows.map((c) => c.tenantId).sort()).toEqual([tenantA.tenant.id, tenantB.tenant.id].sort());
  });

  it('stores an unknown instance that passed the global secret as unroutable', async () => {
    const res = await post(evolutionText({ instance: 'instancia-desconhecida', phone: '5511911110004', text: 'oi' }), { secret: GLOBAL });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('unroutable');
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, res.body.eventId));
    expect(event).toMatchObject({ status: 'unroutable', tenantId: null, channelKey: 'instancia-desconhecida' });
  });

  it('takes by-events posts (/messages-upsert) and treats duplicates as normal traffic', async () => {
    const id = uniqueId();
    const body = evolutionText({ instance: 'loja-centro', phone: '5511911110005', text: 'Quero saber o preço', id });
    const first = await post(body, { path: '/webhooks/evolution/messages-upsert' });
    const second = await post(body); // the global webhook posts the same event again
    const third = await post(body, { path: '/webhooks/evolution/messages-upsert' }); // a retry
    expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
    expect(first.body.status).toBe('pending');
    expect(second.body.status).toBe('duplicate');
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id))).toHaveLength(1);
    // Dispatched once to the contact's workflow.
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenantA.tenant.id, '5511911110005'));
    const state = await eventually(async () => {
      const s = await handle.query<{ handled: number; lastInboundAt?: number }>('state');
      return s.handled >= 1 ? s : undefined;
    });
    expect(state.handled).toBe(1);
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
    expect(row!.dispatchedAt).not.toBeNull();
  });

  it('normalises the ninth digit: both forms are one contact', async () => {
    await post(evolutionText({ instance: 'loja-centro', phone: '553188887777', text: 'oi', name: 'Bruno Lima' }));
    await post(evolutionText({ instance: 'loja-centro', phone: '5531988887777', text: 'oi de novo', name: 'Bruno Lima' }));
    const rows = await stack.db.db
      .select()
      .from(contacts)
      .where(and(eq(contacts.tenantId, tenantA.tenant.id), eq(contacts.phone, '5531988887777')));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.name).toBe('Bruno Lima');
  });

  it('keeps an API echo (send.message) apart from a human typing on the phone', async () => {
    const phone = '5511911110006';
    const echoId = uniqueId();
    const echo = fixture('evolution', 'send-message-text');
    echo.data.key = { ...echo.data.key, id: echoId, remoteJid: `${phone}@s.whatsapp.net` };
    const echoRes = await post(echo);
    expect(echoRes.status).toBe(200);
    const [echoRow] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, echoId));
    expect(echoRow).toMatchObject({ direction: 'outbound', author: 'api', triggersAutomation: false });

    const humanId = uniqueId();
    await post(evolutionText({ instance: 'loja-centro', phone, text: 'Oi, aqui é o João da loja', id: humanId, fromMe: true }));
    const [humanRow] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, humanId));
    expect(humanRow).toMatchObject({ direction: 'outbound', author: 'human', triggersAutomation: true });
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenantA.tenant.id, phone));
    const state = await eventually(async () => {
      const s = await handle.query<{ pausedUntil?: number }>('state');
      return s.pausedUntil ? s : undefined;
    });
    expect(state.pausedUntil).toBeGreaterThan(Date.now() + 30 * 60_000); // default takeover pause: 1h
  });

  it('stores group and status@broadcast messages without triggering anything', async () => {
    const group = fixture('evolution', 'messages-upsert-group');
    group.data.key.id = uniqueId('AC');
    const broadcast = fixture('evolution', 'messages-upsert-status-broadcast');
    broadcast.data.key.id = uniqueId();
    for (const body of [group, broadcast]) {
      const res = await post(body);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('processed');
      const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, body.data.key.id));
      expect(row!.triggersAutomation).toBe(false);
      expect(row!.dispatchedAt).toBeNull();
    }
  });

  it('keeps a status that arrives before its message and applies it when the row appears', async () => {
    const id = uniqueId();
    const phone = '5511911110007';
    const update = { event: 'messages.update', instance: 'loja-centro', data: { keyId: id, remoteJid: `${phone}@s.whatsapp.net`, fromMe: true, status: 'READ' } };
    const delivered = { ...update, data: { ...update.data, status: 'DELIVERY_ACK' } };
    expect((await post(update)).status).toBe(200);
    expect((await post(delivered)).status).toBe(200);
    const pending = await stack.db.db.select().from(messageStatusEvents).where(eq(messageStatusEvents.providerMessageId, id));
    expect(pending.every((p) => p.appliedAt === null)).toBe(true);

    const echo = fixture('evolution', 'send-message-text');
    echo.data.key = { ...echo.data.key, id, remoteJid: `${phone}@s.whatsapp.net` };
    await post(echo);
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
    expect(row!.status).toBe('read'); // forward only: delivered (older in arrival) did not move it back
    expect(row!.readAt).not.toBeNull();
    expect(row!.deliveredAt).not.toBeNull();

    // A late "sent" never moves it backwards.
    await post({ ...update, data: { ...update.data, status: 'SERVER_ACK' } });
    const [after] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
    expect(after!.status).toBe('read');
  });

  it('answers 400 to malformed JSON, 413 over the limit, and stores an unparseable authenticated event as rejected', async () => {
    const malformed = await postJson(`${stack.url}/webhooks/evolution`, '{"event": "messages.upsert", ', { 'x-zapflow-secret': SECRET });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_json');

    const huge = evolutionText({ instance: 'loja-centro', phone: '5511911110008', text: 'x'.repeat(6 * 1024 * 1024) });
    const tooLarge = await post(huge);
    expect(tooLarge.status).toBe(413);

    const bad = fixture('evolution', 'malformed-missing-key-id');
    const rejected = await post(bad);
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe('rejected');
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, rejected.body.eventId));
    expect(event!.error).toMatchObject({ path: 'data.key.id' });
    expect(event!.rawBody).toContain('"messages.upsert"');
  });
});
