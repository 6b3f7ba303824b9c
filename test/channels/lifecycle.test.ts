/**
 * A number's life on real Temporal and PostgreSQL with the Evolution fake: created through the
 * API (an instance whose webhooks come back here), its QR, connected (the fake emits
 * connection.update), dropped (after the grace the admin is told and a campaign on it waits
 * for the channel), reconnected (the campaign is woken and completes, the admin hears it is
 * back); the QR's expiry; deletion refused while a campaign uses the number.
 */
import { and, eq } from 'drizzle-orm';
import { channels, channelStateChanges } from '../../src/db/schema';
import { channelWorkflowId } from '../../src/domain/workflowIds';
import { WorkflowType } from '../../src/workflows/definitions';
import { getJson } from '../support/http';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';
import type { SendingWorld } from '../sending/support';
import { campaignView, createCampaign, phones, seedContacts, untilState } from '../campaigns/support';
import { adminTexts, channelView, createNumber, startChannelWorld } from './support';

jest.setTimeout(120_000);

let world: SendingWorld;

beforeAll(async () => {
  world = await startChannelWorld();
});

afterAll(async () => {
  await world?.close();
});

describe('connecting a number and watching it', () => {
  it('create → QR → connected → down past the grace (admin told, campaign waits) → reconnected (campaign completes)', async () => {
    const created = await createNumber(world, 'Loja Norte');
    expect(created).toMatchObject({ id: expect.any(String), instanceName: expect.stringMatching(/^zf-loja-norte-[0-9a-f]{8}$/), state: 'qr' });
    // The instance exists on Evolution with its webhook pointed here and a per-channel secret.
    const hook = world.evolution.webhooks.get(created.instanceName)!;
    expect(hook.url).toBe(`${world.stack.url}/webhooks/evolution`);
    expect(hook.headers['x-zapflow-secret']).toEqual(expect.any(String));
    expect(hook.events).toEqual(expect.arrayContaining(['CONNECTION_UPDATE', 'QRCODE_UPDATED', 'MESSAGES_UPSERT']));

    // The QR the instance was created with, still fresh: no call to Evolution.
    const qr = await world.api(`/channels/${created.id}/qr`);
    expect(qr.status).toBe(200);
    expect(qr.body).toMatchObject({ qr: expect.stringMatching(/^data:image\/png;base64,/), expiresAt: expect.any(String) });
    expect(world.evolution.qrCounts.get(created.instanceName)).toBe(1);
    // Credentials never show.
    expect(JSON.stringify(await channelView(world, created.id))).not.toContain(hook.headers['x-zapflow-secret']);

    expect(await world.evolution.emitOpen(created.instanceName, '5511988887777')).toBe(200);
    const connected = await eventually(async () => {
      const v = await channelView(world, created.id);
      return v.state === 'connected' ? v : undefined;
    }, 20_000, 'connected');
    expect(connected).toMatchObject({ phoneNumber: '5511988887777', lastChange: { state: 'connected', previous: 'qr' } });
    expect((await world.api(`/channels/${created.id}/qr`)).status).toBe(409);

    // A campaign on this number only, starting in a moment.
    const audience = phones('71', 3);
    await seedContacts(world, world.tenant.tenant.id, audience.map((phone) => ({ phone })));
    const campaign = await createCampaign(world, {
      name: 'Norte',
      channels: [created.instanceName],
      message: 'Promoção da Loja Norte',
      audience: { phones: audience },
      startAt: new Date(Date.now() + 1_500).toISOString(),
    });

    expect(await world.evolution.emitClose(created.instanceName)).toBe(200);
    await eventually(async () => (await channelView(world, created.id)).state === 'disconnected', 20_000, 'disconnected');
    // After the grace: the admin is told (through the tenant's other number) and the outage marked.
    await eventually(async () => adminTexts(world).some((t) => t.includes('Loja Norte') && t.includes('desconectado')), 30_000, 'admin told');
    const down = await channelView(world, created.id);
    expect(down).toMatchObject({ state: 'disconnected', downSince: expect.any(String), alertedAt: expect.any(String) });
    expect(world.evolution.sent.filter((s) => s.number === '5511977776666').every((s) => s.instance === 'loja-centro')).toBe(true);
    // /health counts it without failing the service.
    const health = await getJson(`${world.stack.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body.providers.channels.disconnected).toBeGreaterThanOrEqual(1);
    // The campaign waits for the channel (CAMPAIGN_CHANNEL_RECHECK is 10 minutes here).
    await eventually(async () => {
      const v = await campaignView(world, campaign.id);
      return v.state === 'waiting' && v.waitingFor === 'channel';
    }, 30_000, 'campaign waiting for the channel');
    expect(world.evolution.sent.filter((s) => s.instance === created.instanceName)).toEqual([]);

    // Back: the channel workflow wakes the campaign, which completes on this number.
    expect(await world.evolution.emitOpen(created.instanceName, '5511988887777')).toBe(200);
    const done = await untilState(world, campaign.id, ['completed'], 30_000);
    expect(done.counts).toMatchObject({ sent: 3, failed: 0 });
    expect(world.evolution.sent.filter((s) => s.instance === created.instanceName).map((s) => s.number).sort()).toEqual([...audience].sort());
    await eventually(async () => adminTexts(world).some((t) => t.includes('Loja Norte') && t.includes('conectado de novo')), 20_000, 'admin told it is back');
    expect(await channelView(world, created.id)).toMatchObject({ state: 'connected', downSince: null, alertedAt: null });

    // Every change is in the history, with downtime over a range.
    const states = await world.api(`/channels/${created.id}/states?from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`);
    expect(states.status).toBe(200);
    const sequence = [...states.body.changes].reverse().filter((c: any) => c.state !== c.previous).map((c: any) => c.state);
    expect(sequence).toEqual(['creating', 'qr', 'connected', 'disconnected', 'connected']);
    expect(states.body.changes.some((c: any) => /outage alert: admin told/.test(c.reason ?? ''))).toBe(true);
    expect(states.body.downtime.downMs).toBeGreaterThan(0);

    recordHistory('channel', channelWorkflowId(created.id), WorkflowType.channel);
  });

  it('a QR expires: a fresh one is fetched from Evolution after CHANNEL_QR_LIFETIME; qrcode.updated stores the newest', async () => {
    const created = await createNumber(world, 'Loja QR');
    const first = await world.api(`/channels/${created.id}/qr`);
    const again = await world.api(`/channels/${created.id}/qr`);
    expect(again.body.qr).toBe(first.body.qr);
    expect(world.evolution.qrCounts.get(created.instanceName)).toBe(1);

    await new Promise((r) => setTimeout(r, Date.parse(first.body.expiresAt) - Date.now() + 100));
    const fresh = await world.api(`/channels/${created.id}/qr`);
    expect(fresh.status).toBe(200);
    expect(fresh.body.qr).not.toBe(first.body.qr);
    expect(world.evolution.qrCounts.get(created.instanceName)).toBe(2);
    expect(world.evolution.requests.filter((r) => r.path === `/instance/connect/${created.instanceName}`)).toHaveLength(1);

    // Evolution pushes a newer QR by webhook: that one is served.
    expect(await world.evolution.emitQr(created.instanceName)).toBe(200);
    const pushed = await eventually(async () => {
      const r = await world.api(`/channels/${created.id}/qr`);
      return r.body.qr !== fresh.body.qr ? r : undefined;
    }, 10_000, 'pushed QR');
    expect(pushed.body.code).toContain(`${created.instanceName}-3-`);
  });

  it('a campaign that uses a number blocks its deletion (409); logout closes it; DELETE removes the instance', async () => {
    const created = await createNumber(world, 'Loja Sul');
    await world.evolution.emitOpen(created.instanceName, '5511966665555');
    await eventually(async () => (await channelView(world, created.id)).state === 'connected', 20_000, 'connected');
    const campaign = await createCampaign(world, {
      name: 'Sul',
      channels: [created.id],
      message: 'Oi',
      audience: { phones: phones('72', 1) },
      startAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const refused = await world.api(`/channels/${created.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain(campaign.id);
    expect(world.evolution.deleted).not.toContain(created.instanceName);

    await world.api(`/campaigns/${campaign.id}/cancel`, { body: {} });
    const logout = await world.api(`/channels/${created.id}/logout`, { body: {} });
    expect(logout.status).toBe(200);
    expect(logout.body.state).toBe('closed');
    expect(world.evolution.logouts).toContain(created.instanceName);

    const deleted = await world.api(`/channels/${created.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(world.evolution.deleted).toContain(created.instanceName);
    expect((await world.api(`/channels/${created.id}`)).status).toBe(404);
    expect((await world.api('/channels')).body.channels.map((c: any) => c.id)).not.toContain(created.id);
    expect((await world.api(`/channels/${created.id}`, { method: 'DELETE' })).status).toBe(404);
    // The row stays, retired: its history is kept, its credentials and number are gone.
    const [kept] = await world.stack.db.db.select().from(channels).where(eq(channels.id, created.id));
    expect(kept).toMatchObject({ connectionState: 'closed', deletedAt: expect.any(Date), phoneNumber: null, webhookSecretHash: null });
    const history = await world.stack.db.db.select().from(channelStateChanges).where(and(eq(channelStateChanges.channelId, created.id)));
    expect(history.map((h) => h.reason)).toContain('deleted');
    // Nothing can send on it any more.
    const send = await world.api('/whatsapp/send-message', { body: { instanceName: created.instanceName, phoneNumber: phones('72', 1)[0], message: 'Oi' } });
    expect(send.status).toBe(404);
  });

  it('a send on a number that dropped waits (queued, saying why) instead of failing, and goes out once it reconnects', async () => {
    const created = await createNumber(world, 'Loja Leste');
    await world.evolution.emitOpen(created.instanceName, '5511955554444');
    await eventually(async () => (await channelView(world, created.id)).state === 'connected', 20_000, 'connected');
    await world.evolution.emitClose(created.instanceName);
    await eventually(async () => (await channelView(world, created.id)).state === 'disconnected', 20_000, 'disconnected');

    const [to] = phones('74', 1);
    const res = await world.api('/whatsapp/send-message', { body: { instanceName: created.instanceName, phoneNumber: to, message: 'Seu pedido saiu para entrega' } });
    expect(res.status).toBe(200);
    const messageId = res.body.messageId as string;
    // Retried every CHANNEL_DOWN_SEND_RETRY (500 ms here): still queued after several tries, with the reason.
    const waiting = await eventually(async () => {
      const m = await world.api(`/whatsapp/messages/${messageId}`);
      const message = m.body.message;
      if (message?.status === 'queued' && message.error?.reason === 'ChannelDown') return message;
      throw new Error(`message is ${JSON.stringify(m.body)}`);
    }, 20_000, 'queued, waiting for the channel');
    expect(waiting.error.message).toContain('waits until it reconnects');
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await world.api(`/whatsapp/messages/${messageId}`)).body.message.status).toBe('queued');
    expect(world.evolution.sent.filter((s) => s.instance === created.instanceName)).toEqual([]);

    await world.evolution.emitOpen(created.instanceName, '5511955554444');
    await eventually(async () => (await world.api(`/whatsapp/messages/${messageId}`)).body.message.status === 'sent', 20_000, 'sent after reconnecting');
    expect(world.evolution.sent.filter((s) => s.instance === created.instanceName).map((s) => s.body.text)).toEqual(['Seu pedido saiu para entrega']);
  });
});
