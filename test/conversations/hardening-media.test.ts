/**
 * Issue 20, SSRF through media URLs and provider bodies without a cap. Media of inbound
 * messages is fetched only from the channel's own provider origin, WhatsApp's and Meta's
 * media hosts and MEDIA_ALLOWED_ORIGINS; any other host is refused when it resolves to a
 * private, loopback, link-local… address, redirects stay within allowed origins, and bodies
 * stream with a byte cap. Every provider response body read by the HTTP helper has the same
 * cap. End to end: a refused media URL is recorded (`media refused: …`) where the AI call is,
 * and the turn answers the caption.
 *
 * Loopback fakes play the provider (allowed: it is the channel's origin) and the "internal
 * service" a forged URL points at (another port of 127.0.0.1: refused).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, inArray } from 'drizzle-orm';
import { aiInteractions, messages } from '../../src/db/schema';
import { requestJson } from '../../src/providers/http';
import { blockedAddress, downloadInboundMedia, MediaRefused, MediaUnavailable, type ResolveHost } from '../../src/providers/media';
import type { ChannelTarget } from '../../src/providers/types';
import { FakeServer, startEvolutionFake, type EvolutionFake } from '../fakes';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { startFunnelStack, type FunnelStack } from '../support/funnels';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('zapflow-test-image-bytes')]);

/** What a download throws (or fails the test if it succeeds). */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the download to fail');
}

/** A raw server (no content-length): `handler` writes what it likes. */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes 64 KB chunks until the client goes away. */
const endless: http.RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const write = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', write);
  };
  res.write('{"a":"');
  write();
};

