/**
 * AI replies on real parts: Temporal dev server, PostgreSQL (or PGlite), the Evolution API
 * and OpenAI faked on loopback. Debounce, funnels first, retries and give-up, media to text,
 * knowledge, analysis, handover and a person typing on the phone.
 */
import { and, eq } from 'drizzle-orm';
import { aiInteractions, contacts, messages } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { startOpenAiFake, chatText, type OpenAiFake } from '../fakes/openaiFake';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';
import { recordAndReplay } from './histories';

describe('AI replies', () => {
  let openai: OpenAiFake;
  let f: FunnelStack;
  let seq = 0;
  const nextPhone = () => `55119777${String(++seq).padStart(5, '0')}`;
  const webhook = (body: unknown) => postJson(`${f.stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 's' });
  const replyChats = () => openai.chats.filter((c) => !c.response_format);
  /** A reply request (not the analysis one) for a turn containing `text`. */
  const isReplyTo = (r: { path: string; body: unknown }, text: string) =>
    r.path.endsWith('/chat/completions') && !(r.body as { response_format?: unknown }).response_format && JSON.stringify(r.body).includes(text);
  const interactions = (phone: string) => f.stack.db.db.select().from(aiInteractions).where(eq(aiInteractions.contactKey, phone));

  beforeAll(async () => {
    openai = await startOpenAiFake();
    f = await startFunnelStack({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseUrl,
      AI_REPLY_DEBOUNCE: '5s', // the tenant's own setting (below) wins
      AI_MAX_ATTEMPTS: '3',
      AI_RETRY_INITIAL: '100ms',
      AI_RETRY_MAX: '200ms',
      AI_TYPING_PER_CHAR: '1ms',
      AI_TYPING_MAX: '30ms',
      AI_SPLIT_CHARS: '80',
      HUMAN_TAKEOVER_PAUSE: '1h',
    });
    const res = await f.api('PUT', '/api/conversations/settings', {
      ai: { replies: true, debounce: '700ms', persona: 'Você é a Bia, da Loja Centro.', transcribeAudio: true, analysis: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.ai).toMatchObject({ replies: true, debounce: 700 });
  });
  afterAll(async () => {
    await f?.close();
    await openai?.close();
  });
  beforeEach(() => {
    openai.respond = (req) =>
      req.response_format
        ? JSON.stringify({ results: [] })
        : 'Oi! O plano anual custa R$ 1.200,00 e pode ser parcelado. Quer que eu envie o link de pagamento? Ele vale por 24 horas.';
  });
  afterEach(() => expect(openai.unexpected).toEqual([]));

  it('merges three quick messages into one prompt and answers in parts after "typing…"', async () => {
    const phone = nextPhone();
    const before = replyChats().length;
    await f.say(phone, 'oi');
    await f.say(phone, 'quanto custa');
    await f.say(phone, 'o plano anual?');
    await eventually(async () => f.sentTo(phone).length >= 2, 15_000, 'answer parts');
    await new Promise((r) => setTimeout(r, 1200));
    const chats = replyChats().slice(before);
    expect(chats).toHaveLength(1);
    const last = chats[0]!.messages[chats[0]!.messages.length - 1]!;
    expect(last).toEqual({ role: 'user', content: 'oi\nquanto custa\no plano anual?' });
    expect(String(chats[0]!.messages[0]!.content)).toContain('Você é a Bia, da Loja Centro.');
    const sent = f.sentTo(phone).map((s) => String(s.body.text));
    expect(sent.join(' ')).toBe('Oi! O plano anual custa R$ 1.200,00 e pode ser parcelado. Quer que eu envie o link de pagamento? Ele vale por 24 horas.');
    for (const part of sent) expect(part.length).toBeLessThanOrEqual(80);
    expect(f.evolution.presences.filter((p) => p.number === phone && p.presence === 'composing').length).toBe(sent.length);
    const [row] = await interactions(phone);
    expect(row).toMatchObject({ kind: 'reply', status: 'ok', attempts: 1 });
    expect(row!.promptTokens).toBeGreaterThan(0);
    expect((row!.output as { parts: string[] }).parts).toEqual(sent);
    // The answer is part of the history of the next turn.
    await f.say(phone, 'sim, manda');
    await eventually(async () => replyChats().length > before + 1, 10_000, 'second turn');
    const second = replyChats()[before + 1]!;
    expect(second.messages.map((m) => m.role)).toEqual(['system', 'user', 'user', 'user', 'assistant', 'assistant', 'user']);
    expect(chatText(second)).toContain('Quer que eu envie o link');
    await recordAndReplay('contact-ai-turns', contactWorkflowId(f.tenant.tenant.id, phone), 'contactWorkflow');
  }, 240_000); // replays through the CLI, which bundles the workflow code

  it('gives a reply to the funnel waiting for it, not to the AI', async () => {
    await f.api('POST', '/api/funnels', funnelDef({
      name: 'Quiz',
      trigger: { type: 'keyword', phrase: 'quiz' },
      steps: [
        { id: 'ask', type: 'send', message: { type: 'text', text: 'Qual seu orçamento?' } },
        { id: 'reply', type: 'waitForReply', timeout: '20s', saveAs: 'orcamento', branches: [] },
        { id: 'thanks', type: 'send', message: { type: 'text', text: 'Anotado: {{orcamento}}' } },
      ],
    }));
    const phone = nextPhone();
    const before = openai.chats.length;
    await f.say(phone, 'quiz');
    await eventually(async () => f.sentTo(phone).length === 1, 10_000, 'question');
    const handle = f.stack.client.workflow.getHandle(contactWorkflowId(f.tenant.tenant.id, phone));
    await eventually(async () => (await handle.query<{ activeRuns: unknown[] }>('state')).activeRuns.length === 1, 10_000, 'run waiting');
    await f.say(phone, 'uns 500 reais');
    await eventually(async () => f.sentTo(phone).length === 2, 10_000, 'funnel answer');
    await new Promise((r) => setTimeout(r, 1500));
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Qual seu orçamento?', 'Anotado: uns 500 reais']);
    expect(openai.chats.slice(before).filter((c) => !c.response_format)).toHaveLength(0);
    const list = await f.api('GET', '/api/funnels');
    for (const funnel of list.body.funnels) await f.api('POST', `/api/funnels/${funnel.id}/deactivate`);
  });

  it('retries OpenAI 429 and 500, then gives up cleanly: nothing sent, the failure recorded', async () => {
    const phone = nextPhone();
    openai.failNext(2, 429, { retryAfterMs: 50, matcher: (r) => isReplyTo(r, 'tem desconto') });
    await f.say(phone, 'tem desconto?');
    await eventually(async () => f.sentTo(phone).length >= 1, 15_000, 'answer after two 429s');
    const [ok] = await interactions(phone);
    expect(ok).toMatchObject({ status: 'ok', attempts: 3 });

    const failing = nextPhone();
    const remove = openai.failNext(100, 500, { matcher: (r) => isReplyTo(r, 'nunca responde') });
    try {
      await f.say(failing, 'nunca responde?');
      const [failed] = await eventually(async () => {
        const rows = await interactions(failing);
        return rows[0]?.status === 'failed' ? rows : undefined;
      }, 20_000, 'failure recorded');
      expect(failed!.attempts).toBe(3);
      expect(failed!.error).toMatchObject({ kind: 'retryable', status: 500, final: true });
      await new Promise((r) => setTimeout(r, 800));
      expect(f.sentTo(failing)).toHaveLength(0);
      // The contact workflow carries on: it is still running and answers the next turn.
      remove();
      await f.say(failing, 'e agora?');
      await eventually(async () => f.sentTo(failing).length >= 1, 15_000, 'next turn answered');
    } finally {
      remove();
    }
  });

  it('transcribes a voice note (Whisper) and answers it as text', async () => {
    const phone = nextPhone();
    const id = uniqueId();
    f.evolution.media.set(id, { mediaType: 'audioMessage', mimetype: 'audio/ogg; codecs=opus', data: Buffer.from('OggS fake opus bytes') });
    const body = evolutionText({ instance: 'loja-centro', phone, text: '', id });
    body.data.message = { audioMessage: { url: 'https://mmg.whatsapp.net/v/t62.7117-24/x.enc', mimetype: 'audio/ogg; codecs=opus', seconds: 4, ptt: true } } as never;
    body.data.messageType = 'audioMessage';
    openai.transcript = 'Queria saber se vocês entregam em Curitiba';
    const before = openai.transcriptions.length;
    await webhook(body);
    await eventually(async () => f.sentTo(phone).length >= 1, 15_000, 'answer to the voice note');
    expect(openai.transcriptions.length).toBe(before + 1);
    expect(openai.transcriptions[before]!.rawBody).toContain('whisper-1');
    expect(openai.transcriptions[before]!.rawBody).toContain('OggS fake opus bytes'); // the bytes Evolution served
    expect(openai.chatsMentioning('[áudio] Queria saber se vocês entregam em Curitiba')).toHaveLength(1);
    const [row] = await f.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, body.data.key.id));
    expect(row!.aiText).toBe('Queria saber se vocês entregam em Curitiba');
  });

  it('puts the most relevant knowledge snippets in the prompt', async () => {
    const up = await f.api('POST', '/api/knowledge', {
      snippets: [
        { title: 'Entregas', content: 'Entregamos em Curitiba, São Paulo e Porto Alegre em até 3 dias úteis.' },
        { title: 'Pagamento', content: 'Aceitamos Pix, boleto e cartão em até 12x.' },
        { title: 'Garantia', content: 'Todos os produtos têm garantia de 1 ano.' },
      ],
    });
    expect(up.status).toBe(201);
    const search = await f.api('GET', '/api/knowledge/search?q=' + encodeURIComponent('vocês entregam em curitiba?'));
    expect(search.body.snippets[0].title).toBe('Entregas');
    const phone = nextPhone();
    await f.say(phone, 'Qual o prazo de entrega pra Curitiba?');
    const chat = await eventually(async () => openai.chatsMentioning('prazo de entrega pra Curitiba').find((c) => !c.response_format), 15_000, 'prompt');
    const system = String(chat.messages[0]!.content);
    expect(system).toContain('Entregas: Entregamos em Curitiba');
    expect(system).not.toContain('Garantia');
  });

  it('validates settings and knowledge input, naming the field', async () => {
    const bad = await f.api('PUT', '/api/conversations/settings', { followUp: { quietPeriod: 'soon' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/followUp.quietPeriod/);
    expect((await f.api('PUT', '/api/conversations/settings', { followUp: { windows: '9h-18h' } })).status).toBe(400);
    expect((await f.api('POST', '/api/knowledge', { content: '' })).status).toBe(400);
    expect((await f.api('DELETE', '/api/knowledge/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const got = await f.api('GET', '/api/conversations/settings');
    expect(got.body).toMatchObject({ ai: { replies: true }, followUp: { enabled: false }, aiAvailable: { enabled: true } });
    expect((await f.api('GET', '/api/conversations/ai-calls?limit=5')).body.calls).toEqual(expect.any(Array));
  });

  it('scores inbound texts asynchronously onto their rows', async () => {
    openai.respond = (req) => {
      if (!req.response_format) return 'Que pena! Vou chamar alguém para ajudar.';
      const items = JSON.parse(String(req.messages[1]!.content)) as Array<{ id: string }>;
      return JSON.stringify({ results: items.map((i) => ({ id: i.id, sentiment: -0.8, emotion: 'Anger', satisfaction: 12 })) });
    };
    const phone = nextPhone();
    const id = uniqueId();
    await f.say(phone, 'Estou muito insatisfeito, o pedido atrasou de novo', id);
    const [row] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
      return rows[0]?.analysedAt ? rows : undefined;
    }, 15_000, 'analysis written');
    expect(row).toMatchObject({ sentiment: expect.closeTo(-0.8, 5), emotion: 'anger', satisfaction: 12 });
  });

  it('stops on handover (API) and on a person typing on the phone; resumes on DELETE', async () => {
    const phone = nextPhone();
    await f.say(phone, 'oi');
    await eventually(async () => f.sentTo(phone).length >= 2, 15_000, 'first answer (two parts)');
    const n = f.sentTo(phone).length;

    const paused = await f.api('POST', `/api/contacts/${phone}/handover`, { reason: 'vendedor assumiu' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ contact: phone, pausedUntil: '9999-12-31T00:00:00.000Z', reason: 'handover: vendedor assumiu' });
    await f.say(phone, 'alguém aí?');
    await new Promise((r) => setTimeout(r, 1500));
    expect(f.sentTo(phone)).toHaveLength(n);
    const status = await f.api('GET', `/api/contacts/${phone}/conversation`);
    expect(status.body).toMatchObject({ pauseReason: 'handover: vendedor assumiu', optedOut: false });

    expect((await f.api('DELETE', `/api/contacts/${phone}/handover`)).status).toBe(200);
    await f.say(phone, 'e agora?');
    await eventually(async () => f.sentTo(phone).length >= n + 2, 15_000, 'answers again');
    const m = f.sentTo(phone).length;

    // A person answers from the business phone (fromMe, not sent by zapflow): automation pauses.
    await webhook(evolutionText({ instance: 'loja-centro', phone, text: 'Oi, aqui é o Carlos, vou te ajudar', fromMe: true }));
    await eventually(async () => {
      const [c] = await f.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, f.tenant.tenant.id), eq(contacts.phone, phone)));
      return c?.pauseReason === 'a person replied from the business phone';
    }, 10_000, 'paused by a person');
    await f.say(phone, 'obrigado Carlos');
    await new Promise((r) => setTimeout(r, 1500));
    expect(f.sentTo(phone)).toHaveLength(m);
    expect((await f.api('POST', '/api/contacts/5511000000000/handover')).status).toBe(404);
    expect((await f.api('POST', `/api/contacts/${phone}/handover`, { until: 'yesterday' })).status).toBe(400);
  });
});
