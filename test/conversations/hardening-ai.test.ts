/**
 * Issue 20, settings bloat and AI spend, on real parts (Temporal dev server, PostgreSQL, the
 * Evolution API and OpenAI faked on loopback).
 * - PUT /api/conversations/settings is strict: an unknown key is a 400 naming it, only the
 *   schema's fields are stored (durations as written), the stored size is capped.
 * - `ai.model` must be allowed (OPENAI_MODEL, AI_MODELS): refused at save time; a model stored
 *   before is replaced by OPENAI_MODEL at call time.
 * - A tenant's daily token budget (AI_TENANT_DAILY_TOKENS, its own timezone's day): when it is
 *   spent no OpenAI call is made, the refusal is recorded, and the turn or follow-up goes on
 *   as without AI.
 */
import { and, eq } from 'drizzle-orm';
import { createConversationActivities } from '../../src/activities/conversation';
import { aiInteractions, messages, tenants } from '../../src/db/schema';
import { startOfDay } from '../../src/domain/aiBudget';
import { mergeConversationSettings, MAX_CONVERSATION_SETTINGS_BYTES } from '../../src/services/conversationSettings';
import { modelFor } from '../../src/services/ai';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { startFunnelStack, type FunnelStack } from '../support/funnels';
import { testLog, testProviders } from '../support/harness';
import { uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';

const BUDGET = 1_000_000;
const REPLY = 'Claro! O plano anual sai por R$ 1.200,00.';

describe('conversation settings: strict, stored as parsed, bounded', () => {
  it('names an unknown key at any level, with its path', () => {
    const issue = (body: unknown) => {
      try {
        mergeConversationSettings({}, body, { allowedModels: ['gpt-4o-mini'] });
      } catch (err) {
        return (err as { issues: Array<{ path: PropertyKey[]; message: string }> }).issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      }
      return [];
    };
    expect(issue({ ai: { replies: true, foo: 1 } })).toEqual(['ai.foo: unknown setting "foo"']);
    expect(issue({ followUp: { windows: [{ start: '09:00', end: '12:00', junk: 'x' }] } })).toEqual(['followUp.windows.0.junk: unknown setting "junk"']);
    expect(issue({ evil: 'x'.repeat(10) })).toEqual(['evil: unknown setting "evil"']);
    expect(issue({ ai: { model: 'o1-pro' } })).toEqual(['ai.model: model "o1-pro" is not allowed here (allowed: gpt-4o-mini)']);
    expect(issue({ ai: { model: 'gpt-4o-mini' }, aiAvailable: { enabled: true } })).toEqual([]);
  });

  it('stores only known fields, durations and windows as written, and drops keys stored before', () => {
    const before = { optOutKeywords: ['PARE'], ai: { replies: true, junk: 'x'.repeat(1_000) } } as Record<string, unknown>;
    const next = mergeConversationSettings(before, { ai: { debounce: '700ms', persona: 'Bia' }, followUp: { quietPeriod: '4h', windows: '09:00-12:00' } }, { allowedModels: ['gpt-4o-mini'] });
    expect(next).toEqual({
      optOutKeywords: ['PARE'],
      ai: { replies: true, debounce: '700ms', persona: 'Bia' },
      followUp: { quietPeriod: '4h', windows: '09:00-12:00' },
    });
  });

  it('refuses settings that would be larger than 16 KB', () => {
    const wide = '€'.repeat(4_000); // 12,000 bytes each in UTF-8
    expect(() => mergeConversationSettings({}, { ai: { persona: wide, instructions: wide } }, { allowedModels: ['gpt-4o-mini'] })).toThrow(
      new RegExp(`above the ${MAX_CONVERSATION_SETTINGS_BYTES} limit`),
    );
    expect(() => mergeConversationSettings({}, { ai: { persona: wide } }, { allowedModels: ['gpt-4o-mini'] })).not.toThrow();
  });

  it('picks the model at call time: allowed, or OPENAI_MODEL with a reason', () => {
    const config = { OPENAI_MODEL: 'gpt-4o-mini', AI_MODELS: ['gpt-4o'] };
    expect(modelFor(config, undefined)).toEqual({ model: 'gpt-4o-mini' });
    expect(modelFor(config, 'gpt-4o')).toEqual({ model: 'gpt-4o' });
    expect(modelFor(config, 'o1-pro')).toMatchObject({ model: 'gpt-4o-mini', refused: expect.stringContaining('"o1-pro"') });
  });

  it("counts a tenant's day in its own timezone", () => {
    expect(new Date(startOfDay(Date.parse('2026-12-07T02:22:00Z'), 'America/Sao_Paulo')).toISOString()).toBe('2026-12-06T03:00:00.000Z');
    expect(new Date(startOfDay(Date.parse('2026-12-07T04:00:00Z'), 'America/Sao_Paulo')).toISOString()).toBe('2026-12-07T03:00:00.000Z');
    expect(new Date(startOfDay(Date.parse('2026-03-08T12:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-03-08T05:00:00.000Z');
  });
});

describe('settings and AI spend on real parts', () => {
  let openai: OpenAiFake;
  let f: FunnelStack;
  let seq = 0;
  const nextPhone = () => `55119444${String(++seq).padStart(5, '0')}`;
  const db = () => f.stack.db.db;
  const tenantId = () => f.tenant.tenant.id;
  const replyRows = (phone: string) => db().select().from(aiInteractions).where(and(eq(aiInteractions.contactKey, phone), eq(aiInteractions.kind, 'reply')));
  const storedSettings = async () => (await db().select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId())))[0]!.settings as Record<string, any>;
  const spend = (tokens: number, createdAt = new Date()) =>
    db().insert(aiInteractions).values({ key: `spend:${uniqueId()}`, tenantId: tenantId(), kind: 'reply', status: 'ok', promptTokens: tokens - 1_000, completionTokens: 1_000, createdAt, updatedAt: createdAt });

  beforeAll(async () => {
    openai = await startOpenAiFake();
    f = await startFunnelStack({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseUrl,
      AI_TENANT_DAILY_TOKENS: String(BUDGET),
      AI_MAX_ATTEMPTS: '2',
      AI_RETRY_INITIAL: '100ms',
      AI_RETRY_MAX: '200ms',
      AI_TYPING_PER_CHAR: '1ms',
      AI_TYPING_MAX: '10ms',
    });
    openai.respond = (req) => (req.response_format ? JSON.stringify({ send: true, text: 'Oi! Ainda tem interesse?', reason: 'aberto', results: [] }) : REPLY);
  });
  afterAll(async () => {
    await f?.close();
    await openai?.close();
  });
  afterEach(() => expect(openai.unexpected).toEqual([]));

  it('PUT /api/conversations/settings: 400 naming an unknown key or a model not allowed; stores what it parsed', async () => {
    const unknown = await f.api('PUT', '/api/conversations/settings', { ai: { replies: true, foo: 'x'.repeat(100_000) } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/ai\.foo/);
    const model = await f.api('PUT', '/api/conversations/settings', { ai: { model: 'gpt-4-32k' } });
    expect(model.status).toBe(400);
    expect(model.body.error.message).toMatch(/ai\.model/);
    const big = await f.api('PUT', '/api/conversations/settings', { ai: { persona: '€'.repeat(4_000), instructions: '€'.repeat(4_000) } });
    expect(big.status).toBe(400);
    expect(big.body.error.message).toMatch(/above the 16384 limit/);

    const ok = await f.api('PUT', '/api/conversations/settings', { ai: { replies: true, debounce: '300ms', model: 'gpt-4o-mini' } });
    expect(ok.status).toBe(200);
    expect(ok.body.ai).toMatchObject({ replies: true, debounce: 300, model: 'gpt-4o-mini' });
    expect((await storedSettings()).ai).toEqual({ replies: true, debounce: '300ms', model: 'gpt-4o-mini' });
  });

  it("yesterday's spend does not count: the contact is answered", async () => {
    await spend(5 * BUDGET, new Date(Date.now() - 2 * 24 * 60 * 60 * 1000));
    const phone = nextPhone();
    await f.say(phone, 'quanto custa o plano anual?');
    await eventually(async () => f.sentTo(phone).length >= 1, 20_000, 'the answer');
    expect(openai.chatsMentioning('quanto custa o plano anual?')).toHaveLength(1);
  });

  it('a model stored before the allowlist is replaced by OPENAI_MODEL at call time', async () => {
    const settings = await storedSettings();
    await db().update(tenants).set({ settings: { ...settings, ai: { ...settings.ai, model: 'gpt-4-32k' } } }).where(eq(tenants.id, tenantId()));
    const phone = nextPhone();
    await f.say(phone, 'tem desconto à vista?');
    await eventually(async () => f.sentTo(phone).length >= 1, 20_000, 'the answer');
    const [chat] = openai.chatsMentioning('tem desconto à vista?');
    expect(chat!.model).toBe('gpt-4o-mini');
    const [row] = await replyRows(phone);
    expect(row!.model).toBe('gpt-4o-mini');
  });

  it('budget spent: no OpenAI call, the refusal recorded, nothing sent; follow-ups and analysis refused the same way', async () => {
    await spend(BUDGET + 10_000);
    const phone = nextPhone();
    const chatsBefore = openai.chats.length;
    const id = uniqueId();
    await f.say(phone, 'vocês entregam em Curitiba?', id);
    const [row] = await eventually(async () => {
      const rows = await replyRows(phone);
      return rows[0]?.status === 'skipped' ? rows : undefined;
    }, 20_000, 'the turn recorded');
    expect(row!.output).toEqual({ reason: `daily AI token budget of ${BUDGET} spent` });
    expect(openai.chats.length).toBe(chatsBefore);
    expect(openai.chatsMentioning('Curitiba')).toHaveLength(0);
    expect(f.sentTo(phone)).toHaveLength(0);

    // The same activities, called directly: a follow-up takes the path it takes without AI.
    const activities = createConversationActivities({ db: db(), providers: testProviders(f.stack.db), log: testLog, config: f.stack.config });
    const declined = await activities.followUpCompose({ tenantId: tenantId(), contactKey: phone, key: `budget-1-${phone}`, number: 1, max: 2, quietMs: 60_000 });
    expect(declined).toEqual({ send: false, reason: `daily AI token budget of ${BUDGET} spent` });
    const [followUpRow] = await db().select().from(aiInteractions).where(eq(aiInteractions.key, `followup:budget-1-${phone}`));
    expect(followUpRow).toMatchObject({ kind: 'followup', status: 'declined', output: { send: false, reason: `daily AI token budget of ${BUDGET} spent` } });
    expect((await f.api('PUT', '/api/conversations/settings', { followUp: { fallbackText: 'Oi! Posso ajudar em algo mais?' } })).status).toBe(200);
    const fallback = await activities.followUpCompose({ tenantId: tenantId(), contactKey: phone, key: `budget-2-${phone}`, number: 1, max: 2, quietMs: 60_000 });
    expect(fallback).toEqual({ send: true, text: 'Oi! Posso ajudar em algo mais?', reason: `fallback text (daily AI token budget of ${BUDGET} spent)` });

    const [message] = await db().select({ id: messages.id }).from(messages).where(eq(messages.providerMessageId, id));
    expect(await activities.analyseMessages({ tenantId: tenantId(), messageIds: [message!.id] })).toBe(0);
    const analysis = (await db().select().from(aiInteractions).where(and(eq(aiInteractions.tenantId, tenantId()), eq(aiInteractions.kind, 'analysis'))))[0];
    expect(analysis).toMatchObject({ status: 'skipped', output: { reason: `daily AI token budget of ${BUDGET} spent` } });
    expect(openai.chats.length).toBe(chatsBefore);
  });
});
