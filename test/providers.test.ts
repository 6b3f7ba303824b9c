/**
 * Real provider clients against their loopback fakes, over real HTTP.
 */
import {
  ProviderError,
  createEvolutionClient,
  createLancePilotClient,
  createMetaClient,
  createProviderClients,
  createUazapiClient,
  requestJson,
  retryAfterMs,
  type ChannelTarget,
  type OutboundMessage,
} from '../src/providers';
import {
  FakeServer,
  startEvolutionFake,
  startLancePilotFake,
  startMetaFake,
  startUazapiFake,
  type EvolutionFake,
  type LancePilotFake,
  type MetaFake,
  type UazapiFake,
} from './fakes';
import { downloadInboundMedia } from '../src/providers/media';

const ANA = '5511999990001';
const BRUNO = '5531988887777'; // Evolution drops the ninth digit: 553188887777
const KEY = { idempotencyKey: 'idem-1' };

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError, the call succeeded');
}

// ---------------------------------------------------------------------------------------
describe('http helper', () => {
  it('parses Retry-After seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('1.5')).toBe(1500);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });

  it('maps a refused connection to a retryable network error naming provider and host', async () => {
    const fake = new FakeServer();
    const url = await fake.start();
    await fake.close(); // nothing listens on that port now
    const err = await providerError(requestJson({ provider: 'evolution', method: 'GET', url: `${url}/x`, timeoutMs: 1000 }));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('evolution');
    expect(err.message).toContain(new URL(url).host);
    expect(err.message).toMatch(/network error/);
  });

  it('maps a dropped connection to a retryable network error', async () => {
    const fake = new FakeServer();
    const url = await fake.start();
    fake.failNext(1, { destroy: true });
    const err = await providerError(requestJson({ provider: 'meta', method: 'POST', url: `${url}/x`, body: {}, timeoutMs: 1000 }));
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/meta POST 127\.0\.0\.1:\d+: network error/);
    await fake.close();
  });

  it('returns non-JSON bodies as text', async () => {
    const fake = new FakeServer();
    const url = await fake.start();
    fake.respondWith({ path: '/html' }, { status: 502, body: '<html>Bad gateway</html>', headers: { 'content-type': 'text/html' } });
    const res = await requestJson({ method: 'GET', url: `${url}/html`, timeoutMs: 1000 });
    expect(res.status).toBe(502);
    expect(res.body).toBe('<html>Bad gateway</html>');
    expect(res.headers['content-type']).toBe('text/html');
    await fake.close();
  });
});

