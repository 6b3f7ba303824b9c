import { and, eq, like } from 'drizzle-orm';
import { contacts, messageAttempts, sandboxOutbox, sendQuotaCounters } from '../../src/db/schema';
import { upsertContact } from '../../src/db/queries/contacts';
import { ProviderError } from '../../src/activities/providers/types';
import { addChannel } from '../../src/services/channels';
import { deliver, type ProviderRegistry } from '../../src/services/delivery';
import { reserveQuota, sendPolicy } from '../../src/services/quotas';
import { testLog, testProviders } from '../support/harness';
import { eventually } from '../support/stack';
import { EVO_INSTANCE, META_PHONE_ID, messageRow, sentTo, startSendingWorld, type SendingWorld } from './support';

const attemptsOf = (world: SendingWorld, messageId: string) =>
  world.stack.db.db.select().from(messageAttempts).where(eq(messageAttempts.messageId, messageId)).orderBy(messageAttempts.attempt);

async function sendAndWait(world: SendingWorld, body: Record<string, unknown>) {
  const res = await world.api('/whatsapp/send-message', { body });
  expect(res.status).toBe(200);
  const outcome = await world.stack.client.workflow.getHandle(`send:${res.body.messageId}`).result();
  return { messageId: res.body.messageId as string, outcome, row: (await messageRow(world, res.body.messageId))! };
}

