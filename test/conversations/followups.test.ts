/**
 * Follow-ups on the dev server with short durations (the time-skipping test covers the
 * default 4 hours and allowed hours): sent after the quiet period and capped, reset by an
 * inbound message, suppressed by opt-out and by handover, declined by the AI.
 */
import { eq } from 'drizzle-orm';
import { aiInteractions } from '../../src/db/schema';
import { followUpWorkflowId } from '../../src/domain/workflowIds';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { eventually } from '../support/stack';
import { recordAndReplay } from './histories';

const HELLO = 'Olá! Quer conhecer os planos?';

describe('follow-ups', () => {
  let openai: OpenAiFake;
  let f: FunnelStack;
  let seq = 0;
  const nextPhone = () => `55119888${String(++seq).padStart(5, '0')}`;
  const followUp = (phone: string) => f.stack.client.workflow.getHandle(followUpWorkflowId(f.tenant.tenant.id, phone));
  const finished = async (phone: string) => {
    await eventually(async () => (await followUp(phone).describe()).status.name === 'COMPLETED', 20_000, 'follow-up finished');
    return followUp(phone).result() as Promise<{ sent: number; reason: string; log: Array<{ event: string; detail?: string }> }>;
  };
  const texts = (phone: string) => f.sentTo(phone).map((s) => s.body.text);

  beforeAll(async () => {
    openai = await startOpenAiFake();
    f = await startFunnelStack({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseUrl, AI_RETRY_INITIAL: '100ms', AI_RETRY_MAX: '200ms' });
    const settings = await f.api('PUT', '/api/conversations/settings', { followUp: { enabled: true, quietPeriod: '1500ms', max: 2, windows: [], instructions: 'Ofereça 10% de desconto.' } });
    expect(settings.status).toBe(200);
    const funnel = await f.api('POST', '/api/funnels', funnelDef({ name: 'Oi', trigger: { type: 'keyword', phrase: 'oi' }, steps: [{ id: 'hi', type: 'send', message: { type: 'text', text: HELLO } }] }));
    expect(funnel.status).toBe(201);
  });
  afterAll(async () => {
    await f?.close();
    await openai?.close();
  });
  beforeEach(() => {
    let n = 0;
    openai.respond = () => JSON.stringify({ send: true, text: `Oi! Ainda tem interesse? (${++n})`, reason: 'proposta em aberto' });
  });
  afterEach(() => expect(openai.unexpected).toEqual([]));

  it('follows up after the quiet period, at most N times, with the AI deciding the text', async () => {
    const phone = nextPhone();
    await f.say(phone, 'oi');
    await eventually(async () => f.sentTo(phone).length === 3, 20_000, 'two follow-ups');
    const result = await finished(phone);
    expect(texts(phone)).toEqual([HELLO, 'Oi! Ainda tem interesse? (1)', 'Oi! Ainda tem interesse? (2)']);
    expect(result).toMatchObject({ sent: 2, reason: 'cap reached: 2 follow-up(s) sent' });
    const prompt = openai.chats.find((c) => JSON.stringify(c).includes('Ofereça 10% de desconto'));
    expect(JSON.stringify(prompt)).toContain(HELLO);
    const rows = await f.stack.db.db.select().from(aiInteractions).where(eq(aiInteractions.contactKey, phone));
    expect(rows.filter((r) => r.kind === 'followup' && r.status === 'ok')).toHaveLength(2);
    // Visible in Temporal: search attributes and a summary.
    const described = await followUp(phone).describe();
    expect(described.searchAttributes).toMatchObject({ TenantId: [f.tenant.tenant.id], ContactPhone: [phone] });
    await recordAndReplay('followup-capped', followUpWorkflowId(f.tenant.tenant.id, phone), 'followUpWorkflow');
  }, 240_000); // replays through the CLI, which bundles the workflow code

  it('is reset by an inbound message: the contact spoke last, so nothing goes out', async () => {
    const phone = nextPhone();
    await f.say(phone, 'oi');
    await eventually(async () => f.sentTo(phone).length === 1, 10_000, 'funnel hello');
    await f.say(phone, 'vou ver com minha esposa');
    const result = await finished(phone);
    expect(result.reason).toMatch(/contact spoke last/);
    expect(texts(phone)).toEqual([HELLO]);
  });

  it('sends none to a contact who opted out or was handed over', async () => {
    const optsOut = nextPhone();
    const handedOver = nextPhone();
    await f.say(optsOut, 'oi');
    await f.say(handedOver, 'oi');
    await eventually(async () => f.sentTo(optsOut).length === 1 && f.sentTo(handedOver).length === 1, 10_000, 'hellos');
    await f.say(optsOut, 'PARE');
    expect((await f.api('POST', `/api/contacts/${handedOver}/handover`, { until: '2h' })).status).toBe(200);
    expect((await finished(optsOut)).reason).toMatch(/opted out/);
    expect((await finished(handedOver)).reason).toMatch(/handover/);
    await new Promise((r) => setTimeout(r, 2000));
    expect(texts(optsOut)).toEqual([HELLO, expect.stringMatching(/não receberá mais mensagens/)]);
    expect(texts(handedOver)).toEqual([HELLO]);
  });

  it('sends nothing when the AI decides a follow-up is not worth it', async () => {
    openai.respond = () => JSON.stringify({ send: false, text: '', reason: 'cliente já comprou' });
    const phone = nextPhone();
    await f.say(phone, 'oi');
    const result = await finished(phone);
    expect(result.reason).toBe('no follow-up: AI: cliente já comprou');
    expect(texts(phone)).toEqual([HELLO]);
    const rows = await f.stack.db.db.select().from(aiInteractions).where(eq(aiInteractions.contactKey, phone));
    expect(rows).toEqual([expect.objectContaining({ kind: 'followup', status: 'declined' })]);
  });
});
