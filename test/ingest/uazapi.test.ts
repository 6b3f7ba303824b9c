/**
 * Uazapi ingest and sends on real Temporal and PostgreSQL, with the Uazapi loopback fake
 * posting webhooks in the captured shapes of providers.md §3.3.
 */
import { eq } from 'drizzle-orm';
import { channels, messages, webhookEvents } from '../../src/db/schema';
import { stateFromProvider, stateFromUazapi } from '../../src/domain/channelState';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { parseUazapi } from '../../src/ingest/parse';
import { startUazapiFake, type UazapiFake } from '../fakes';
import { getJson, postJson } from '../support/http';
import { fixture, uniqueId } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';
import { funnelDef } from '../support/funnels';
import { addChannel, updateChannel } from '../../src/services/channels';

const TOKEN_A = 'c0ffee00-1111-2222-3333-44445555aaaa';
const TOKEN_B = 'c0ffee00-1111-2222-3333-44445555bbbb';

/** A §3.3 fixture, sent by instance `token` with a fresh message id. */
function uazapiFixture(name: string, token = TOKEN_A): any {
  const body = fixture('uazapi', name);
  body.token = token;
  if (body.message) {
    const id = uniqueId();
    body.message.messageid = id;
    body.message.id = `${body.owner}:${id}`;
  }
  return body;
}

