/**
 * Loop safety end to end: two zapflow tenants with AI replies on, their WhatsApp numbers
 * wired to each other (what one sends arrives at the other as a contact's message). With
 * the default thresholds both stop within 5 exchanges, pause the contact, say why, and tell
 * their admins. Also: AI off without an API key.
 */
import { and, eq } from 'drizzle-orm';
import { createApp } from '../../src/api/app';
import { contacts, sandboxOutbox, tenants } from '../../src/db/schema';
import { conversationHealthInfo } from '../../src/services/ai';
import { addChannel } from '../../src/services/channels';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { getJson, postJson, serve } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';
import { testLog } from '../support/harness';

const PHONE_A = '5511911110001';
const PHONE_B = '5511922220002';

describe('two zapflow numbers talking to each other', () => {
  let openai: OpenAiFake;
  let evolution: EvolutionFake;
  let stack: Stack;
  let relay: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    openai = await startOpenAiFake();
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-a', 'loja-b'] });
    // Default loop thresholds: only the AI debounce and typing are shortened.
    stack = await startStack({
      env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseUrl, AI_TYPING_PER_CHAR: '1ms', AI_TYPING_MAX: '20ms', CONTACT_IDLE_TIMEOUT: '30s' },
    });
  });
  afterAll(async () => {
    if (relay) clearInterval(relay);
    await stack?.close();
    await evolution?.close();
    await openai?.close();
  });

  it('stops within 5 exchanges: the first side to spot the bot pauses the contact, says why and tells its admin', async () => {
    const a = await seedTenantWithChannel(stack.db, 'Loja A', { provider: 'evolution', externalId: 'loja-a', baseUrl: evolution.server.url, apiKey: 'evo-key', webhookSecret: 's' });
    const b = await seedTenantWithChannel(stack.db, 'Loja B', { provider: 'evolution', externalId: 'loja-b', baseUrl: evolution.server.url, apiKey: 'evo-key', webhookSecret: 's' });
    for (const t of [a, b]) {
      const admin = await addChannel(stack.db.db, { tenantId: t.tenant.id, provider: 'sandbox', externalId: `admin-${uniqueId()}` });
      await stack.db.db
        .update(tenants)
        .set({ settings: { adminContact: { channelId: admin.id, phone: '5511900000009' }, ai: { replies: true, debounce: '300ms' } } })
        .where(eq(tenants.id, t.tenant.id));
    }
    // Every answer differs (no repeated text): the timing rule has to catch them.
    openai.respond = (_req, i) => `Resposta ${i}: temos planos mensais e anuais, com entrega para todo o Brasil. Posso ajudar em algo mais?`;

    // The wire: what loja-a sends to B's number arrives at loja-b from A's number, and back.
    let relayed = 0;
    relay = setInterval(() => {
      for (const sent of evolution.sent.slice(relayed)) {
        relayed++;
        const to = sent.instance === 'loja-a' ? { instance: 'loja-b', from: PHONE_A } : { instance: 'loja-a', from: PHONE_B };
        void postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: to.instance, phone: to.from, text: String(sent.body.text) }), { 'x-zapflow-secret': 's' });
      }
    }, 50);

    // B's number opens the conversation with A.
    await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-a', phone: PHONE_B, text: 'Olá, quero saber dos planos' }), {
      'x-zapflow-secret': 's',
    });
    const pausedContact = (tenantId: string, phone: string) =>
      stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone)));
    // The first side to see more than 3 bot-like answers pauses: the conversation stops.
    const paused = await eventually(async () => {
      const [ca] = await pausedContact(a.tenant.id, PHONE_B);
      const [cb] = await pausedContact(b.tenant.id, PHONE_A);
      return [ca, cb].find((c) => c?.pauseReason?.startsWith('bot suspected'));
    }, 45_000, 'one side paused');
    // Quiet: nothing more goes out.
    let settled = -1;
    await eventually(async () => {
      const n = evolution.sent.length;
      const quiet = n === settled;
      settled = n;
      if (!quiet) await new Promise((r) => setTimeout(r, 2500));
      return quiet;
    }, 30_000, 'no more sends');
    const fromA = evolution.sent.filter((s) => s.instance === 'loja-a').length;
    const fromB = evolution.sent.filter((s) => s.instance === 'loja-b').length;
    expect(fromA).toBeLessThanOrEqual(5);
    expect(fromB).toBeLessThanOrEqual(5);
    expect(paused.pausedUntil!.getTime()).toBeGreaterThan(Date.now() + 5 * 3_600_000); // LOOP_COOLDOWN 6h
    expect(paused.pauseReason).toMatch(/faster than a person types|same text/);
    const notices = await stack.db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.to, '5511900000009'));
    expect(notices.some((n) => JSON.stringify(n.message).includes('robô'))).toBe(true);
    testLog.info({ fromA, fromB }, 'loop stopped');
  });
});

describe('without an OpenAI key', () => {
  let openai: OpenAiFake;
  let evolution: EvolutionFake;
  let stack: Stack;

  beforeAll(async () => {
    openai = await startOpenAiFake();
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-sem-ia'] });
    stack = await startStack({ env: { OPENAI_BASE_URL: openai.baseUrl, FOLLOWUP_FALLBACK_TEXT: 'Oi! Ficou alguma dúvida?', FOLLOWUP_WINDOWS: '' } });
  });
  afterAll(async () => {
    await stack?.close();
    await evolution?.close();
    await openai?.close();
  });

  it('keeps AI off (no call, no answer), says so in /health, and follows up with the fallback text', async () => {
    const t = await seedTenantWithChannel(stack.db, 'Loja sem IA', { provider: 'evolution', externalId: 'loja-sem-ia', baseUrl: evolution.server.url, apiKey: 'evo-key', webhookSecret: 's' });
    await stack.db.db
      .update(tenants)
      .set({ settings: { ai: { replies: true, debounce: '200ms', analysis: true }, followUp: { enabled: true, quietPeriod: '1s', max: 1 } } })
      .where(eq(tenants.id, t.tenant.id));

    const app = createApp({
      config: stack.config,
      db: stack.db.db,
      pingDb: stack.db.ping,
      pingTemporal: async () => {},
      log: testLog,
      healthInfo: conversationHealthInfo(stack.config),
    });
    const server = await serve(app);
    try {
      const health = await getJson(`${server.url}/health`);
      expect(health.body.ai).toEqual({ enabled: false, reason: expect.stringContaining('OPENAI_API_KEY is not set') });
    } finally {
      await server.close(100);
    }

    const phone = '5511933334444';
    // A funnel answers "oi": zapflow's last message, after which the follow-up clock runs.
    const funnel = await getJson(`${stack.url}/api/funnels`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Oi', trigger: { type: 'keyword', phrase: 'oi' }, steps: [{ id: 'hi', type: 'send', message: { type: 'text', text: 'Olá! Em que posso ajudar?' } }] }),
    });
    expect(funnel.status).toBe(201);
    await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-sem-ia', phone, text: 'oi' }), { 'x-zapflow-secret': 's' });
    await eventually(async () => evolution.sent.filter((s) => s.number === phone).length >= 2, 20_000, 'fallback follow-up');
    await new Promise((r) => setTimeout(r, 2500));
    const texts = evolution.sent.filter((s) => s.number === phone).map((s) => s.body.text);
    expect(texts).toEqual(['Olá! Em que posso ajudar?', 'Oi! Ficou alguma dúvida?']);
    expect(openai.server.requests).toEqual([]);
  });
});
