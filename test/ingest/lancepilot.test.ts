import { eq } from 'drizzle-orm';
import { messages, webhookEvents } from '../../src/db/schema';
import { getJson, postJson } from '../support/http';
import { fixture, fixtureNames } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('LancePilot webhooks', () => {
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const post = (body: unknown, headers: Record<string, string> = { 'x-webhook-token': 'lp-token-1' }, path = '/webhooks/lancepilot') =>
    postJson(`${stack.url}${path}`, body, headers);

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: 'admin-lp-0123456789abcdef0123456789ab' } });
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
    // The operator configures the mapping (admin API; `zapflow channels update` does the same).
    const patch = (body: unknown) =>
      getJson(`${stack.url}/admin/channels/${tenant.channel.id}`, {
        method: 'PATCH',
        headers: { authorization: 'Bearer admin-lp-0123456789abcdef0123456789ab', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const wrong = await patch({ lancepilotMapping: { timestampUnit: 'minutes' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details).toEqual([expect.objectContaining({ path: 'lancepilotMapping.timestampUnit' })]);
    const configured = await patch({
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
    });
    expect(configured.status).toBe(200);
    expect(configured.body.channel).toMatchObject({ externalId: 'ws-loja-centro', credentialsSet: ['webhookSecret', 'accessToken'] });
    expect(JSON.stringify(configured.body)).not.toContain('lp-access'); // credentials are never read back
    // The running API reads channels through a 10 s cache; skip the wait.
    stack.ingestRuntime.ingest.directory.invalidate();
    const res = await post(custom);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('pending');
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, 'LP-MSG-000000001'));
    expect(row).toMatchObject({ tenantId: tenant.tenant.id, body: 'Olá, tudo bem? Quero fechar o pedido.', type: 'text' });
  });

});
