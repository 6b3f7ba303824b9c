/**
 * Voice notes and images as text for AI turns, on real parts: Temporal dev server,
 * PostgreSQL (or PGlite), the webhooks, and Evolution, the Meta Graph API and OpenAI faked
 * on loopback. The bytes each provider fake serves must reach OpenAI (Whisper upload, or a
 * vision data URL), and what OpenAI makes of them must reach the reply prompt.
 */
import { randomBytes } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import { aiInteractions, messages } from '../../src/db/schema';
import { addChannel } from '../../src/services/channels';
import { startMetaFake, type MetaFake } from '../fakes';
import { imageUrls, startOpenAiFake, type ChatRequest, type OpenAiFake } from '../fakes/openaiFake';
import { startFunnelStack, type FunnelStack } from '../support/funnels';
import { postJson } from '../support/http';
import { evolutionText, metaInbound, metaSignature, uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';

const META_NUMBER = '600000000000077';
const META_TOKEN = 'meta-media-token';
const APP_SECRET = 'meta-media-app-secret';
const REPLY = 'Recebi, obrigado! Já vou verificar para você.';
const DESCRIPTION = 'Comprovante de Pix de R$ 150,00 pago à Loja Centro.';

/** Bytes that start like a JPEG; random, so a test can only pass with these very bytes. */
const jpeg = () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(48)]);