describe('delivery', () => {
  let world: SendingWorld;
  const evo = (phoneNumber: string, message = 'Oi! Tudo certo com seu pedido?') => ({ instanceName: EVO_INSTANCE, phoneNumber, message });

  beforeAll(async () => {
    world = await startSendingWorld();
  });
  afterAll(() => world.close());

  it('retries provider 500s with backoff: 500, 500, then 201 → the provider receives exactly one message', async () => {
    world.evolution.failNext(2, { status: 500, body: { status: 500, error: 'Internal Server Error', response: { message: ['boom'] } } }, (r) =>
      JSON.stringify(r.body).includes('5511988880001'),
    );
    const { messageId, outcome, row } = await sendAndWait(world, evo('5511988880001'));
    expect(outcome).toMatchObject({ status: 'sent', messageId });
    expect(sentTo(world, '5511988880001')).toHaveLength(1);
    expect(world.evolution.requests.filter((r) => JSON.stringify(r.body).includes('5511988880001'))).toHaveLength(3);
    expect(row).toMatchObject({ status: 'sent', providerMessageId: sentTo(world, '5511988880001')[0]!.providerMessageId, error: null });
    expect((await attemptsOf(world, messageId)).map((a) => a.outcome)).toEqual(['retry', 'retry', 'sent']);
  });

  it('fails a number that is not on WhatsApp at once: failed with the reason, one request, no retry', async () => {
    world.evolution.notOnWhatsApp.add('5511988880002');
    const { messageId, outcome, row } = await sendAndWait(world, evo('5511988880002'));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'RecipientInvalid' });
    expect(row).toMatchObject({ status: 'failed', error: expect.objectContaining({ reason: 'RecipientInvalid' }) });
    expect(world.evolution.requests.filter((r) => JSON.stringify(r.body).includes('5511988880002'))).toHaveLength(1);
    const view = await world.api(`/whatsapp/messages/${messageId}`);
    expect(view.body.message.history.map((h: { status: string }) => h.status)).toEqual(['queued', 'failed']);
    expect(view.body.message.history[1]).toMatchObject({ reason: 'RecipientInvalid' });
    expect(view.body.message.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'failed' })]);
  });

  it('refuses an opted-out contact without calling the provider', async () => {
    await upsertContact(world.stack.db.db, { tenantId: world.tenant.tenant.id, phone: '5511988880003' });
    await world.stack.db.db
      .update(contacts)
      .set({ optedOutAt: new Date() })
      .where(and(eq(contacts.tenantId, world.tenant.tenant.id), eq(contacts.phone, '5511988880003')));
    const { outcome, row } = await sendAndWait(world, evo('5511988880003'));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'OptedOut' });
    expect(row.error).toMatchObject({ reason: 'OptedOut', message: 'contact opted out' });
    expect(world.evolution.requests.filter((r) => JSON.stringify(r.body).includes('5511988880003'))).toHaveLength(0);
  });

  it("applies Meta's 24-hour rule: free text only within 24 h of the contact's last message, templates always", async () => {
    const meta = (phoneNumber: string, extra: Record<string, unknown> = { message: 'Oi!' }) => ({ instanceName: META_PHONE_ID, phoneNumber, ...extra });
    const setLastInbound = (phone: string, at: Date) =>
      world.stack.db.db.update(contacts).set({ lastInboundAt: at }).where(and(eq(contacts.tenantId, world.tenant.tenant.id), eq(contacts.phone, phone)));

    // Never wrote: text refused, no call.
    const never = await sendAndWait(world, meta('5511977770001'));
    expect(never.outcome).toMatchObject({ status: 'failed', reason: 'WindowClosed' });
    expect(never.row.error).toMatchObject({ reason: 'WindowClosed', message: expect.stringMatching(/template/) });
    // A template goes.
    const template = await sendAndWait(world, meta('5511977770001', { template: { name: 'retomada_contato', language: 'pt_BR', variables: ['Ana'] } }));
    expect(template.outcome).toMatchObject({ status: 'sent' });
    // Wrote an hour ago: text goes.
    await setLastInbound('5511977770001', new Date(Date.now() - 3_600_000));
    expect((await sendAndWait(world, meta('5511977770001'))).outcome).toMatchObject({ status: 'sent' });
    // Wrote 25 hours ago: refused again.
    await setLastInbound('5511977770001', new Date(Date.now() - 25 * 3_600_000));
    expect((await sendAndWait(world, meta('5511977770001'))).outcome).toMatchObject({ status: 'failed', reason: 'WindowClosed' });

    const sent = world.meta.sent.filter((s) => s.waId === '5511977770001');
    expect(sent.map((s) => s.type)).toEqual(['template', 'text']);
  });

  it('records the risk when a provider call times out with unknown outcome and the provider cannot be asked', async () => {
    // The first call outlives the client's 2 s timeout: it may or may not have gone out.
    world.evolution.failNext(1, { status: 500, delayMs: 2_500 }, (r) => JSON.stringify(r.body).includes('5511988880004'));
    const { messageId, outcome, row } = await sendAndWait(world, evo('5511988880004'));
    expect(outcome).toMatchObject({ status: 'sent' });
    const attempts = await attemptsOf(world, messageId);
    expect(attempts.map((a) => [a.outcome, a.duplicateRisk])).toEqual([
      ['uncertain', false],
      ['sent', true],
    ]);
    expect(attempts[0]!.error).toMatchObject({ code: 'timeout' });
    expect(row).toMatchObject({ status: 'sent', error: expect.objectContaining({ uncertain: true }) });
  });

  it('after an unknown outcome, asks a provider that can tell (sandbox) instead of sending again', async () => {
    const sandboxChannel = await addChannel(world.stack.db.db, { tenantId: world.tenant.tenant.id, provider: 'sandbox', externalId: 'sandbox-delivery-test' });
    const real = testProviders(world.stack.db);
    let calls = 0;
    const providers: ProviderRegistry = {
      ...real,
      sandbox: {
        ...real.sandbox,
        async send(channel, to, message, opts) {
          calls++;
          const result = await real.sandbox.send(channel, to, message, opts);
          // Accepted, but the answer is lost on the way back.
          if (calls === 1) throw new ProviderError('sandbox: timeout after 2000 ms', 'retryable', { code: 'timeout' });
          return result;
        },
      },
    };
    const deps = { db: world.stack.db.db, providers, log: testLog, config: world.stack.config };
    const req = { tenantId: world.tenant.tenant.id, channelId: sandboxChannel.id, contactKey: '5511988880005', message: { type: 'text' as const, text: 'oi' }, idempotencyKey: 'test:lookup-1' };
    await expect(deliver(deps, req)).rejects.toMatchObject({ kind: 'retryable' });
    const second = await deliver(deps, req);
    expect(second).toMatchObject({ alreadySent: true });
    expect(calls).toBe(1);
    expect(await world.stack.db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, sandboxChannel.id))).toHaveLength(1);
    expect((await attemptsOf(world, second.messageId)).map((a) => a.outcome)).toEqual(['uncertain', 'recovered']);
    // A third call returns the recorded provider id.
    expect(await deliver(deps, req)).toMatchObject({ alreadySent: true, providerMessageId: second.providerMessageId });
  });

  it('counts quota atomically: concurrent reservations never exceed the limit', async () => {
    const policy = sendPolicy(world.stack.config, { channel: { perMinute: 7, perHour: 0, perDay: 0 }, tenant: { perDay: 0 } });
    const channelId = '00000000-0000-4000-8000-000000000007';
    const at = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => reserveQuota(world.stack.db.db, { tenantId: world.tenant.tenant.id, channelId, at, policy })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused[0]!.reason).toMatchObject({ name: 'SendDeferred', kind: 'rate_limited' });
    expect(refused[0]!.reason.details.retryAfterMs).toBeGreaterThan(0);
    const [counter] = await world.stack.db.db.select().from(sendQuotaCounters).where(like(sendQuotaCounters.scope, `channel:${channelId}:minute`));
    expect(counter!.count).toBe(7);
  });
});