describe('Uazapi webhooks and sends', () => {
  let stack: Stack;
  let uazapi: UazapiFake;
  let tenantA: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let tenantB: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const webhook = (body: unknown, headers: Record<string, string> = {}) => postJson(`${stack.url}/webhooks/uazapi`, body, headers);
  const rowById = async (providerMessageId: string) => (await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, providerMessageId)))[0];
  const api = (method: string, path: string, body?: unknown) =>
    getJson(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tenantA.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    uazapi = await startUazapiFake({
      instances: [
        { name: 'loja-centro', token: TOKEN_A, owner: '5511999990000' },
        { name: 'loja-sul', token: TOKEN_B, owner: '5511999990100' },
      ],
    });
    stack = await startStack({
      env: { FUNNEL_TRIGGER_CACHE: '0', FUNNEL_SEND_MAX_ATTEMPTS: '3', FUNNEL_SEND_RETRY_INITIAL: '100ms', FUNNEL_SEND_RETRY_MAX: '200ms', SEND_PACING_MIN_GAP: '0', SEND_PACING_JITTER: '0' },
    });
    uazapi.webhookUrl = `${stack.url}/webhooks/uazapi`;
    // As `zapflow channels add --provider uazapi --external-id loja-centro --base-url … --api-key <token>` does.
    tenantA = await seedTenantWithChannel(stack.db, 'Loja Centro', { provider: 'uazapi', externalId: 'loja-centro', baseUrl: uazapi.url, apiKey: TOKEN_A });
    tenantB = await seedTenantWithChannel(stack.db, 'Loja Sul', { provider: 'uazapi', externalId: 'loja-sul', baseUrl: uazapi.url, apiKey: TOKEN_B });
  });
  afterAll(async () => {
    await stack?.close();
    await uazapi?.close();
  });

  it('stores an inbound text once (the token not kept), hands it to the contact workflow, and files it under the token\'s tenant', async () => {
    const body = uazapiFixture('messages-text');
    const id: string = body.message.messageid;
    const first = await uazapi.emit(body);
    expect(first).toMatchObject({ status: 200, body: { status: 'pending' } });
    const again = await uazapi.emit(body);
    expect(again.body.status).toBe('duplicate');

    const row = (await rowById(id))!;
    expect(row).toMatchObject({
      tenantId: tenantA.tenant.id,
      channelId: tenantA.channel.id,
      direction: 'inbound',
      author: 'contact',
      type: 'text',
      body: 'Oi, quero saber o preço',
      triggersAutomation: true,
    });
    expect(row.payload).toMatchObject({ lid: '204981736452901' });
    expect(row.providerTimestamp?.getTime()).toBe(1773152525000); // milliseconds, as Uazapi sends them
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, first.body.eventId));
    expect(event!.rawBody).not.toContain(TOKEN_A);
    expect(event!.rawBody).toContain('Oi, quero saber o preço');

    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenantA.tenant.id, '5511999990001'));
    const state = await eventually(async () => {
      const s = await handle.query<{ handled: number }>('state');
      return s.handled >= 1 ? s : undefined;
    });
    expect(state.handled).toBe(1);
    await eventually(async () => ((await rowById(id))!.dispatchedAt ? true : undefined));

    // The same instance name posted with tenant B's token is tenant B's: the token routes.
    const other = uazapiFixture('messages-text', TOKEN_B);
    expect((await webhook(other)).status).toBe(200);
    expect((await rowById(other.message.messageid))!.tenantId).toBe(tenantB.tenant.id);
  });

  it('a button reply starts the funnel it names, and the funnel\'s send reaches Uazapi through delivery', async () => {
    const created = await api('POST', '/api/funnels', funnelDef({ name: 'Uazapi botão', trigger: { type: 'button', phrase: 'Pode falar sim!' } }));
    expect(created.status).toBe(201);
    const phone = '5511955550001';
    const reply = uazapi.messagePayload('loja-centro', { phone, senderName: 'Bruno Lima', reply: { id: 'pode_falar', label: 'Pode falar sim!' } });
    expect((await uazapi.emit(reply)).body.status).toBe('pending');
    const row = (await rowById((reply.message as { messageid: string }).messageid))!;
    expect(row).toMatchObject({ type: 'button_reply', body: 'Pode falar sim!', direction: 'inbound', author: 'contact' });
    expect(row.payload.button).toEqual({ id: 'pode_falar', text: 'Pode falar sim!' });

    const sent = await eventually(async () => uazapi.sent.find((s) => s.number === phone), 20_000, 'the funnel send');
    expect(sent.kind).toBe('text');
    expect(sent.body).toMatchObject({ number: phone, text: 'Oi Bruno Lima! Que bom falar com você.', track_source: 'zapflow' });
    const out = await eventually(async () => {
      const r = await rowById(sent.providerMessageId);
      return r?.status === 'sent' ? r : undefined;
    });
    expect(out).toMatchObject({ direction: 'outbound', channelId: tenantA.channel.id });
    expect(sent.trackId).toBeTruthy(); // our idempotency key, echoed back by Uazapi
  });

  it('a list reply (captured shape) is a list_reply with the row id and label', async () => {
    const body = uazapiFixture('messages-list-reply');
    expect((await webhook(body)).status).toBe(200);
    const row = (await rowById(body.message.messageid))!;
    expect(row).toMatchObject({ type: 'list_reply', body: 'Fones' });
    expect(row.payload).toMatchObject({ button: { id: 'fones', text: 'Fones' }, replyTo: '3EB00EB51811DEDC4195E4' });
  });

  it('delivery ticks move a message zapflow sent forward: delivered, then read; an echo of it changes nothing', async () => {
    const phone = '5511955550002';
    const res = await api('POST', '/api/whatsapp/send-message', { instanceName: 'loja-centro', phoneNumber: phone, message: 'Seu pedido saiu para entrega' });
    expect(res.status).toBe(200);
    const sent = await eventually(async () => uazapi.sent.find((s) => s.number === phone), 20_000, 'the API send');
    expect(sent.body).toMatchObject({ text: 'Seu pedido saiu para entrega' });
    await eventually(async () => ((await rowById(sent.providerMessageId))?.status === 'sent' ? true : undefined));

    expect((await uazapi.emit(uazapi.receiptPayload('loja-centro', { ids: [sent.providerMessageId], state: 'Delivered', phone }))).body.status).toBe('processed');
    expect((await rowById(sent.providerMessageId))!.status).toBe('delivered');
    // The §3.3 receipt as captured: `IsFromMe` a string, `Timestamp` a string of seconds.
    const read = fixture('uazapi', 'messages-update-read');
    read.token = TOKEN_A;
    read.event.MessageIDs = [sent.providerMessageId];
    read.event.Chat = `${phone}@s.whatsapp.net`;
    read.event.Timestamp = String(Math.floor(Date.now() / 1000));
    expect((await webhook(read)).body.status).toBe('processed');
    const row = (await rowById(sent.providerMessageId))!;
    expect(row.status).toBe('read');
    expect(row.deliveredAt).not.toBeNull();
    expect(row.readAt).not.toBeNull();

    // Its `wasSentByApi` echo is the same message: nothing new is stored or dispatched.
    const echo = uazapi.messagePayload('loja-centro', { phone, text: 'Seu pedido saiu para entrega', id: sent.providerMessageId, wasSentByApi: true, trackId: sent.trackId });
    expect((await uazapi.emit(echo)).body.status).toBe('duplicate');
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, sent.providerMessageId))).toHaveLength(1);
  });

  it('an echo of another API send is ours (author api, nothing triggered); a message typed on the phone is a human\'s', async () => {
    const phone = '5511955550003';
    const echo = uazapi.messagePayload('loja-centro', { phone, text: 'Enviado por outro sistema', wasSentByApi: true });
    expect((await uazapi.emit(echo)).body.status).toBe('processed');
    const echoRow = (await rowById((echo.message as { messageid: string }).messageid))!;
    expect(echoRow).toMatchObject({ direction: 'outbound', author: 'api', triggersAutomation: false, body: 'Enviado por outro sistema' });
    expect(echoRow.dispatchedAt).toBeNull();

    const human = uazapi.messagePayload('loja-centro', { phone, text: 'Oi, aqui é o João da loja', fromMe: true });
    expect((await uazapi.emit(human)).body.status).toBe('pending');
    expect((await rowById((human.message as { messageid: string }).messageid))!).toMatchObject({ direction: 'outbound', author: 'human', triggersAutomation: true });
  });

  it('records connection events: a QR while connecting, then connected, then logged out', async () => {
    const stateOf = async () => (await stack.db.db.select().from(channels).where(eq(channels.id, tenantA.channel.id)))[0]!;
    const connecting = fixture('uazapi', 'connection-connecting-qr');
    connecting.token = TOKEN_A;
    expect((await webhook(connecting)).body.status).toBe('processed');
    let channel = await stateOf();
    expect(channel.qrCode?.base64).toMatch(/^data:image\/png;base64,/);
    expect(['connecting', 'qr']).toContain(channel.connectionState);

    const connected = fixture('uazapi', 'connection-connected');
    connected.token = TOKEN_A;
    expect((await webhook(connected)).body.status).toBe('processed');
    expect((await stateOf()).connectionState).toBe('connected');

    const loggedOut = fixture('uazapi', 'connection-logged-out');
    loggedOut.token = TOKEN_A;
    expect((await webhook(loggedOut)).body.status).toBe('processed');
    channel = await stateOf();
    // Stored as Uazapi said it, or already in zapflow's words (a logout needs a new QR: closed).
    expect(['disconnected', 'closed']).toContain(channel.connectionState);
    expect(stateFromUazapi('disconnected', 401)).toBe('closed');
  });

  it('answers 401 and stores nothing without the instance token, with a wrong one, or with a token in the wrong place', async () => {
    const before = (await stack.db.db.select().from(webhookEvents)).length;
    const body = uazapiFixture('messages-text');
    const id: string = body.message.messageid;
    const cases = [
      webhook({ ...body, token: undefined }),
      webhook({ ...body, token: 'c0ffee00-0000-0000-0000-000000000000' }),
      webhook({ ...body, token: '' }),
      webhook({ ...body, token: 'x'.repeat(500) }),
      webhook({ ...body, token: undefined }, { token: TOKEN_A.slice(0, -1) }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect((await stack.db.db.select().from(webhookEvents)).length).toBe(before);
    expect(await rowById(id)).toBeUndefined();
  });

  it('channels add needs the server and the instance token; a new token is what webhooks must then carry', async () => {
    const err = await addChannel(stack.db.db, { tenantId: tenantA.tenant.id, provider: 'uazapi', externalId: 'loja-norte' }).catch((e: unknown) => e);
    expect((err as { name?: string }).name).toBe('ZodError');
    const paths = (err as { issues: Array<{ path: string[] }> }).issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['baseUrl', 'apiKey']));

    await seedTenantWithChannel(stack.db, 'Loja Norte', { provider: 'uazapi', externalId: 'loja-norte', baseUrl: uazapi.url, apiKey: 'old-token-norte' });
    const body = (token: string) => ({ ...uazapiFixture('messages-text', token), instanceName: 'loja-norte' });
    expect((await webhook(body('old-token-norte'))).status).toBe(200);
    await updateChannel(stack.db.db, { channel: 'loja-norte', change: { apiKey: 'new-token-norte' } });
    stack.ingestRuntime.ingest.directory.invalidate();
    expect((await webhook(body('new-token-norte'))).status).toBe(200);
    expect((await webhook(body('old-token-norte'))).status).toBe(401);
  });

  it('stores an authenticated body it cannot read as rejected, with the field path', async () => {
    const body = uazapiFixture('messages-text');
    delete body.message.messageid;
    delete body.message.id;
    const res = await webhook(body);
    expect(res).toMatchObject({ status: 200, body: { status: 'rejected' } });
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, res.body.eventId));
    expect(event).toMatchObject({ tenantId: tenantA.tenant.id, error: expect.objectContaining({ path: 'message.messageid' }) });
  });
});