// ---------------------------------------------------------------------------------------
describe('FakeServer', () => {
  let fake: FakeServer;
  beforeEach(async () => {
    fake = new FakeServer({ strict: true });
    fake.route('POST', '/things/:id', (req, p) => ({ status: 201, body: { id: p.id, got: req.body } }));
    await fake.start();
  });
  afterEach(() => fake.close());

  it('records requests with parsed body, query, headers and receivedAt', async () => {
    const before = Date.now();
    const res = await requestJson({ method: 'POST', url: `${fake.url}/things/a%20b?x=1`, headers: { 'x-test': 'yes' }, body: { n: 1 }, timeoutMs: 1000 });
    expect(res).toMatchObject({ status: 201, body: { id: 'a b', got: { n: 1 } } });
    expect(fake.requests).toHaveLength(1);
    const r = fake.requests[0]!;
    expect(r).toMatchObject({ method: 'POST', path: '/things/a%20b', query: { x: '1' }, body: { n: 1 } });
    expect(r.headers['x-test']).toBe('yes');
    expect(r.receivedAt).toBeGreaterThanOrEqual(before);
    expect(fake.unexpected).toEqual([]);
  });

  it('strict mode answers unknown routes 404 and records them in unexpected', async () => {
    const res = await requestJson({ method: 'GET', url: `${fake.url}/nope`, timeoutMs: 1000 });
    expect(res.status).toBe(404);
    expect(fake.unexpected.map((r) => r.path)).toEqual(['/nope']);
  });

  it('non-strict mode answers unknown routes 200', async () => {
    const loose = new FakeServer();
    const url = await loose.start();
    const res = await requestJson({ method: 'POST', url: `${url}/sink`, body: { a: 1 }, timeoutMs: 1000 });
    expect(res.status).toBe(200);
    expect(loose.unexpected).toEqual([]);
    await loose.close();
  });

  it('failNext overrides the next n matching requests, then the route answers again', async () => {
    fake.failNext(2, { status: 503, body: { error: 'down' } }, { path: /^\/things\// });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await requestJson({ method: 'POST', url: `${fake.url}/things/1`, body: {}, timeoutMs: 1000 })).status);
    expect(statuses).toEqual([503, 503, 201]);
  });

  it('respondWith takes a handler and can be removed', async () => {
    const remove = fake.respondWith((r) => r.method === 'POST', (req) => ({ status: 202, body: { echo: req.body } }));
    expect((await requestJson({ method: 'POST', url: `${fake.url}/things/1`, body: { z: 1 }, timeoutMs: 1000 })).body).toEqual({ echo: { z: 1 } });
    remove();
    expect((await requestJson({ method: 'POST', url: `${fake.url}/things/1`, body: {}, timeoutMs: 1000 })).status).toBe(201);
  });

  it('supports async handlers', async () => {
    fake.respondWith({ method: 'POST' }, async (req) => {
      await new Promise((r) => setTimeout(r, 5));
      return { status: 200, body: { later: req.body } };
    }, { times: 1 });
    expect((await requestJson({ method: 'POST', url: `${fake.url}/things/1`, body: 1, timeoutMs: 1000 })).body).toEqual({ later: 1 });
  });

  it('waitFor resolves on a later request and rejects on timeout', async () => {
    const waiting = fake.waitFor((r) => r.path === '/things/late', 2000);
    setTimeout(() => void requestJson({ method: 'POST', url: `${fake.url}/things/late`, body: {}, timeoutMs: 1000 }), 20);
    await expect(waiting).resolves.toMatchObject({ path: '/things/late' });
    // already-received requests count too
    await expect(fake.waitFor((r) => r.path === '/things/late', 10)).resolves.toBeDefined();
    await expect(fake.waitFor((r) => r.path === '/never', 50)).rejects.toThrow(/no matching request within 50 ms/);
  });

  it('caps recorded requests with maxRecorded', async () => {
    const capped = new FakeServer({ maxRecorded: 5 });
    const url = await capped.start();
    for (let i = 0; i < 12; i++) await requestJson({ method: 'POST', url: `${url}/n`, body: { i }, timeoutMs: 1000 });
    expect(capped.requests.length).toBeLessThanOrEqual(5);
    expect((capped.requests.at(-1)!.body as { i: number }).i).toBe(11);
    await capped.close();
  });
});

// ---------------------------------------------------------------------------------------
describe('Evolution client', () => {
  let fake: EvolutionFake;
  let channel: ChannelTarget;
  const client = createEvolutionClient({ timeoutMs: 2000 });

  beforeEach(async () => {
    fake = await startEvolutionFake({ apiKey: 'global-key', instances: ['loja centro'], notOnWhatsApp: ['5511999990009'] });
    channel = { id: 'ch-evo', provider: 'evolution', externalId: 'loja centro', baseUrl: fake.url, credentials: { apiKey: 'global-key' } };
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });

  it('sends text: route with URL-encoded instance name, apikey header, exact body, id and recipient', async () => {
    const res = await client.send(channel, ANA, { type: 'text', text: 'Olá Ana!' }, KEY);
    expect(res.providerMessageId).toMatch(/^3EB0[0-9A-F]{18}$/);
    expect(res.recipient).toBe(ANA);
    const req = fake.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/message/sendText/loja%20centro');
    expect(req.headers.apikey).toBe('global-key');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toEqual({ number: ANA, text: 'Olá Ana!', linkPreview: false });
    expect(fake.sent).toEqual([
      expect.objectContaining({ instance: 'loja centro', number: ANA, kind: 'text', providerMessageId: res.providerMessageId, idempotencyKey: 'idem-1' }),
    ]);
  });

  it('reports the JID digits Evolution resolved (Brazilian ninth digit dropped)', async () => {
    const res = await client.send(channel, BRUNO, { type: 'text', text: 'Oi Bruno', previewUrl: true }, KEY);
    expect(res.recipient).toBe('553188887777');
    expect(fake.requests[0]!.body).toEqual({ number: BRUNO, text: 'Oi Bruno', linkPreview: true });
  });

  it('sends to a LID as <digits>@lid', async () => {
    const res = await client.send(channel, 'lid:204981736452901', { type: 'text', text: 'hi' }, KEY);
    expect(fake.requests[0]!.body).toMatchObject({ number: '204981736452901@lid' });
    expect(res.recipient).toBe('204981736452901');
  });

  it('sends media', async () => {
    await client.send(
      channel,
      ANA,
      { type: 'media', mediaType: 'document', url: 'https://cdn.example/c.pdf', caption: 'Catálogo', fileName: 'catalogo.pdf', mimeType: 'application/pdf' },
      KEY,
    );
    expect(fake.requests[0]!.path).toBe('/message/sendMedia/loja%20centro');
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      mediatype: 'document',
      media: 'https://cdn.example/c.pdf',
      caption: 'Catálogo',
      fileName: 'catalogo.pdf',
      mimetype: 'application/pdf',
    });
  });

  it('sends buttons (title → title, text → description; without title the text is the title)', async () => {
    const buttons: OutboundMessage = {
      type: 'buttons',
      title: 'Ligação',
      text: 'Podemos te ligar agora?',
      footer: 'Loja Centro',
      buttons: [
        { id: 'ligar_sim', title: 'Pode ligar' },
        { id: 'ligar_depois', title: 'Mais tarde' },
      ],
    };
    await client.send(channel, ANA, buttons, KEY);
    expect(fake.requests[0]!.path).toBe('/message/sendButtons/loja%20centro');
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      title: 'Ligação',
      description: 'Podemos te ligar agora?',
      footer: 'Loja Centro',
      buttons: [
        { type: 'reply', displayText: 'Pode ligar', id: 'ligar_sim' },
        { type: 'reply', displayText: 'Mais tarde', id: 'ligar_depois' },
      ],
    });
    await client.send(channel, ANA, { type: 'buttons', text: 'Sim ou não?', buttons: [{ id: 's', title: 'Sim' }] }, KEY);
    expect(fake.requests[1]!.body).toEqual({ number: ANA, title: 'Sim ou não?', buttons: [{ type: 'reply', displayText: 'Sim', id: 's' }] });
  });

  it('sends a list', async () => {
    await client.send(
      channel,
      ANA,
      {
        type: 'list',
        title: 'Planos',
        text: 'Qual plano combina com você?',
        footer: 'Loja Centro',
        buttonText: 'Ver planos',
        sections: [
          {
            title: 'Planos',
            rows: [
              { id: 'plano_mensal', title: 'Plano mensal', description: 'Sem fidelidade' },
              { id: 'plano_anual', title: 'Plano anual' },
            ],
          },
        ],
      },
      KEY,
    );
    expect(fake.requests[0]!.path).toBe('/message/sendList/loja%20centro');
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      title: 'Planos',
      description: 'Qual plano combina com você?',
      footerText: 'Loja Centro',
      buttonText: 'Ver planos',
      sections: [
        {
          title: 'Planos',
          rows: [
            { title: 'Plano mensal', description: 'Sem fidelidade', rowId: 'plano_mensal' },
            { title: 'Plano anual', rowId: 'plano_anual' },
          ],
        },
      ],
    });
  });

  it('refuses templates without calling the server', async () => {
    const err = await providerError(client.send(channel, ANA, { type: 'template', name: 'retomada', language: 'pt_BR' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/template/);
    expect(fake.requests).toHaveLength(0);
  });

  it('requires a baseUrl', async () => {
    const err = await providerError(client.send({ ...channel, baseUrl: null }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/baseUrl/);
    // … unless a default is configured
    const withDefault = createEvolutionClient({ defaultBaseUrl: fake.url });
    await expect(withDefault.send({ ...channel, baseUrl: undefined }, ANA, { type: 'text', text: 'x' }, KEY)).resolves.toBeDefined();
  });

  it('number not on WhatsApp → invalid_recipient', async () => {
    const err = await providerError(client.send(channel, '5511999990009', { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('invalid_recipient');
    expect(err.details.status).toBe(400);
    expect(err.message).toContain('"exists":false');
    expect(fake.sent).toHaveLength(0);
  });

  it('wrong apikey → auth', async () => {
    const err = await providerError(client.send({ ...channel, credentials: { apiKey: 'nope' } }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('auth');
    expect(err.details.status).toBe(401);
    expect(err.message).toContain('Unauthorized');
    expect(err.retryable).toBe(false);
  });

  it('unknown instance → permanent, with Evolution\'s message', async () => {
    const err = await providerError(client.send({ ...channel, externalId: 'loja-sul' }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.details.status).toBe(404);
    expect(err.message).toContain('The "loja-sul" instance does not exist');
  });

  it('other 400s → permanent with the text; closed connection flagged', async () => {
    let err = await providerError(client.send(channel, ANA, { type: 'text', text: '   ' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('Text is required');
    fake.setState('loja centro', 'close');
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.details.code).toBe('connection_closed');
  });

  it('500 → retryable with the message; 429 → rate_limited with Retry-After', async () => {
    fake.failNext(1, { status: 500, body: { status: 500, error: 'Internal Server Error', response: { message: ['Error: boom'] } } });
    let err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('Error: boom');
    fake.failNext(1, { status: 429, body: { message: 'slow down' }, headers: { 'retry-after': '7' } });
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('rate_limited');
    expect(err.details.retryAfterMs).toBe(7000);
  });

  it('timeout → retryable, message says timeout', async () => {
    const quick = createEvolutionClient({ timeoutMs: 100 });
    fake.failNext(1, { status: 201, body: { key: { id: 'late' } }, delayMs: 400 });
    const started = Date.now();
    const err = await providerError(quick.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(Date.now() - started).toBeLessThan(350);
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/evolution POST 127\.0\.0\.1:\d+: timeout after 100 ms/);
  });

  it('presence posts {number, presence, delay}', async () => {
    await client.presence(channel, ANA, 'composing', 1200);
    expect(fake.requests[0]!.path).toBe('/chat/sendPresence/loja%20centro');
    expect(fake.requests[0]!.body).toEqual({ number: ANA, presence: 'composing', delay: 1200 });
    expect(fake.presences).toEqual([expect.objectContaining({ number: ANA, presence: 'composing', delay: 1200 })]);
  });

  it('presence waits for a blocking server longer than timeoutMs', async () => {
    fake.presenceBlocks = true;
    const quick = createEvolutionClient({ timeoutMs: 150 });
    await expect(quick.presence(channel, ANA, 'recording', 300)).resolves.toBeUndefined();
  });

  it('connectionState', async () => {
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'open' });
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/instance/connectionState/loja%20centro' });
    fake.setState('loja centro', 'connecting');
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'connecting' });
    const err = await providerError(client.connectionState({ ...channel, credentials: { apiKey: 'bad' } }));
    expect(err.kind).toBe('auth');
  });

  it('checkNumbers', async () => {
    const res = await client.checkNumbers(channel, [ANA, '5511999990009']);
    expect(fake.requests[0]).toMatchObject({ path: '/chat/whatsappNumbers/loja%20centro', body: { numbers: [ANA, '5511999990009'] } });
    expect(res).toEqual([
      expect.objectContaining({ exists: true, number: ANA, jid: `${ANA}@s.whatsapp.net` }),
      expect.objectContaining({ exists: false, number: '5511999990009' }),
    ]);
  });

  it('accepts an instance token as apikey', async () => {
    fake.addInstance('loja-norte', 'open', 'norte-token');
    const res = await client.send({ ...channel, externalId: 'loja-norte', credentials: { apiKey: 'norte-token' } }, ANA, { type: 'text', text: 'x' }, KEY);
    expect(res.providerMessageId).toHaveLength(22);
  });
});

// ---------------------------------------------------------------------------------------
describe('Meta client', () => {
  let fake: MetaFake;
  let channel: ChannelTarget;
  let client: ReturnType<typeof createMetaClient>;
  const PNID = '600000000000001';

  beforeEach(async () => {
    fake = await startMetaFake({ accessToken: 'tok', phoneNumberIds: [PNID] });
    client = createMetaClient({ timeoutMs: 2000, defaultBaseUrl: fake.url });
    channel = { id: 'ch-meta', provider: 'meta', externalId: PNID, credentials: { accessToken: 'tok' } };
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });

  const send = (m: OutboundMessage, to = ANA) => client.send(channel, to, m, KEY);
  const lastBody = () => fake.requests.at(-1)!.body;

  it('sends text: path, bearer, exact body, wamid and wa_id', async () => {
    const res = await send({ type: 'text', text: 'Olá Ana! Seu pedido #1042 foi confirmado.' });
    const req = fake.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/v21.0/${PNID}/messages`);
    expect(req.headers.authorization).toBe('Bearer tok');
    expect(req.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: `+${ANA}`,
      type: 'text',
      text: { preview_url: false, body: 'Olá Ana! Seu pedido #1042 foi confirmado.' },
    });
    expect(res.providerMessageId).toMatch(/^wamid\./);
    expect(res.providerMessageId).toBe(fake.sent[0]!.providerMessageId);
    expect(res.recipient).toBe(ANA);
  });

  it('honours graphVersion and channel.baseUrl', async () => {
    const v = createMetaClient({ graphVersion: 'v23.0' });
    await v.send({ ...channel, baseUrl: fake.url }, ANA, { type: 'text', text: 'x', previewUrl: true }, KEY);
    expect(fake.requests[0]!.path).toBe(`/v23.0/${PNID}/messages`);
    expect(fake.requests[0]!.body).toMatchObject({ text: { preview_url: true, body: 'x' } });
  });

  it('sends media by link (caption where allowed, filename for documents)', async () => {
    await send({ type: 'media', mediaType: 'image', url: 'https://cdn.example/a.jpg', caption: 'Foto' });
    expect(lastBody()).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: `+${ANA}`,
      type: 'image',
      image: { link: 'https://cdn.example/a.jpg', caption: 'Foto' },
    });
    await send({ type: 'media', mediaType: 'document', url: 'https://cdn.example/c.pdf', caption: 'Catálogo', fileName: 'catalogo.pdf' });
    expect(lastBody()).toMatchObject({ type: 'document', document: { link: 'https://cdn.example/c.pdf', caption: 'Catálogo', filename: 'catalogo.pdf' } });
    await send({ type: 'media', mediaType: 'audio', url: 'https://cdn.example/v.ogg', caption: 'ignored' });
    expect(lastBody()).toMatchObject({ type: 'audio', audio: { link: 'https://cdn.example/v.ogg' } });
    expect((lastBody() as { audio: object }).audio).not.toHaveProperty('caption');
  });

  it('sends interactive buttons', async () => {
    await send({
      type: 'buttons',
      text: 'Podemos te ligar agora?',
      footer: 'Loja Centro',
      buttons: [
        { id: 'ligar_sim', title: 'Pode ligar' },
        { id: 'ligar_depois', title: 'Mais tarde' },
      ],
    });
    expect(lastBody()).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: `+${ANA}`,
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Podemos te ligar agora?' },
        footer: { text: 'Loja Centro' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'ligar_sim', title: 'Pode ligar' } },
            { type: 'reply', reply: { id: 'ligar_depois', title: 'Mais tarde' } },
          ],
        },
      },
    });
    await send({ type: 'buttons', title: 'Ligação', text: 'Agora?', buttons: [{ id: 's', title: 'Sim' }] });
    expect((lastBody() as { interactive: object }).interactive).toMatchObject({ header: { type: 'text', text: 'Ligação' } });
  });

  it('sends an interactive list', async () => {
    await send({
      type: 'list',
      text: 'Qual plano combina com você?',
      buttonText: 'Ver planos',
      sections: [
        {
          title: 'Planos',
          rows: [
            { id: 'plano_mensal', title: 'Plano mensal', description: 'Sem fidelidade' },
            { id: 'plano_anual', title: 'Plano anual', description: '12x sem juros' },
          ],
        },
      ],
    });
    expect(lastBody()).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: `+${ANA}`,
      type: 'interactive',
      interactive: {
        type: 'list',
        body: { text: 'Qual plano combina com você?' },
        action: {
          button: 'Ver planos',
          sections: [
            {
              title: 'Planos',
              rows: [
                { id: 'plano_mensal', title: 'Plano mensal', description: 'Sem fidelidade' },
                { id: 'plano_anual', title: 'Plano anual', description: '12x sem juros' },
              ],
            },
          ],
        },
      },
    });
  });

  it('sends templates from variables, raw components, or neither', async () => {
    await send({ type: 'template', name: 'retomada_contato', language: 'pt_BR', variables: ['Ana', '#1042'] });
    expect(lastBody()).toEqual({
      messaging_product: 'whatsapp',
      to: `+${ANA}`,
      type: 'template',
      template: {
        name: 'retomada_contato',
        language: { code: 'pt_BR' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ana' },
              { type: 'text', text: '#1042' },
            ],
          },
        ],
      },
    });
    const components = [{ type: 'header', parameters: [{ type: 'image', image: { link: 'https://cdn.example/h.jpg' } }] }];
    await send({ type: 'template', name: 'promo', language: 'pt_BR', variables: ['ignored'], components });
    expect(lastBody()).toMatchObject({ template: { name: 'promo', components } });
    await send({ type: 'template', name: 'hello_world', language: 'en_US' });
    expect(lastBody()).toEqual({ messaging_product: 'whatsapp', to: `+${ANA}`, type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } });
  });

  it('rejects LID recipients without a request', async () => {
    const err = await providerError(send({ type: 'text', text: 'x' }, 'lid:204981736452901'));
    expect(err.kind).toBe('invalid_recipient');
    expect(fake.requests).toHaveLength(0);
  });

  it.each([
    [131047, 400, 'window_closed'],
    [131026, 400, 'invalid_recipient'],
    [130429, 400, 'rate_limited'],
    [131056, 400, 'rate_limited'],
    [80007, 400, 'rate_limited'],
    [131000, 500, 'retryable'],
    [131016, 503, 'retryable'],
    [131057, 400, 'retryable'],
    [1, 400, 'retryable'],
    [190, 401, 'auth'],
    [0, 401, 'auth'],
    [131050, 400, 'permanent'],
    [131049, 400, 'permanent'],
    [368, 403, 'permanent'],
    [132001, 404, 'permanent'],
    [132000, 400, 'permanent'],
    [100, 400, 'permanent'],
    [131009, 400, 'permanent'],
  ])('Meta error code %i (HTTP %i) → %s', async (code, status, kind) => {
    fake.failNextWithCode(code, status);
    const err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.kind).toBe(kind);
    expect(err.details.code).toBe(String(code));
    expect(err.details.status).toBe(status);
    expect(err.message).toContain(`(#${code})`);
  });

  it('131047 carries Meta message and details; 130429/131056 default delays; Retry-After wins', async () => {
    fake.failNextWithCode(131047);
    let err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.message).toContain('Re-engagement message');
    expect(err.message).toContain('more than 24 hours');
    expect(err.retryable).toBe(false);

    fake.failNextWithCode(130429);
    err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.details.retryAfterMs).toBe(1000);
    expect(err.retryable).toBe(true);

    fake.failNextWithCode(131056);
    err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.details.retryAfterMs).toBe(6000);

    fake.failNextWithCode(130429, 429, 1, { retryAfter: '3' });
    err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.details.retryAfterMs).toBe(3000);
  });

  it('closed window on the fake: text refused with 131047, template accepted', async () => {
    fake.closedWindows.add(ANA);
    const err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.kind).toBe('window_closed');
    const res = await send({ type: 'template', name: 'retomada_contato', language: 'pt_BR', variables: ['Ana'] });
    expect(res.providerMessageId).toMatch(/^wamid\./);
  });

  it('bad token → 401 code 190 → auth', async () => {
    const err = await providerError(client.send({ ...channel, credentials: { accessToken: 'expired' } }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('auth');
    expect(err.details).toMatchObject({ status: 401, code: '190' });
    expect(err.message).toContain('Invalid OAuth access token');
  });

  it('plain 500 without a code → retryable; 429 without a code → rate_limited', async () => {
    fake.failNext(1, { status: 500, body: 'upstream exploded' });
    let err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('upstream exploded');
    fake.failNext(1, { status: 429, body: {} });
    err = await providerError(send({ type: 'text', text: 'x' }));
    expect(err.kind).toBe('rate_limited');
  });

  it('timeout → retryable', async () => {
    const quick = createMetaClient({ timeoutMs: 100, defaultBaseUrl: fake.url });
    fake.failNext(1, { status: 200, body: {}, delayMs: 400 });
    const err = await providerError(quick.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('timeout');
  });

  it('unknown phone number id → permanent code 100', async () => {
    const err = await providerError(client.send({ ...channel, externalId: '999' }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.details.code).toBe('100');
    expect(err.message).toContain("Object with ID '999' does not exist");
  });

  it('presence is a no-op', async () => {
    await expect(client.presence(channel, ANA, 'composing', 1000)).resolves.toBeUndefined();
    expect(fake.requests).toHaveLength(0);
  });

  it('connectionState reads status and quality_rating', async () => {
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'open', status: 'CONNECTED', qualityRating: 'GREEN' });
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: `/v21.0/${PNID}`, query: { fields: 'status,quality_rating' } });
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer tok');
    const err = await providerError(client.connectionState({ ...channel, credentials: { accessToken: 'bad' } }));
    expect(err.kind).toBe('auth');
  });
});

// ---------------------------------------------------------------------------------------
describe('LancePilot client', () => {
  let fake: LancePilotFake;
  let channel: ChannelTarget;
  const client = createLancePilotClient({ timeoutMs: 2000 });

  beforeEach(async () => {
    fake = await startLancePilotFake({ accessToken: 'lp-tok', workspaces: ['ws-42'], freeWindowOpen: [ANA] });
    channel = { id: 'ch-lp', provider: 'lancepilot', externalId: 'ws-42', baseUrl: fake.baseUrl, credentials: { accessToken: 'lp-tok' } };
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });

  const contact = (n = ANA) => `/api/v3/workspaces/ws-42/contacts/number/${n}`;

  it('sends text with bearer + accept headers and takes data.id', async () => {
    const res = await client.send(channel, ANA, { type: 'text', text: 'Olá Ana!' }, KEY);
    const req = fake.requests[0]!;
    expect(req.path).toBe(`${contact()}/messages/text`);
    expect(req.headers.authorization).toBe('Bearer lp-tok');
    expect(req.headers.accept).toBe('application/json');
    expect(req.body).toEqual({ text: { body: 'Olá Ana!' } });
    expect(res.providerMessageId).toBe(fake.sent[0]!.providerMessageId);
    expect(res.recipient).toBe(ANA);
  });

  it('uses credentials.workspaceId over externalId', async () => {
    await client.send({ ...channel, externalId: 'number-label', credentials: { accessToken: 'lp-tok', workspaceId: 'ws-42' } }, ANA, { type: 'text', text: 'x' }, KEY);
    expect(fake.sent[0]!.workspace).toBe('ws-42');
  });

  it('sends images; other media kinds are refused', async () => {
    await client.send(channel, ANA, { type: 'media', mediaType: 'image', url: 'https://cdn.example/a.jpg', caption: 'Foto' }, KEY);
    expect(fake.requests[0]).toMatchObject({ path: `${contact()}/messages/image`, body: { file: 'https://cdn.example/a.jpg', caption: 'Foto' } });
    const err = await providerError(client.send(channel, ANA, { type: 'media', mediaType: 'video', url: 'https://cdn.example/v.mp4' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/video/);
    expect(fake.requests).toHaveLength(1);
  });

  it('sends templates by numeric id; a non-numeric name is refused', async () => {
    await client.send(channel, ANA, { type: 'template', name: '123', language: 'pt_BR', variables: ['Ana'] }, KEY);
    expect(fake.requests[0]).toMatchObject({ path: `${contact()}/template-messages`, body: { template_id: 123, template_data: { variables: ['Ana'] } } });
    const err = await providerError(client.send(channel, ANA, { type: 'template', name: 'retomada', language: 'pt_BR' }, KEY));
    expect(err.kind).toBe('permanent');
  });

  it('sends buttons and lists as text with numbered options', async () => {
    await client.send(
      channel,
      ANA,
      { type: 'buttons', text: 'Podemos te ligar agora?', footer: 'Loja Centro', buttons: [{ id: 'sim', title: 'Pode ligar' }, { id: 'depois', title: 'Mais tarde' }] },
      KEY,
    );
    expect(fake.requests[0]!.path).toBe(`${contact()}/messages/text`);
    expect(fake.requests[0]!.body).toEqual({ text: { body: 'Podemos te ligar agora?\n\n1. Pode ligar\n2. Mais tarde\n\nLoja Centro' } });
    await client.send(
      channel,
      ANA,
      {
        type: 'list',
        title: 'Planos',
        text: 'Qual plano?',
        buttonText: 'Ver',
        sections: [{ title: 'P', rows: [{ id: 'm', title: 'Mensal', description: 'Sem fidelidade' }, { id: 'a', title: 'Anual' }] }],
      },
      KEY,
    );
    expect(fake.requests[1]!.body).toEqual({ text: { body: '*Planos*\n\nQual plano?\n\n1. Mensal (Sem fidelidade)\n2. Anual' } });
  });

  it.each([
    ['data.id', false],
    ['id', false],
    ['data.message_id', false],
    ['messages[0].id', false],
    ['none', true],
  ] as const)('extracts the message id from shape %s', async (shape, synthetic) => {
    fake.idShape = shape;
    const res = await client.send(channel, ANA, { type: 'text', text: 'x' }, { idempotencyKey: 'k-9' });
    expect(res.providerMessageId).toBe(synthetic ? 'lp:k-9' : fake.sent[0]!.providerMessageId);
  });

  it('canSendFreeMessage', async () => {
    await expect(client.canSendFreeMessage(channel, ANA)).resolves.toBe(true);
    await expect(client.canSendFreeMessage(channel, BRUNO)).resolves.toBe(false);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: `${contact()}/can-send-free-message` });
  });

  it('errors: 401 → auth, unknown workspace → permanent, 422 → permanent with message, 503 → retryable, timeout → retryable', async () => {
    let err = await providerError(client.send({ ...channel, credentials: { accessToken: 'x' } }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('Unauthenticated.');
    err = await providerError(client.send({ ...channel, externalId: 'ws-0' }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.details.status).toBe(404);
    err = await providerError(client.send(channel, ANA, { type: 'text', text: '' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('The text.body field is required.');
    fake.failNext(1, { status: 503, body: { message: 'Service Unavailable' } });
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    const quick = createLancePilotClient({ timeoutMs: 100 });
    fake.failNext(1, { status: 201, body: {}, delayMs: 400 });
    err = await providerError(quick.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('timeout');
  });

  it('presence is a no-op; connectionState lists workspaces', async () => {
    await client.presence(channel, ANA, 'composing', 500);
    expect(fake.requests).toHaveLength(0);
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'open' });
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/api/v3/workspaces', query: { per_page: '1' } });
    const err = await providerError(client.connectionState({ ...channel, credentials: { accessToken: 'x' } }));
    expect(err.kind).toBe('auth');
  });
});

// ---------------------------------------------------------------------------------------
describe('Uazapi client', () => {
  let fake: UazapiFake;
  let channel: ChannelTarget;
  const client = createUazapiClient({ timeoutMs: 2000 });

  beforeEach(async () => {
    fake = await startUazapiFake({ instances: [{ name: 'loja-centro', token: 'uaz-token-1' }], notOnWhatsApp: ['5511999990009'] });
    channel = { id: 'ch-uaz', provider: 'uazapi', externalId: 'loja-centro', baseUrl: fake.url, credentials: { apiKey: 'uaz-token-1' } };
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });

  it('sends text: /send/text, token header, exact body with our key as track_id, messageid and recipient', async () => {
    const res = await client.send(channel, ANA, { type: 'text', text: 'Olá Ana!' }, KEY);
    expect(res.providerMessageId).toMatch(/^3EB0[0-9A-F]{18}$/);
    expect(res.recipient).toBe(ANA);
    const req = fake.requests[0]!;
    expect(req).toMatchObject({ method: 'POST', path: '/send/text' });
    expect(req.headers.token).toBe('uaz-token-1');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toEqual({ number: ANA, text: 'Olá Ana!', linkPreview: false, track_source: 'zapflow', track_id: 'idem-1' });
    expect(fake.sent).toEqual([expect.objectContaining({ instance: 'loja-centro', number: ANA, kind: 'text', providerMessageId: res.providerMessageId, trackId: 'idem-1' })]);
  });

  it('keeps a literal {{…}} from being taken as a Uazapi placeholder', async () => {
    await client.send(channel, ANA, { type: 'text', text: 'Use o cupom {{name}}' }, KEY);
    const text = (fake.requests[0]!.body as { text: string }).text;
    expect(text).not.toContain('{{');
    expect(text.replace(/\u200b/g, '')).toBe('Use o cupom {{name}}');
  });

  it('sends to a LID as <digits>@lid', async () => {
    await client.send(channel, 'lid:204981736452901', { type: 'text', text: 'hi' }, KEY);
    expect(fake.requests[0]!.body).toMatchObject({ number: '204981736452901@lid' });
  });

  it('sends media (caption as text, docName for documents)', async () => {
    await client.send(
      channel,
      ANA,
      { type: 'media', mediaType: 'document', url: 'https://cdn.example/c.pdf', caption: 'Catálogo', fileName: 'catalogo.pdf', mimeType: 'application/pdf' },
      KEY,
    );
    expect(fake.requests[0]!.path).toBe('/send/media');
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      type: 'document',
      file: 'https://cdn.example/c.pdf',
      text: 'Catálogo',
      docName: 'catalogo.pdf',
      track_source: 'zapflow',
      track_id: 'idem-1',
    });
    await client.send(channel, ANA, { type: 'media', mediaType: 'image', url: 'https://cdn.example/a.jpg' }, KEY);
    expect(fake.requests[1]!.body).toEqual({ number: ANA, type: 'image', file: 'https://cdn.example/a.jpg', track_source: 'zapflow', track_id: 'idem-1' });
  });

  it('sends buttons through /send/menu as "Label|id" choices, the title in bold over the text', async () => {
    const buttons: OutboundMessage = {
      type: 'buttons',
      title: 'Ligação',
      text: 'Podemos te ligar agora?',
      footer: 'Loja Centro',
      buttons: [
        { id: 'ligar_sim', title: 'Pode ligar' },
        { id: 'ligar_depois', title: 'Mais | tarde' },
      ],
    };
    await client.send(channel, ANA, buttons, KEY);
    expect(fake.requests[0]!.path).toBe('/send/menu');
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      type: 'button',
      text: '*Ligação*\n\nPodemos te ligar agora?',
      choices: ['Pode ligar|ligar_sim', 'Mais tarde|ligar_depois'],
      footerText: 'Loja Centro',
      track_source: 'zapflow',
      track_id: 'idem-1',
    });
  });

  it('refuses a button id with "|" (the reply could not match) without calling the server', async () => {
    const err = await providerError(client.send(channel, ANA, { type: 'buttons', text: 'x', buttons: [{ id: 'a|b', title: 'A' }] }, KEY));
    expect(err.kind).toBe('permanent');
    expect(fake.requests).toHaveLength(0);
  });

  it('sends a list as "[Section]" then "Title|id|description" choices', async () => {
    await client.send(
      channel,
      ANA,
      {
        type: 'list',
        text: 'Catálogo de Produtos',
        footer: 'Preços sujeitos a alteração',
        buttonText: 'Ver Catálogo',
        sections: [
          { title: 'Eletrônicos', rows: [{ id: 'phones', title: 'Smartphones', description: 'Últimos lançamentos' }, { id: 'notes', title: 'Notebooks' }] },
          { title: 'Acessórios', rows: [{ id: 'fones', title: 'Fones', description: 'Bluetooth e com fio' }] },
        ],
      },
      KEY,
    );
    expect(fake.requests[0]!.body).toEqual({
      number: ANA,
      type: 'list',
      text: 'Catálogo de Produtos',
      choices: ['[Eletrônicos]', 'Smartphones|phones|Últimos lançamentos', 'Notebooks|notes', '[Acessórios]', 'Fones|fones|Bluetooth e com fio'],
      listButton: 'Ver Catálogo',
      footerText: 'Preços sujeitos a alteração',
      track_source: 'zapflow',
      track_id: 'idem-1',
    });
  });

  it('refuses templates without calling the server', async () => {
    const err = await providerError(client.send(channel, ANA, { type: 'template', name: 'retomada', language: 'pt_BR' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/template/);
    expect(fake.requests).toHaveLength(0);
  });

  it('requires a baseUrl and an instance token', async () => {
    let err = await providerError(client.send({ ...channel, baseUrl: null }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/baseUrl/);
    err = await providerError(client.send({ ...channel, credentials: {} }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('auth');
    expect(fake.requests).toHaveLength(0);
  });

  it('number not on WhatsApp → invalid_recipient, not retryable', async () => {
    const err = await providerError(client.send(channel, '5511999990009', { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('invalid_recipient');
    expect(err.retryable).toBe(false);
    expect(err.details.status).toBe(400);
    expect(fake.sent).toHaveLength(0);
  });

  it('wrong token → auth with Uazapi\'s message', async () => {
    const err = await providerError(client.send({ ...channel, credentials: { apiKey: 'nope' } }, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('auth');
    expect(err.details.status).toBe(401);
    expect(err.message).toContain('Invalid token');
    expect(err.retryable).toBe(false);
  });

  it('other 400s → permanent with the text; a disconnected instance flagged', async () => {
    let err = await providerError(client.send(channel, ANA, { type: 'text', text: '   ' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('Missing number or text');
    fake.setStatus('loja-centro', 'disconnected');
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.details.code).toBe('connection_closed');
  });

  it('500 → retryable with the message; 429 → rate_limited with Retry-After (default 1 s)', async () => {
    fake.failNext(1, { status: 500, body: { error: 'Failed to send message' } });
    let err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('Failed to send message');
    fake.failNext(1, { status: 429, body: { error: 'Rate limit exceeded' }, headers: { 'retry-after': '7' } });
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('rate_limited');
    expect(err.details.retryAfterMs).toBe(7000);
    fake.failNext(1, { status: 429, body: { error: 'Rate limit exceeded' } });
    err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.details.retryAfterMs).toBe(1000);
  });

  it('2xx without messageid → permanent (it may have gone out: no blind retry)', async () => {
    fake.failNext(1, { status: 200, body: { response: { status: 'success' } } });
    const err = await providerError(client.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/messageid/);
  });

  it('timeout → retryable, message says timeout', async () => {
    const quick = createUazapiClient({ timeoutMs: 100 });
    fake.failNext(1, { status: 200, body: { messageid: 'late' }, delayMs: 400 });
    const err = await providerError(quick.send(channel, ANA, { type: 'text', text: 'x' }, KEY));
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/uazapi POST 127\.0\.0\.1:\d+: timeout after 100 ms/);
  });

  it('presence posts {number, presence, delay} to /message/presence (delay capped at 5 minutes)', async () => {
    await client.presence(channel, ANA, 'composing', 1200);
    expect(fake.requests[0]).toMatchObject({ path: '/message/presence', body: { number: ANA, presence: 'composing', delay: 1200 } });
    await client.presence(channel, ANA, 'recording', 900_000);
    expect(fake.requests[1]!.body).toEqual({ number: ANA, presence: 'recording', delay: 300_000 });
    expect(fake.presences.map((p) => p.presence)).toEqual(['composing', 'recording']);
  });

  it('connectionState reads /instance/status', async () => {
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'connected' });
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/instance/status' });
    fake.setStatus('loja-centro', 'disconnected');
    await expect(client.connectionState(channel)).resolves.toEqual({ state: 'disconnected' });
    const err = await providerError(client.connectionState({ ...channel, credentials: { apiKey: 'bad' } }));
    expect(err.kind).toBe('auth');
  });

  it('connect: a QR as a data URL; with a number a pairing code; nothing to scan when connected', async () => {
    await expect(client.connect(channel)).resolves.toEqual({ state: 'connected' });
    fake.setStatus('loja-centro', 'disconnected');
    const qr = await client.connect(channel);
    expect(fake.requests[1]).toMatchObject({ method: 'POST', path: '/instance/connect', body: {} });
    expect(qr.state).toBe('connecting');
    expect(qr.qr?.base64).toMatch(/^data:image\/png;base64,/);
    expect(qr.qr?.pairingCode).toBeNull();
    const paired = await client.connect(channel, { number: '5511999990000' });
    expect(fake.requests[2]!.body).toEqual({ phone: '5511999990000' });
    expect(paired.qr?.pairingCode).toMatch(/^\d{4}-\d{4}$/);
  });

  it('downloads inbound media through /message/download (WhatsApp\'s URL is encrypted), with the token', async () => {
    fake.media.set('3EB0MEDIA1', { mimetype: 'audio/ogg; codecs=opus', data: Buffer.from('OggS-voice') });
    const got = await downloadInboundMedia(channel, {
      providerMessageId: '3EB0MEDIA1',
      media: { kind: 'audio', url: 'https://mmg.whatsapp.net/v/t62.7117-24/x.enc?mms3=true', mimeType: 'audio/ogg; codecs=opus' },
      timeoutMs: 2000,
      maxBytes: 1024 * 1024,
    });
    expect(got).toEqual({ data: Buffer.from('OggS-voice'), mimeType: 'audio/ogg; codecs=opus' });
    expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/message/download', body: { id: '3EB0MEDIA1', return_base64: true, return_link: false } });
    expect(fake.requests[0]!.headers.token).toBe('uaz-token-1');
  });

  it('logout posts /instance/disconnect', async () => {
    await client.logout(channel);
    expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/instance/disconnect' });
    expect(fake.instance('loja-centro').status).toBe('disconnected');
  });
});

describe('createProviderClients', () => {
  it('builds the four HTTP clients', () => {
    const clients = createProviderClients({ timeoutMs: 500 });
    expect(Object.keys(clients).sort()).toEqual(['evolution', 'lancepilot', 'meta', 'uazapi']);
    for (const c of Object.values(clients)) expect(typeof c.send).toBe('function');
  });
});
