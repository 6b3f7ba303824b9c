import { eq } from 'drizzle-orm';
import { channels, messages, webhookEvents } from '../../src/db/schema';
import { postJson } from '../support/http';
import { fixture, fixtureNames } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('LancePilot webhooks', () => {
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const post = (body: unknown, headers: Record<string, string> = { 'x-webhook-token': 'lp-token-1' }, path = '/webhooks/lancepilot') =>
    postJson(`${stack.url}${path}`, body, headers);

  beforeAll(async () => {
    stack = await startStack();
    tenant = await seedTenantWithChannel(stack.db, 'Loja LP', {
      provider: 'lancepilot',
      externalId: 'ws-loja-centro',
      accessToken: 'lp-access',
      webhookSecret: 'lp-token-1',
    });
    await seedTenantWithChannel(stack.db, 'Outra LP', { provider: 'lancepilot', externalId: 'ws-outra', webhookSecret: 'lp-token-2' });
  });
  afterAll(() => stack.close());

  it('accepts its samples with the channel token (header, ?token=, bearer) and stores the raw body', async () => {
    for (const name of fixtureNames('lancepilot')) {
      if (name.startsWith('malformed')) continue;
      const res = await post(fixture('lancepilot', name));
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, res.body.eventId));
      expect(event!.tenantId).toBe(tenant.tenant.id);
      expect(JSON.parse(event!.rawBody)).toEqual(fixture('lancepilot', name));
    }
    const body = fixture('lancepilot', 'message-received');
    expect((await post(body, {}, '/webhooks/lancepilot?token=lp-token-1')).status).toBe(200);
    expect((await post(body, { authorization: 'Bearer lp-token-1' })).status).toBe(200);
    expect((await post(body, { 'x-webhook-token': 'lp-token-1' }, '/webhooks/lancepilot/ws-loja-centro')).status).toBe(200);
    const rows = await stack.db.db.select().from(messages).where(eq(messages.channelId, tenant.channel.id));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.tenantId === tenant.tenant.id)).toBe(true);
  });

  it('answers 401 without a token, with a wrong one, or with another account\'s token', async () => {
    const body = fixture('lancepilot', 'message-received');
    expect((await post(body, {})).status).toBe(401);
    expect((await post(body, { 'x-webhook-token': 'nope' })).status).toBe(401);
    expect((await post(body, { 'x-webhook-token': 'lp-token-2' }, '/webhooks/lancepilot/ws-loja-centro')).status).toBe(401);
  });

  it('keeps a body its mapping cannot read as rejected', async () => {
    const res = await post(fixture('lancepilot', 'malformed-missing-id'));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('rejected');
  });
  it('reads a custom captured shape through the channel mapping, without a release', async () => {
    const custom = fixture('lancepilot', 'custom-shape');
    const before = await post(custom);
    expect(before.body.status).toBe('ignored'); // the defaults do not understand it: stored, nothing filed
    await stack.db.db
      .update(channels)
      .set({
        settings: {
          lancepilotMapping: {
            eventType: 'tipo',
            messageEvents: ['mensagem_recebida'],
            messageId: 'payload.mensagem.codigo',
            from: 'payload.mensagem.remetente.telefone',
            name: 'payload.mensagem.remetente.nome',
            text: 'payload.mensagem.conteudo',
            timestamp: 'payload.mensagem.enviadaEm',
            timestampUnit: 'ms',
          },
        },
      })
      .where(eq(channels.id, tenant.channel.id));
    stack.ingestRuntime.ingest.directory.invalidate();
    const res = await post(custom);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('pending');
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, 'LP-MSG-000000001'));
    expect(row).toMatchObject({ tenantId: tenant.tenant.id, body: 'Olá, tudo bem? Quero fechar o pedido.', type: 'text' });
  });

});