describe('voice notes and images as text', () => {
  let openai: OpenAiFake;
  let meta: MetaFake;
  let f: FunnelStack;
  let seq = 0;
  const nextPhone = () => `55119666${String(++seq).padStart(5, '0')}`;
  const settings = (ai: Record<string, unknown>) => f.api('PUT', '/api/conversations/settings', { ai });
  const db = () => f.stack.db.db;
  /** The reply requests (not vision, not analysis) whose text mentions `needle`. */
  const repliesMentioning = (needle: string) => openai.chatsMentioning(needle).filter((c) => !c.response_format);
  const lastUserContent = (c: ChatRequest) => c.messages[c.messages.length - 1]!.content;
  const metaSentTo = (phone: string) => meta.sent.filter((s) => s.waId === phone);
  const interactions = (phone: string) => db().select().from(aiInteractions).where(eq(aiInteractions.contactKey, phone));
  const mediaInteraction = async (providerMessageId: string) => {
    const [row] = await db().select({ id: messages.id, aiText: messages.aiText }).from(messages).where(eq(messages.providerMessageId, providerMessageId));
    if (!row) return undefined;
    // Keyed by what was made of the message (mediaText in src/activities/conversation.ts).
    const [interaction] = await db().select().from(aiInteractions).where(inArray(aiInteractions.key, [`description:${row.id}`, `transcription:${row.id}`]));
    return { message: row, interaction };
  };

  const evolutionWebhook = (body: unknown) => postJson(`${f.stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 's' });
  /** An Evolution imageMessage whose decrypted bytes the fake serves through getBase64FromMediaMessage. */
  function evolutionImage(phone: string, bytes: Buffer, caption?: string) {
    const id = uniqueId();
    f.evolution.media.set(id, { mediaType: 'imageMessage', mimetype: 'image/jpeg', data: bytes, caption });
    const body = evolutionText({ instance: 'loja-centro', phone, text: '', id });
    body.data.message = {
      imageMessage: { url: 'https://mmg.whatsapp.net/o1/v/t62.7118-24/f2/m231/AQexemplo.enc?ccb=9-4', mimetype: 'image/jpeg', ...(caption ? { caption } : {}), width: 900, height: 1600 },
    } as never;
    body.data.messageType = 'imageMessage';
    return { id, body };
  }
  const metaWebhook = async (body: unknown) => {
    const raw = JSON.stringify(body);
    return postJson(`${f.stack.url}/webhooks/meta`, raw, { 'x-hub-signature-256': metaSignature(raw, APP_SECRET) });
  };
  const base64FetchesOf = (id: string) =>
    f.evolution.requests.filter((r) => r.path === '/chat/getBase64FromMediaMessage/loja-centro' && (r.body as { message?: { key?: { id?: string } } })?.message?.key?.id === id);

  beforeAll(async () => {
    openai = await startOpenAiFake();
    meta = await startMetaFake({ accessToken: META_TOKEN, phoneNumberIds: [META_NUMBER] });
    f = await startFunnelStack({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseUrl,
      AI_MAX_ATTEMPTS: '2',
      AI_RETRY_INITIAL: '100ms',
      AI_RETRY_MAX: '200ms',
      AI_TYPING_PER_CHAR: '1ms',
      AI_TYPING_MAX: '10ms',
    });
    await addChannel(db(), { tenantId: f.tenant.tenant.id, provider: 'meta', externalId: META_NUMBER, baseUrl: meta.url, accessToken: META_TOKEN, appSecret: APP_SECRET });
    const res = await settings({ replies: true, debounce: '300ms', transcribeAudio: true, describeImages: true });
    expect(res.status).toBe(200);
    expect(res.body.ai).toMatchObject({ replies: true, transcribeAudio: true, describeImages: true });
  });
  afterAll(async () => {
    await f?.close();
    await meta?.close();
    await openai?.close();
  });
  beforeEach(() => {
    openai.respond = () => REPLY;
    openai.describeImage = () => DESCRIPTION;
  });
  afterEach(() => {
    expect(openai.unexpected).toEqual([]);
    expect(meta.unexpected).toEqual([]);
    expect(f.evolution.unexpected).toEqual([]);
  });

  describe('Evolution images with describeImages on', () => {
    it('describes a captioned image from the bytes Evolution served and answers with description and caption', async () => {
      const phone = nextPhone();
      const bytes = jpeg();
      const { id, body } = evolutionImage(phone, bytes, 'Segue o comprovante');
      const visionsBefore = openai.visions.length;
      expect((await evolutionWebhook(body)).status).toBe(200);
      await eventually(async () => f.sentTo(phone).length >= 1, 15_000, 'the answer');

      // The decrypted bytes were asked of Evolution with the channel's key...
      const fetches = base64FetchesOf(id);
      expect(fetches).toHaveLength(1);
      expect(fetches[0]!.headers.apikey).toBe('evo-key');
      // ...and reached OpenAI, as they were, in a data URL, with the caption as context.
      const visions = openai.visions.slice(visionsBefore);
      expect(visions).toHaveLength(1);
      expect(imageUrls(visions[0]!)).toEqual([`data:image/jpeg;base64,${bytes.toString('base64')}`]);
      expect(JSON.stringify(visions[0]!.messages)).toContain('Legenda do cliente: \\"Segue o comprovante\\"');

      // The description is the turn's text, with the caption after it.
      const replies = repliesMentioning(DESCRIPTION);
      expect(replies).toHaveLength(1);
      expect(lastUserContent(replies[0]!)).toBe(`[imagem] ${DESCRIPTION} Segue o comprovante`);
      expect(f.sentTo(phone).map((s) => s.body.text).join(' ')).toBe(REPLY);

      const media = await mediaInteraction(id);
      expect(media?.message.aiText).toBe(DESCRIPTION);
      expect(media?.interaction).toMatchObject({ kind: 'description', status: 'ok', output: { text: DESCRIPTION } });
    });

    it('describes an image without a caption: the description alone is the turn', async () => {
      const phone = nextPhone();
      const bytes = jpeg();
      openai.describeImage = () => 'Foto de um tênis branco de corrida, tamanho 42 na etiqueta.';
      const { id, body } = evolutionImage(phone, bytes);
      expect((await evolutionWebhook(body)).status).toBe(200);
      await eventually(async () => f.sentTo(phone).length >= 1, 15_000, 'the answer');

      const vision = openai.visions.find((v) => imageUrls(v)[0] === `data:image/jpeg;base64,${bytes.toString('base64')}`);
      expect(vision).toBeDefined();
      expect(JSON.stringify(vision!.messages)).not.toContain('Legenda do cliente');
      const [reply] = repliesMentioning('tênis branco de corrida');
      expect(lastUserContent(reply!)).toBe('[imagem] Foto de um tênis branco de corrida, tamanho 42 na etiqueta.');
      expect(base64FetchesOf(id)).toHaveLength(1);
    });
  });

  describe('Evolution images with describeImages off', () => {
    beforeAll(async () => {
      // Voice notes still transcribed: the contact workflow still queues media turns.
      expect((await settings({ describeImages: false })).status).toBe(200);
    });
    afterAll(async () => {
      expect((await settings({ describeImages: true })).status).toBe(200);
    });

    it('answers the caption only: no media download, no vision call', async () => {
      const phone = nextPhone();
      const visionsBefore = openai.visions.length;
      const { id, body } = evolutionImage(phone, jpeg(), 'Quanto custa este modelo?');
      expect((await evolutionWebhook(body)).status).toBe(200);
      await eventually(async () => f.sentTo(phone).length >= 1, 15_000, 'the answer');
      const [reply] = repliesMentioning('Quanto custa este modelo?');
      expect(lastUserContent(reply!)).toBe('Quanto custa este modelo?');
      expect(openai.visions.length).toBe(visionsBefore);
      expect(base64FetchesOf(id)).toHaveLength(0);
    });

    it('leaves an image without caption unanswered, recorded as nothing to answer', async () => {
      const phone = nextPhone();
      const visionsBefore = openai.visions.length;
      const { id, body } = evolutionImage(phone, jpeg());
      expect((await evolutionWebhook(body)).status).toBe(200);
      const [turn] = await eventually(async () => {
        const rows = (await interactions(phone)).filter((r) => r.kind === 'reply');
        return rows[0]?.status === 'skipped' ? rows : undefined;
      }, 15_000, 'the turn recorded');
      expect(turn!.output).toEqual({ reason: 'nothing to answer (no text)' });
      expect(openai.visions.length).toBe(visionsBefore);
      expect(base64FetchesOf(id)).toHaveLength(0);
      expect(f.sentTo(phone)).toHaveLength(0);
    });
  });

  describe('Meta media by id (Graph API, bearer token)', () => {
    /** The Graph lookup and the download of one media id, in the order they were made. */
    const mediaRequests = (mediaId: string) =>
      meta.requests.filter((r) => r.method === 'GET' && (r.path === `/v21.0/${mediaId}` || (r.path.startsWith('/whatsapp_business/attachments') && r.query.mid === mediaId)));

    it('transcribes a voice note fetched through the Graph API and answers it', async () => {
      const phone = nextPhone();
      const mediaId = String(1_900_000_000_000_000 + Math.floor(Math.random() * 1e9));
      const audio = Buffer.from(`OggS\u0000meta voice note ${randomBytes(8).toString('hex')}`);
      meta.addMedia(mediaId, 'audio/ogg; codecs=opus', audio);
      openai.transcript = 'Vocês entregam em Curitiba?';
      const before = openai.transcriptions.length;
      const body = metaInbound({ phoneNumberId: META_NUMBER, from: phone, message: { type: 'audio', audio: { mime_type: 'audio/ogg; codecs=opus', sha256: 'x', id: mediaId, voice: true } } });
      expect((await metaWebhook(body)).status).toBe(200);
      await eventually(async () => metaSentTo(phone).length >= 1, 15_000, 'the answer on Meta');

      // GET /{version}/{media-id}, then the returned URL, both with the channel's token.
      const requests = mediaRequests(mediaId);
      expect(requests.map((r) => r.path.split('?')[0])).toEqual([`/v21.0/${mediaId}`, '/whatsapp_business/attachments/']);
      for (const r of requests) expect(r.headers.authorization).toBe(`Bearer ${META_TOKEN}`);
      // Whisper got the bytes the Graph fake served.
      const uploads = openai.transcriptions.slice(before);
      expect(uploads).toHaveLength(1);
      expect(uploads[0]!.rawBody).toContain(audio.toString('utf8'));
      expect(uploads[0]!.rawBody).toContain('whisper-1');
      const [reply] = repliesMentioning('Vocês entregam em Curitiba?');
      expect(lastUserContent(reply!)).toBe('[áudio] Vocês entregam em Curitiba?');
      expect(metaSentTo(phone).map((s) => (s.body.text as { body: string }).body).join(' ')).toBe(REPLY);
    });

    it('describes an image fetched through the Graph API, caption included', async () => {
      const phone = nextPhone();
      const mediaId = String(1_400_000_000_000_000 + Math.floor(Math.random() * 1e9));
      const bytes = jpeg();
      meta.addMedia(mediaId, 'image/jpeg', bytes);
      const body = metaInbound({ phoneNumberId: META_NUMBER, from: phone, message: { type: 'image', image: { caption: 'Comprovante do Pix', mime_type: 'image/jpeg', sha256: 'x', id: mediaId } } });
      expect((await metaWebhook(body)).status).toBe(200);
      await eventually(async () => metaSentTo(phone).length >= 1, 15_000, 'the answer on Meta');

      for (const r of mediaRequests(mediaId)) expect(r.headers.authorization).toBe(`Bearer ${META_TOKEN}`);
      expect(mediaRequests(mediaId)).toHaveLength(2);
      const vision = openai.visions.find((v) => imageUrls(v)[0] === `data:image/jpeg;base64,${bytes.toString('base64')}`);
      expect(vision).toBeDefined();
      const [reply] = repliesMentioning(DESCRIPTION).filter((c) => JSON.stringify(c).includes('Comprovante do Pix'));
      expect(lastUserContent(reply!)).toBe(`[imagem] ${DESCRIPTION} Comprovante do Pix`);
    });

    it('downloads a media URL carried in the webhook itself with the token too', async () => {
      // Newer payloads may carry the URL (providers.md §2.4); Meta serves it only with the bearer.
      const phone = nextPhone();
      const mediaId = String(1_700_000_000_000_000 + Math.floor(Math.random() * 1e9));
      const audio = Buffer.from(`OggS\u0000url in webhook ${randomBytes(8).toString('hex')}`);
      meta.addMedia(mediaId, 'audio/ogg; codecs=opus', audio);
      openai.transcript = 'Qual o horário de vocês?';
      const before = openai.transcriptions.length;
      const url = `${meta.url}/whatsapp_business/attachments/?mid=${mediaId}&ext=1773153000&hash=ATtest`;
      const body = metaInbound({ phoneNumberId: META_NUMBER, from: phone, message: { type: 'audio', audio: { mime_type: 'audio/ogg; codecs=opus', url, voice: true } } });
      expect((await metaWebhook(body)).status).toBe(200);
      await eventually(async () => metaSentTo(phone).length >= 1, 15_000, 'the answer on Meta');
      const requests = mediaRequests(mediaId);
      expect(requests.map((r) => r.path)).toEqual(['/whatsapp_business/attachments/']);
      expect(requests[0]!.headers.authorization).toBe(`Bearer ${META_TOKEN}`);
      expect(openai.transcriptions.slice(before).map((t) => t.rawBody.includes(audio.toString('utf8')))).toEqual([true]);
    });

    it('answers the caption when the Graph API answers 404 for the media: recorded, nothing crashes', async () => {
      const phone = nextPhone();
      const mediaId = String(1_500_000_000_000_000 + Math.floor(Math.random() * 1e9));
      meta.addMedia(mediaId, 'image/jpeg', jpeg());
      meta.failNext(1, { status: 404, body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100, error_subcode: 33 } } }, { method: 'GET', path: `/v21.0/${mediaId}` });
      const visionsBefore = openai.visions.length;
      const wamid = `wamid.${uniqueId('HBgN')}=`;
      const body = metaInbound({ phoneNumberId: META_NUMBER, from: phone, id: wamid, message: { type: 'image', image: { caption: 'Esse aqui tem em azul?', mime_type: 'image/jpeg', sha256: 'x', id: mediaId } } });
      expect((await metaWebhook(body)).status).toBe(200);
      await eventually(async () => metaSentTo(phone).length >= 1, 15_000, 'the answer to the caption');

      const [reply] = repliesMentioning('Esse aqui tem em azul?');
      expect(lastUserContent(reply!)).toBe('Esse aqui tem em azul?');
      expect(openai.visions.length).toBe(visionsBefore);
      // Asked once, not downloaded, recorded as unavailable.
      expect(mediaRequests(mediaId).map((r) => r.path)).toEqual([`/v21.0/${mediaId}`]);
      const media = await mediaInteraction(wamid);
      expect(media?.message.aiText).toBeNull();
      expect(media?.interaction).toMatchObject({ kind: 'description', status: 'skipped', error: { message: 'media lookup answered 404' } });
    });

    it('records a voice note whose download answers 404 as unavailable, sends nothing, and keeps answering', async () => {
      const phone = nextPhone();
      const mediaId = String(1_600_000_000_000_000 + Math.floor(Math.random() * 1e9));
      meta.addMedia(mediaId, 'audio/ogg; codecs=opus', Buffer.from('OggS never served'));
      meta.failNext(1, { status: 404, body: 'Not Found' }, (r) => r.path.startsWith('/whatsapp_business/attachments') && r.query.mid === mediaId);
      const transcriptionsBefore = openai.transcriptions.length;
      const wamid = `wamid.${uniqueId('HBgN')}=`;
      const body = metaInbound({ phoneNumberId: META_NUMBER, from: phone, id: wamid, message: { type: 'audio', audio: { mime_type: 'audio/ogg; codecs=opus', sha256: 'x', id: mediaId, voice: true } } });
      expect((await metaWebhook(body)).status).toBe(200);

      const [turn] = await eventually(async () => {
        const rows = (await interactions(phone)).filter((r) => r.kind === 'reply');
        return rows[0]?.status === 'skipped' ? rows : undefined;
      }, 15_000, 'the turn recorded');
      expect(turn!.output).toEqual({ reason: 'nothing to answer (no text)' });
      const media = await mediaInteraction(wamid);
      expect(media?.interaction).toMatchObject({ kind: 'transcription', status: 'skipped', error: { message: 'media download answered 404' } });
      expect(mediaRequests(mediaId)).toHaveLength(2); // looked up, then the download failed
      expect(openai.transcriptions.length).toBe(transcriptionsBefore);
      expect(metaSentTo(phone)).toHaveLength(0);

      // The contact's workflow carries on: the next message is answered.
      expect((await metaWebhook(metaInbound({ phoneNumberId: META_NUMBER, from: phone, message: { type: 'text', text: { body: 'Mandei um áudio, ouviu?' } } }))).status).toBe(200);
      await eventually(async () => metaSentTo(phone).length >= 1, 15_000, 'the next answer');
    });
  });
});
