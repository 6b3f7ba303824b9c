/**
 * Follow-ups after sends the contact workflow does not see (API sends, schedules, funnel
 * steps), for contacts who never wrote; Meta's 24-hour window; tenants without follow-ups.
 * Real parts: Temporal dev server, PostgreSQL (or PGlite), the API, Evolution, Meta and
 * OpenAI faked on loopback; short configured durations.
 */
import { and, eq } from 'drizzle-orm';
import type { WorkflowHandle } from '@temporalio/client';
import { contacts, funnelRuns, messages } from '../../src/db/schema';
import { upsertContact } from '../../src/db/queries/contacts';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { addChannel } from '../../src/services/channels';
import { followUpWorkflowId } from '../../src/domain/workflowIds';
import { sendWorkflowId } from '../../src/domain/workflowIds';
import type { FunnelRunInput } from '../../src/workflows/types';
import { startMetaFake, type MetaFake } from '../fakes';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openaiFake';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { eventually, seedTenantWithChannel } from '../support/stack';

const QUIET_MS = 1_500;
const META_NUMBER = '600000000000088';
const META_TOKEN = 'meta-outreach-token';

interface FollowUpResult {
  sent: number;
  reason: string;
  log: Array<{ at: number; event: string; detail?: string }>;
}

describe('follow-ups after outreach (contacts who never wrote)', () => {
  let openai: OpenAiFake;
  let meta: MetaFake;
  let f: FunnelStack;
  let seq = 0;
  const nextPhone = () => `55119555${String(++seq).padStart(5, '0')}`;
  const db = () => f.stack.db.db;
  const tenantId = () => f.tenant.tenant.id;
  const followUp = (phone: string, tenant = tenantId()) => f.stack.client.workflow.getHandle(followUpWorkflowId(tenant, phone));
  const finished = async (phone: string): Promise<FollowUpResult> => {
    await eventually(async () => (await followUp(phone).describe()).status.name === 'COMPLETED', 20_000, 'follow-up finished');
    return followUp(phone).result() as Promise<FollowUpResult>;
  };
  /** Follow-up decisions asked of the AI about this contact's conversation. */
  const composesMentioning = (text: string) => openai.chats.filter((c) => c.response_format && JSON.stringify(c).includes(text));
  const signalsOf = async (handle: WorkflowHandle) =>
    (await handle.fetchHistory()).events!.flatMap((e) => (e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName] : []));
  const contactRow = async (phone: string) =>
    (await db().select().from(contacts).where(and(eq(contacts.tenantId, tenantId()), eq(contacts.phone, phone))))[0];
  const send = (body: Record<string, unknown>) => f.api('POST', '/api/whatsapp/send-message', body);
  const metaSentTo = (phone: string) => meta.sent.filter((s) => s.waId === phone);

  beforeAll(async () => {
    openai = await startOpenAiFake();
    meta = await startMetaFake({ accessToken: META_TOKEN, phoneNumberIds: [META_NUMBER] });
    f = await startFunnelStack({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseUrl, AI_RETRY_INITIAL: '100ms', AI_RETRY_MAX: '200ms', SCHEDULE_PREFIRE: '500ms' });
    await addChannel(db(), { tenantId: tenantId(), provider: 'meta', externalId: META_NUMBER, baseUrl: meta.url, accessToken: META_TOKEN });
    const res = await f.api('PUT', '/api/conversations/settings', { followUp: { enabled: true, quietPeriod: `${QUIET_MS}ms`, max: 1, windows: [] } });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await f?.close();
    await meta?.close();
    await openai?.close();
  });
  beforeEach(() => {
    openai.respond = (req) =>
      req.response_format ? JSON.stringify({ send: true, text: 'Oi! Conseguiu ver a nossa oferta?', reason: 'oferta sem resposta' }) : 'Claro!';
  });
  afterEach(() => {
    expect(openai.unexpected).toEqual([]);
    expect(meta.unexpected).toEqual([]);
  });

  it('follows up an API send to a contact who never wrote, after the quiet period', async () => {
    const phone = nextPhone();
    const offer = 'Olá! Temos uma oferta de 20% no plano anual esta semana.';
    const res = await send({ instanceName: 'loja-centro', phoneNumber: phone, message: offer });
    expect(res.status).toBe(200);
    await eventually(async () => f.sentTo(phone).length === 2, 20_000, 'the offer, then the follow-up');
    const [first, second] = f.sentTo(phone);
    expect([first!.body.text, second!.body.text]).toEqual([offer, 'Oi! Conseguiu ver a nossa oferta?']);
    // Not before the quiet period after the offer (less clock granularity between processes).
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(QUIET_MS - 100);

    const result = await finished(phone);
    expect(result).toMatchObject({ sent: 1, reason: 'cap reached: 1 follow-up(s) sent' });
    // Started by the send's own delivery: the contact never wrote, and zapflow's own sends
    // are not dispatched to a contact workflow (none was started for this contact).
    expect(await signalsOf(followUp(phone))).toEqual(['outbound']);
    expect((await contactRow(phone))!.lastInboundAt).toBeNull();
    await expect(f.stack.client.workflow.getHandle(contactWorkflowId(tenantId(), phone)).describe()).rejects.toMatchObject({ name: 'WorkflowNotFoundError' });
    expect(await db().select({ t: messages.triggersAutomation }).from(messages).where(eq(messages.contactId, (await contactRow(phone))!.id))).toEqual([{ t: false }, { t: false }]);
    // The AI saw the offer it follows up on.
    expect(composesMentioning(offer)).toHaveLength(1);
  });

  it('follows up a scheduled send the same way', async () => {
    const phone = nextPhone();
    const reminder = 'Lembrete: sua demonstração é amanhã às 10h.';
    const res = await f.api('POST', '/api/whatsapp/schedule-message', {
      instanceName: 'loja-centro',
      phoneNumber: phone,
      message: reminder,
      scheduledFor: new Date(Date.now() + 1_500).toISOString(),
    });
    expect(res.status).toBe(202);
    await eventually(async () => f.sentTo(phone).length === 2, 20_000, 'the reminder, then the follow-up');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual([reminder, 'Oi! Conseguiu ver a nossa oferta?']);
    expect(await finished(phone)).toMatchObject({ sent: 1 });
    expect(await signalsOf(followUp(phone))).toEqual(['outbound']);
    expect(composesMentioning(reminder)).toHaveLength(1);
  });

  it("follows up a funnel step's send for a run no message of the contact started", async () => {
    // A run started from outside the contact's conversation (an operator, a campaign): only
    // its send can tell the follow-up.
    const created = await f.api('POST', '/api/funnels', funnelDef({
      name: 'Campanha',
      trigger: { type: 'keyword', phrase: 'campanha-sem-gatilho' },
      steps: [{ id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}! Separei uma condição especial para você.' } }],
    }));
    expect(created.status).toBe(201);
    const phone = nextPhone();
    await upsertContact(db(), { tenantId: tenantId(), phone, name: 'Bruna' });
    const runId = `funnel:${tenantId()}:${phone}:${created.body.id}:campaign-1`;
    await db().insert(funnelRuns).values({ id: runId, tenantId: tenantId(), funnelId: created.body.id, funnelVersion: 1, contactKey: phone, channelId: f.tenant.channel.id, status: 'queued' });
    const input: FunnelRunInput = {
      runId,
      tenantId: tenantId(),
      contactKey: phone,
      channelId: f.tenant.channel.id,
      funnelId: created.body.id,
      funnelName: 'Campanha',
      version: 1,
      triggerMessageId: 'campaign-1',
      contactWorkflowId: contactWorkflowId(tenantId(), phone),
      sendRetry: { maximumAttempts: 3, initialIntervalMs: 100, maximumIntervalMs: 200 },
    };
    const run = await f.stack.client.workflow.execute('funnelRunWorkflow', { workflowId: runId, taskQueue: f.stack.config.TEMPORAL_TASK_QUEUE, args: [input] });
    expect(run).toMatchObject({ status: 'completed' });
    await eventually(async () => f.sentTo(phone).length === 2, 20_000, 'the funnel message, then the follow-up');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Bruna! Separei uma condição especial para você.', 'Oi! Conseguiu ver a nossa oferta?']);
    expect(await finished(phone)).toMatchObject({ sent: 1 });
    expect(await signalsOf(followUp(phone))).toEqual(['outbound']);
  });

  it('starts no follow-up for a tenant without follow-ups', async () => {
    f.evolution.addInstance('loja-sul');
    const other = await seedTenantWithChannel(f.stack.db, 'Loja Sul', { provider: 'evolution', externalId: 'loja-sul', baseUrl: f.evolution.url, apiKey: 'evo-key' });
    const phone = nextPhone();
    const res = await f.api('POST', '/api/whatsapp/send-message', { instanceName: 'loja-sul', phoneNumber: phone, message: 'Olá da Loja Sul!' }, other.apiKey);
    expect(res.status).toBe(200);
    // The follow-up would be started inside the send's delivery: once the send is done, it would exist.
    expect(await f.stack.client.workflow.getHandle(sendWorkflowId(res.body.messageId)).result()).toMatchObject({ status: 'sent' });
    await expect(followUp(phone, other.tenant.id).describe()).rejects.toMatchObject({ name: 'WorkflowNotFoundError' });
  });

  describe("Meta's 24-hour window", () => {
    const template = { name: 'oferta_semana', language: 'pt_BR' };

    it('ends at once, saying why, after a template to a contact who never wrote: no AI call, no free text', async () => {
      const phone = nextPhone();
      const composesBefore = openai.chats.length;
      expect((await send({ instanceName: META_NUMBER, phoneNumber: phone, template })).status).toBe(200);
      const result = await finished(phone);
      expect(result).toMatchObject({ sent: 0, reason: 'Meta 24-hour window: the contact never wrote to this number, so only a template may go out' });
      expect(metaSentTo(phone).map((s) => s.type)).toEqual(['template']);
      expect(openai.chats.length).toBe(composesBefore);
    });

    it('ends without asking the AI when the window closes before the follow-up is due', async () => {
      const phone = nextPhone();
      // The contact wrote almost 24 hours ago: the window closes in a second, the follow-up is due in 1.5 s.
      await upsertContact(db(), { tenantId: tenantId(), phone, lastInboundAt: new Date(Date.now() - 24 * 3_600_000 + 1_000) });
      const composesBefore = openai.chats.length;
      expect((await send({ instanceName: META_NUMBER, phoneNumber: phone, template })).status).toBe(200);
      const result = await finished(phone);
      expect(result.sent).toBe(0);
      expect(result.reason).toMatch(/^Meta 24-hour window: it closes at .+, before the follow-up is due .+; only a template may go out then$/);
      expect(openai.chats.length).toBe(composesBefore);
      expect(metaSentTo(phone)).toHaveLength(1);
    });

    it('follows up inside the window, and stops at once, recorded, when Meta refuses it anyway', async () => {
      const inside = nextPhone();
      const refused = nextPhone();
      for (const phone of [inside, refused]) await upsertContact(db(), { tenantId: tenantId(), phone, lastInboundAt: new Date(Date.now() - 60_000) });
      // Meta's own clock says the window closed (131047) although zapflow's record says open.
      meta.closedWindows.add(refused);
      for (const phone of [inside, refused]) expect((await send({ instanceName: META_NUMBER, phoneNumber: phone, template })).status).toBe(200);

      expect(await finished(inside)).toMatchObject({ sent: 1 });
      expect(metaSentTo(inside).map((s) => s.type)).toEqual(['template', 'text']);

      const result = await finished(refused);
      expect(result.sent).toBe(0);
      expect(result.reason).toMatch(/^send failed: WindowClosed: /);
      // One attempt at the provider, no retries; the message row says why.
      const posts = meta.requests.filter((r) => r.method === 'POST' && (r.body as { to?: string }).to === `+${refused}` && (r.body as { type?: string }).type === 'text');
      expect(posts).toHaveLength(1);
      const contact = await contactRow(refused);
      const rows = await db().select().from(messages).where(and(eq(messages.contactId, contact!.id), eq(messages.type, 'text')));
      expect(rows).toEqual([expect.objectContaining({ status: 'failed', body: 'Oi! Conseguiu ver a nossa oferta?', error: expect.objectContaining({ reason: 'WindowClosed' }) })]);
      // The message's API history shows it too.
      const details = await f.api('GET', `/api/whatsapp/messages/${rows[0]!.id}`);
      expect(details.body.message.history.at(-1)).toMatchObject({ status: 'failed', reason: 'WindowClosed' });
    });
  });
});
