import { and, eq } from 'drizzle-orm';
import { contacts, messages, tenants } from '../../src/db/schema';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('contact workflow', () => {
  let evolution: EvolutionFake;
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const say = (phone: string, text: string, id = uniqueId()) =>
    postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-centro', phone, text, id }), { 'x-zapflow-secret': 's' });
  const contact = async (phone: string) =>
    (await stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenant.tenant.id), eq(contacts.phone, phone))))[0];

  beforeAll(async () => {
    evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro'] });
    stack = await startStack({ env: { CONTACT_IDLE_TIMEOUT: '2s' } });
    tenant = await seedTenantWithChannel(stack.db, 'Loja', {
      provider: 'evolution',
      externalId: 'loja-centro',
      baseUrl: evolution.server.url,
      apiKey: 'evo-key',
      webhookSecret: 's',
    });
  });
  afterAll(async () => {
    await stack.close();
    await evolution.close();
  });

  it('opts a contact out on PARE (case, accents, punctuation ignored) and confirms exactly once', async () => {
    const phone = '5511933330001';
    const id = uniqueId();
    await say(phone, '  Páre! ', id);
    await say(phone, '  Páre! ', id); // re-delivered
    await eventually(async () => (await contact(phone))?.optedOutAt, 15_000, 'opted out');
    await eventually(async () => evolution.sent.some((s) => s.number.includes('33330001')), 15_000, 'confirmation sent');
    await say(phone, 'STOP'); // a second keyword: already opted out, nothing more
    // Even after the contact workflow ended idle and starts afresh.
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 20_000, 'idle workflow completed');
    await say(phone, 'SAIR');
    await eventually(async () => (await handle.describe()).status.name === 'RUNNING', 10_000, 'restarted');
    await new Promise((r) => setTimeout(r, 1000));
    const confirmations = evolution.sent.filter((s) => s.number.includes('33330001'));
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]!.body.text).toMatch(/não receberá mais mensagens/);
    const [out] = await stack.db.db
      .select()
      .from(messages)
      .where(and(eq(messages.tenantId, tenant.tenant.id), eq(messages.direction, 'outbound'), eq(messages.idempotencyKey, `optout:${(await rowId(id))}`)));
    expect(out).toMatchObject({ status: 'sent', author: 'zapflow', providerMessageId: confirmations[0]!.providerMessageId });
  });

  it('does not treat a sentence that mentions a keyword as an opt-out', async () => {
    const phone = '5511933330002';
    await say(phone, 'Não quero parar de receber, pode mandar!');
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    await eventually(async () => (await handle.query<{ handled: number }>('state')).handled === 1);
    expect((await contact(phone))?.optedOutAt).toBeNull();
  });

  it('honours a tenant\'s own opt-out keywords', async () => {
    await stack.db.db.update(tenants).set({ settings: { optOutKeywords: ['CHEGA'] } }).where(eq(tenants.id, tenant.tenant.id));
    stack.ingestRuntime.ingest.directory.invalidate();
    const phone = '5511933330003';
    await say(phone, 'chega');
    await eventually(async () => (await contact(phone))?.optedOutAt, 15_000, 'opted out by a custom keyword');
  });

  it('ends an idle contact workflow so idle contacts hold no open workflow', async () => {
    const phone = '5511933330004';
    await say(phone, 'oi');
    const handle = stack.client.workflow.getHandle(contactWorkflowId(tenant.tenant.id, phone));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 20_000, 'idle workflow completed');
    // A later message starts it again.
    await say(phone, 'voltei');
    await eventually(async () => (await handle.describe()).status.name === 'RUNNING', 10_000, 'restarted');
  });

  async function rowId(providerMessageId: string): Promise<string> {
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, providerMessageId));
    return row!.id;
  }
});