describe('media downloads: who may be fetched', () => {
  let evolution: EvolutionFake;
  let internal: FakeServer;
  let channel: ChannelTarget;
  const download = (url: string, extra: { allowedOrigins?: string[]; maxBytes?: number; resolve?: ResolveHost; timeoutMs?: number } = {}) =>
    downloadInboundMedia(channel, {
      providerMessageId: 'MSG1',
      media: { kind: 'image', url, mimeType: 'image/jpeg' },
      timeoutMs: extra.timeoutMs ?? 5_000,
      maxBytes: extra.maxBytes ?? 1024 * 1024,
      allowedOrigins: extra.allowedOrigins,
      resolve: extra.resolve,
    });

  beforeAll(async () => {
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro'] });
    // "S3" on the provider's own origin, and a redirect that stays there.
    evolution.server.route('GET', '/files/photo.jpg', () => ({ status: 200, body: JPEG, headers: { 'content-type': 'image/jpeg' } }));
    evolution.server.route('GET', '/files/moved.jpg', () => ({ status: 302, headers: { location: '/files/photo.jpg' } }));
    internal = new FakeServer({ strict: false });
    internal.route('GET', '/secret', () => ({ status: 200, body: { secret: 'internal metadata' } }));
    await internal.start();
    channel = { id: 'c1', provider: 'evolution', externalId: 'loja-centro', baseUrl: evolution.server.url, credentials: { apiKey: 'evo-key' } } as ChannelTarget;
  });
  afterAll(async () => {
    await evolution?.close();
    await internal?.close();
  });
  beforeEach(() => internal.reset());

  it("fetches from the channel's own provider origin, loopback as it is", async () => {
    const got = await download(`${evolution.server.url}/files/photo.jpg`);
    expect(got.data.equals(JPEG)).toBe(true);
  });

  it('follows a redirect within the same allowed origin', async () => {
    const got = await download(`${evolution.server.url}/files/moved.jpg`);
    expect(got.data.equals(JPEG)).toBe(true);
  });

  it('refuses a media URL at 127.0.0.1 on another port than the provider: nothing is requested there', async () => {
    const err = await failure(download(`${internal.url}/secret`));
    expect(err).toBeInstanceOf(MediaRefused);
    expect(err.message).toMatch(/^media refused: 127\.0\.0\.1:\d+ resolves to 127\.0\.0\.1 \(loopback\)/);
    expect(internal.requests).toHaveLength(0);
  });

  it('refuses a host name that resolves to loopback (localhost) and private, link-local, CGNAT and unique-local addresses', async () => {
    const port = new URL(internal.url).port;
    expect((await failure(download(`http://localhost:${port}/secret`))).message).toMatch(/^media refused: localhost:\d+ resolves to (127\.0\.0\.1|::1) \(loopback\)/);
    for (const [address, what] of [
      ['10.1.2.3', 'private'],
      ['192.168.0.10', 'private'],
      ['172.20.0.5', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.100.1.1', 'CGNAT'],
      ['fd12:3456::1', 'unique-local'],
      ['0.0.0.0', 'unspecified'],
    ] as const) {
      const resolve: ResolveHost = () => Promise.resolve([{ address: '93.184.216.34', family: 4 }, { address, family: address.includes(':') ? 6 : 4 }]);
      const err = await failure(download('http://media.example.com/x.jpg', { resolve }));
      expect(err).toBeInstanceOf(MediaRefused);
      expect(err.message).toBe(`media refused: media.example.com resolves to ${address} (${what}), not an allowed origin`);
    }
    expect(internal.requests).toHaveLength(0);
  });

  it('classifies addresses, IPv4 inside IPv6 included', () => {
    expect(blockedAddress('127.0.0.1')).toBe('loopback');
    expect(blockedAddress('::1')).toBe('loopback');
    expect(blockedAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(blockedAddress('::ffff:a9fe:a9fe')).toBe('link-local');
    expect(blockedAddress('64:ff9b::10.0.0.1')).toBe('private');
    expect(blockedAddress('2002:c0a8:0101::1')).toBe('private');
    expect(blockedAddress('fe80::1')).toBe('link-local');
    expect(blockedAddress('93.184.216.34')).toBeUndefined();
    expect(blockedAddress('2606:2800:220:1:248:1893:25c8:1946')).toBeUndefined();
  });

  it('connects to the address it checked, without a second lookup', async () => {
    let lookups = 0;
    // A name no DNS knows: a second (system) lookup would fail with ENOTFOUND.
    const resolve: ResolveHost = () => {
      lookups++;
      return Promise.resolve([{ address: '192.88.99.1', family: 4 }]);
    };
    const err = await failure(download('http://media.zapflow-rebinding.invalid:9/x.jpg', { resolve, timeoutMs: 1_500 }));
    expect(err).toBeInstanceOf(MediaUnavailable);
    expect(err).not.toBeInstanceOf(MediaRefused);
    expect(err.message).not.toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect(lookups).toBe(1);
  });

  it('refuses a redirect from the allowed provider origin to a loopback address', async () => {
    const remove = evolution.server.respondWith({ method: 'GET', path: '/files/redirect.jpg' }, { status: 302, headers: { location: `${internal.url}/secret` } });
    try {
      const err = await failure(download(`${evolution.server.url}/files/redirect.jpg`));
      expect(err).toBeInstanceOf(MediaRefused);
      expect(err.message).toBe(`media refused: redirect from ${evolution.server.url} to ${internal.url}, not an allowed origin`);
      expect(internal.requests).toHaveLength(0);
    } finally {
      remove();
    }
  });

  it('fetches from MEDIA_ALLOWED_ORIGINS, and follows a redirect into one', async () => {
    internal.route('GET', '/media/ok.jpg', () => ({ status: 200, body: JPEG, headers: { 'content-type': 'image/jpeg' } }));
    expect((await download(`${internal.url}/media/ok.jpg`, { allowedOrigins: [internal.url] })).data.equals(JPEG)).toBe(true);
    const remove = evolution.server.respondWith({ method: 'GET', path: '/files/to-cdn.jpg' }, { status: 307, headers: { location: `${internal.url}/media/ok.jpg` } });
    try {
      expect((await download(`${evolution.server.url}/files/to-cdn.jpg`, { allowedOrigins: [internal.url] })).data.equals(JPEG)).toBe(true);
    } finally {
      remove();
    }
  });

  it('stops after a few redirects', async () => {
    const remove = evolution.server.respondWith({ method: 'GET', path: '/files/loop.jpg' }, { status: 302, headers: { location: '/files/loop.jpg' } });
    try {
      expect((await failure(download(`${evolution.server.url}/files/loop.jpg`))).message).toBe('media refused: more than 3 redirects');
    } finally {
      remove();
    }
  });

  it('refuses a body over the byte cap, declared or streamed', async () => {
    const big = Buffer.alloc(10_000, 1);
    const remove = evolution.server.respondWith({ method: 'GET', path: '/files/big.jpg' }, { status: 200, body: big });
    try {
      const err = await failure(download(`${evolution.server.url}/files/big.jpg`, { maxBytes: 1_000 }));
      expect(err.message).toBe('media refused: media is 10000 bytes, above the 1000-byte limit');
    } finally {
      remove();
    }
    const stream = await rawServer(endless);
    try {
      const err = await failure(download(`${stream.url}/x`, { allowedOrigins: [stream.url], maxBytes: 256 * 1024 }));
      expect(err.message).toBe('media refused: media is over the 262144-byte limit (cut off)');
    } finally {
      await stream.close();
    }
  });

  it('gives up after the timeout', async () => {
    const remove = evolution.server.respondWith({ method: 'GET', path: '/files/slow.jpg' }, { status: 200, body: JPEG, delayMs: 3_000 });
    try {
      const err = await failure(download(`${evolution.server.url}/files/slow.jpg`, { timeoutMs: 300 }));
      expect(err.message).toBe('media download timed out after 300 ms');
    } finally {
      remove();
    }
  });
});

describe('provider responses: every body has a byte cap', () => {
  it('cuts off an endless body and returns the status with `truncated`', async () => {
    const server = await rawServer(endless);
    try {
      const res = await requestJson({ method: 'GET', url: `${server.url}/instance/connectionState/x`, timeoutMs: 20_000, provider: 'evolution', maxBodyBytes: 1024 * 1024 });
      expect(res.status).toBe(200);
      expect(res.truncated).toBe(true);
      expect(typeof res.body).toBe('string');
      expect((res.body as string).length).toBeLessThanOrEqual(1_000);
    } finally {
      await server.close();
    }
  });

  it('cuts off a declared body over the cap without reading it; a body under it reads as before', async () => {
    const fake = new FakeServer();
    fake.route('GET', '/big', () => ({ status: 200, body: { data: 'x'.repeat(50_000) } }));
    fake.route('GET', '/small', () => ({ status: 201, body: { key: { id: 'ABC' } } }));
    await fake.start();
    try {
      const big = await requestJson({ method: 'GET', url: `${fake.url}/big`, timeoutMs: 5_000, maxBodyBytes: 10_000 });
      expect(big).toMatchObject({ status: 200, truncated: true, body: '' });
      const small = await requestJson({ method: 'GET', url: `${fake.url}/small`, timeoutMs: 5_000, maxBodyBytes: 10_000 });
      expect(small.body).toEqual({ key: { id: 'ABC' } });
      expect(small.truncated).toBeUndefined();
    } finally {
      await fake.close();
    }
  });

  it('applies MEDIA_MAX_BYTES (16 MB) by default', async () => {
    const server = await rawServer(endless);
    try {
      const res = await requestJson({ method: 'GET', url: `${server.url}/x`, timeoutMs: 30_000 });
      expect(res.truncated).toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe('a refused media URL on real parts: recorded, and the turn answers the caption', () => {
  let openai: OpenAiFake;
  let f: FunnelStack;
  let internal: FakeServer;

  beforeAll(async () => {
    openai = await startOpenAiFake();
    internal = new FakeServer({ strict: false });
    await internal.start();
    f = await startFunnelStack({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseUrl,
      AI_MAX_ATTEMPTS: '2',
      AI_RETRY_INITIAL: '100ms',
      AI_RETRY_MAX: '200ms',
      AI_TYPING_PER_CHAR: '1ms',
      AI_TYPING_MAX: '10ms',
    });
    const res = await f.api('PUT', '/api/conversations/settings', { ai: { replies: true, debounce: '300ms', describeImages: true } });
    expect(res.status).toBe(200);
    openai.respond = () => 'Temos sim, em azul e preto!';
  });
  afterAll(async () => {
    await f?.close();
    await internal?.close();
    await openai?.close();
  });

  it('an Evolution mediaUrl pointing at 127.0.0.1 (another port): not fetched, `media refused: …`, the caption answered', async () => {
    const phone = '5511955550001';
    const id = uniqueId();
    const body = evolutionText({ instance: 'loja-centro', phone, text: '', id });
    body.data.message = { imageMessage: { url: 'https://mmg.whatsapp.net/o1/v/t62/x.enc', mimetype: 'image/jpeg', caption: 'Tem em azul?' }, mediaUrl: `${internal.url}/latest/meta-data` } as never;
    body.data.messageType = 'imageMessage';
    expect((await postJson(`${f.stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 's' })).status).toBe(200);
    await eventually(async () => f.sentTo(phone).length >= 1, 20_000, 'the answer to the caption');

    expect(internal.requests).toHaveLength(0);
    expect(openai.visions).toHaveLength(0);
    const db = f.stack.db.db;
    const [row] = await db.select({ id: messages.id }).from(messages).where(eq(messages.providerMessageId, id));
    const [interaction] = await db.select().from(aiInteractions).where(inArray(aiInteractions.key, [`description:${row!.id}`]));
    expect(interaction).toMatchObject({ kind: 'description', status: 'skipped' });
    expect((interaction!.error as { message: string }).message).toMatch(/^media refused: 127\.0\.0\.1:\d+ resolves to 127\.0\.0\.1 \(loopback\), not an allowed origin$/);
    const [reply] = openai.chatsMentioning('Tem em azul?');
    expect(reply!.messages[reply!.messages.length - 1]!.content).toBe('Tem em azul?');
  });
});
