import { eq, inArray } from 'drizzle-orm';
import { messages, webhookEvents } from '../../src/db/schema';
import { getJson, postJson } from '../support/http';
import { fixture, fixtureNames, fixtureText, metaSignature } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const APP_SECRET = 'meta-app-secret-A';
const GLOBAL_SECRET = 'meta-global-app-secret';

describe('Meta webhooks', () => {
  let stack: Stack;
  let tenantA: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let tenantB: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const postRaw = (raw: string, signature: string | null) =>
    postJson(`${stack.url}/webhooks/meta`, raw, signature ? { 'x-hub-signature-256': signature } : {});
  const signedPost = (body: unknown, secret = APP_SECRET) => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    return postRaw(raw, metaSignature(raw, secret));
  };
  const eventCount = async () => (await stack.db.db.select({ id: webhookEvents.id }).from(webhookEvents)).length;

  beforeAll(async () => {
    stack = await startStack({ env: { META_APP_SECRET: GLOBAL_SECRET, META_VERIFY_TOKEN: 'global-verify' } });
    tenantA = await seedTenantWithChannel(stack.db, 'Loja Centro', {
      provider: 'meta',
      externalId: '600000000000001',
      accessToken: 'token-A',
      appSecret: APP_SECRET,
      verifyToken: 'verify-A',
    });
    tenantB = await seedTenantWithChannel(stack.db, 'Outra Loja', {
      provider: 'meta',
      externalId: '600000000000002',
      accessToken: 'token-B',
      appSecret: 'meta-app-secret-B',
    });
  });
  afterAll(() => stack.close());

  it('answers the verification handshake with the bare challenge, 403 otherwise', async () => {
    const ok = await getJson(`${stack.url}/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-A&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(1158201444); // bare body "1158201444"
    const global = await fetch(`${stack.url}/webhooks/meta?hub.mode=subscribe&hub.verify_token=global-verify&hub.challenge=abc`);
    expect(await global.text()).toBe('abc');
    for (const query of ['hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1', 'hub.mode=unsubscribe&hub.verify_token=verify-A&hub.challenge=1', 'hub.mode=subscribe&hub.challenge=1']) {
      expect((await fetch(`${stack.url}/webhooks/meta?${query}`)).status).toBe(403);
    }
  });

  it('verifies the signature over the raw escaped-unicode bytes', async () => {
    const raw = fixtureText('meta', 'signed-unicode-escaped');
    expect(raw).toContain('\\u00e7');
    const res = await postRaw(raw, metaSignature(raw, APP_SECRET));
    expect(res.status).toBe(200);
    // Re-serialising the parsed body changes the bytes: that signature must not pass.
    const reserialised = JSON.stringify(JSON.parse(raw));
    expect(reserialised).not.toBe(raw);
    const wrong = await postRaw(raw, metaSignature(reserialised, APP_SECRET));
    expect(wrong.status).toBe(401);
    const id = JSON.parse(raw).entry[0].changes[0].value.messages[0].id;
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
    expect(row!.body).toMatch(/ç|ã|é/);
  });

  it('answers 401 to a missing or wrong signature and records nothing', async () => {
    const before = await eventCount();
    const raw = fixtureText('meta', 'text');
    expect((await postRaw(raw, null)).status).toBe(401);
    expect((await postRaw(raw, metaSignature(raw, 'not-the-secret'))).status).toBe(401);
    expect((await postRaw(raw, 'sha256=zz')).status).toBe(401);
    // Tenant B's app secret for tenant A's number.
    expect((await postRaw(raw, metaSignature(raw, 'meta-app-secret-B'))).status).toBe(401);
    expect(await eventCount()).toBe(before);
  });

  it('accepts every payload kind in its real shape', async () => {
    for (const name of fixtureNames('meta')) {
      if (name.startsWith('malformed') || name === 'multi-number.json') continue;
      const raw = fixtureText('meta', name);
      const res = await postRaw(raw, metaSignature(raw, APP_SECRET));
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
    const rows = await stack.db.db.select().from(messages).where(eq(messages.channelId, tenantA.channel.id));
    const types = new Set(rows.map((r) => r.type));
    for (const t of ['text', 'template_button_reply', 'interactive_reply', 'list_reply', 'media', 'reaction', 'location', 'contact']) {
      expect(types).toContain(t);
    }
    const button = rows.find((r) => r.type === 'template_button_reply')!;
    expect(button.payload.button).toEqual({ id: 'pode_falar_sim', text: 'Pode falar sim!' });
  });

  it('handles every entry, change, message and status of a batch POST', async () => {
    const batch = fixture('meta', 'batch');
    const ids: string[] = [];
    let statuses = 0;
    for (const entry of batch.entry) {
      for (const change of entry.changes) {
        for (const m of change.value.messages ?? []) ids.push(m.id);
        statuses += (change.value.statuses ?? []).length;
      }
    }
    expect(ids.length).toBeGreaterThan(2);
    expect(statuses).toBeGreaterThan(0);
    const res = await signedPost(fixtureText('meta', 'batch'));
    expect(res.status).toBe(200);
    const rows = await stack.db.db.select().from(messages).where(inArray(messages.providerMessageId, ids));
    expect(rows).toHaveLength(ids.length);
    // The same batch again: nothing new.
    const again = await signedPost(fixtureText('meta', 'batch'));
    expect(again.body.status).toBe('duplicate');
  });

  it('files a two-number batch per number, and only where the signature covers that number', async () => {
    const raw = fixtureText('meta', 'multi-number');
    const body = JSON.parse(raw);
    const idA = body.entry[0].changes[0].value.messages[0].id;
    const idB = body.entry[1].changes[0].value.messages[0].id;

    // Signed with A's app secret: A's item lands in A; B's number is not covered, so it is not filed under B.
    await postRaw(raw, metaSignature(raw, APP_SECRET));
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idA))).toHaveLength(1);
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idB))).toHaveLength(0);

    // The global app secret serves every number: each item in its own tenant.
    await postRaw(raw, metaSignature(raw, GLOBAL_SECRET));
    const [a] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idA));
    const [b] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, idB));
    expect(a!.tenantId).toBe(tenantA.tenant.id);
    expect(b!.tenantId).toBe(tenantB.tenant.id);
  });

  it('stores an unknown phone_number_id signed with the global secret as unroutable', async () => {
    const body = fixture('meta', 'text');
    body.entry[0].changes[0].value.metadata.phone_number_id = '699999999999999';
    body.entry[0].changes[0].value.messages[0].id = 'wamid.UNROUTABLE000000000000001=';
    const res = await signedPost(body, GLOBAL_SECRET);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('unroutable');
    expect(await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, 'wamid.UNROUTABLE000000000000001='))).toHaveLength(0);
    // Signed only with some channel's secret, an unknown number is 401.
    expect((await signedPost(body, APP_SECRET)).status).toBe(401);
  });

  it('records statuses with the provider error, forward only', async () => {
    const statusBody = (id: string, status: string, extra: Record<string, unknown> = {}) => {
      const body = fixture('meta', 'status-failed');
      body.entry[0].changes[0].value.statuses = [{ id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '5511999990001', ...extra }];
      return body;
    };
    const { messages: table } = await import('../../src/db/schema');
    for (const id of ['wamid.OUT-READ=', 'wamid.OUT-FAILED=']) {
      await stack.db.db.insert(table).values({
        tenantId: tenantA.tenant.id,
        channelId: tenantA.channel.id,
        direction: 'outbound',
        author: 'zapflow',
        type: 'text',
        body: 'Olá!',
        providerMessageId: id,
        status: 'sent',
      });
    }
    for (const status of ['delivered', 'read']) {
      expect((await signedPost(statusBody('wamid.OUT-READ=', status))).body.status).toBe('processed');
    }
    const failedAfterRead = fixture('meta', 'status-failed').entry[0].changes[0].value.statuses[0];
    await signedPost(statusBody('wamid.OUT-READ=', 'failed', { errors: failedAfterRead.errors }));
    await signedPost(statusBody('wamid.OUT-FAILED=', 'failed', { errors: failedAfterRead.errors }));
    const [read] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, 'wamid.OUT-READ='));
    const [failed] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, 'wamid.OUT-FAILED='));
    expect(read!.status).toBe('read');
    expect(failed!.status).toBe('failed');
    expect(failed!.error).toMatchObject({ code: '131047' });
    // The same status again is a duplicate.
    expect((await signedPost(statusBody('wamid.OUT-READ=', 'read'))).body.status).toBe('duplicate');
  });

  it('keeps an authenticated body that does not parse as rejected, with the field path', async () => {
    const res = await signedPost(fixtureText('meta', 'malformed-missing-message-id'));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('rejected');
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, res.body.eventId));
    expect(event!.error!.path).toBe('entry.1.changes.0.value.messages.1.id');
    expect(event!.tenantId).toBe(tenantA.tenant.id);
  });
});