describe('delivery within quotas', () => {
  let world: SendingWorld;

  beforeAll(async () => {
    // Two sends per 3-second "minute": tiny windows so the test runs fast.
    world = await startSendingWorld({ env: { SEND_CHANNEL_PER_MINUTE: '2', SEND_QUOTA_MINUTE_WINDOW: '3s', SEND_MAX_ATTEMPTS: '3' } });
  });
  afterAll(() => world.close());

  it('delays sends beyond the quota until the window reopens, and delivers every one', async () => {
    const phones = ['5511966660001', '5511966660002', '5511966660003', '5511966660004', '5511966660005'];
    const ids: string[] = [];
    for (const phoneNumber of phones) {
      const res = await world.api('/whatsapp/send-message', { body: { instanceName: EVO_INSTANCE, phoneNumber, message: 'Promoção de hoje' } });
      expect(res.status).toBe(200);
      ids.push(res.body.messageId);
    }
    // Some wait, visibly: queued with the reason and when the window reopens.
    const waiting = await eventually(
      async () => {
        for (const id of ids) {
          const row = await messageRow(world, id);
          if (row?.status === 'queued' && row.error?.reason === 'RateLimited') return row;
        }
        return undefined;
      },
      10_000,
      'a send waiting for quota',
    );
    expect(waiting.error).toMatchObject({ retryAt: expect.any(String), scope: expect.stringMatching(/:minute$/) });

    await eventually(async () => world.evolution.sent.length === phones.length, 30_000, 'all delivered');
    for (const id of ids) expect(await messageRow(world, id)).toMatchObject({ status: 'sent', error: null });
    expect(new Set(world.evolution.sent.map((s) => s.number))).toEqual(new Set(phones));
    // No window ever counted more than its limit.
    const counters = await world.stack.db.db.select().from(sendQuotaCounters).where(like(sendQuotaCounters.scope, 'channel:%:minute'));
    expect(Math.max(...counters.map((c) => c.count))).toBeLessThanOrEqual(2);
    expect(counters.reduce((n, c) => n + c.count, 0)).toBe(phones.length);
  });

  it('gives up after SEND_MAX_ATTEMPTS transient failures: failed, ProviderUnavailable', async () => {
    world.evolution.failNext(10, { status: 503, body: { status: 503, error: 'Service Unavailable' } }, (r) => JSON.stringify(r.body).includes('5511966660009'));
    const res = await world.api('/whatsapp/send-message', { body: { instanceName: EVO_INSTANCE, phoneNumber: '5511966660009', message: 'oi' } });
    const outcome = await world.stack.client.workflow.getHandle(`send:${res.body.messageId}`).result();
    expect(outcome).toMatchObject({ status: 'failed', reason: 'ProviderUnavailable' });
    expect(await messageRow(world, res.body.messageId)).toMatchObject({ status: 'failed', error: expect.objectContaining({ reason: 'ProviderUnavailable' }) });
    expect(world.evolution.requests.filter((r) => JSON.stringify(r.body).includes('5511966660009'))).toHaveLength(3);
  });
});