describe('Uazapi parser', () => {
  const now = Date.UTC(2026, 2, 11);

  it('turns one receipt into a status per message id, at the receipt\'s time in seconds', () => {
    const body = fixture('uazapi', 'messages-update-read');
    body.event.MessageIDs = ['A1', 'A2', 'A1'];
    const parsed = parseUazapi(body, { receivedAt: now });
    expect(parsed.eventType).toBe('messages_update');
    expect(parsed.items.map((i) => i.event)).toEqual([
      { kind: 'status', providerMessageId: 'A1', status: 'read', timestamp: 1773153100_000, recipient: '5511999990001' },
      { kind: 'status', providerMessageId: 'A2', status: 'read', timestamp: 1773153100_000, recipient: '5511999990001' },
    ]);
    expect(parsed.items.every((i) => i.channelKey === 'loja-centro')).toBe(true);
  });

  it('keeps receipts that are not ticks of ours (ReadSelf) out, and bounds the ids one receipt may name', () => {
    const body = fixture('uazapi', 'messages-update-read');
    body.event.Type = 'ReadSelf';
    body.state = 'ReadSelf';
    expect(parseUazapi(body, { receivedAt: now }).items[0]!.event.kind).toBe('unknown');
    body.event.MessageIDs = Array.from({ length: 1001 }, (_, i) => `id${i}`);
    expect(() => parseUazapi(body, { receivedAt: now })).toThrow(/at most 1000/);
  });

  it('reads a logout as disconnected with the 401 reason, and a connecting instance\'s QR', () => {
    const out = parseUazapi(fixture('uazapi', 'connection-logged-out'), { receivedAt: now }).items.map((i) => i.event);
    expect(out).toEqual([{ kind: 'connection', state: 'disconnected', statusReason: 401, reason: '401: logged out from another device', wuid: '5511999990000' }]);
    expect(stateFromUazapi('disconnected', 401)).toBe('closed');
    expect(stateFromUazapi('disconnected')).toBe('disconnected');
    expect(stateFromUazapi('connecting')).toBe('connecting');
    expect(stateFromProvider('uazapi', 'connected')).toBe('connected');
    expect(stateFromProvider('evolution', 'open')).toBe('connected');
    const qr = parseUazapi(fixture('uazapi', 'connection-connecting-qr'), { receivedAt: now }).items.map((i) => i.event);
    expect(qr).toEqual([{ kind: 'connection', state: 'connecting' }, { kind: 'qrcode', base64: expect.stringMatching(/^data:image\/png;base64,/) }]);
  });

  it('refuses a message time WhatsApp could not have produced, with its path', () => {
    const body = fixture('uazapi', 'messages-text');
    body.message.messageTimestamp = now + 3 * 86_400_000;
    expect(() => parseUazapi(body, { receivedAt: now })).toThrow(/message\.messageTimestamp|timestamp out of range/);
  });

  it('an edit is not a new message; a plain string content is a text', () => {
    const edit = fixture('uazapi', 'messages-text');
    edit.message.edited = '3EB0AAAA';
    expect(parseUazapi(edit, { receivedAt: now }).items[0]!.event).toEqual({ kind: 'unknown', eventType: 'messages.edited' });
    const plain = fixture('uazapi', 'messages-text');
    plain.message.messageType = 'Conversation';
    plain.message.content = 'Oi';
    plain.message.text = '';
    expect(parseUazapi(plain, { receivedAt: now }).items[0]!.event).toMatchObject({ type: 'text', text: 'Oi', author: 'contact' });
  });
});
