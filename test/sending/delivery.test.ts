import { and, eq, like } from 'drizzle-orm';
import type { Config } from '../../src/config';
import { contacts, messageAttempts, messages, messageStatusEvents, sandboxOutbox, sendPacing, sendQuotaCounters } from '../../src/db/schema';
import { upsertContact } from '../../src/db/queries/contacts';
import { ProviderError } from '../../src/providers/errors';
import { addChannel } from '../../src/services/channels';
import { deliver } from '../../src/services/delivery';
import type { ProviderRegistry } from '../../src/providers/types';
import { reserveQuota, sendPolicy } from '../../src/services/quotas';
import { recordStatus } from '../../src/db/queries/statuses';
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

  it('treats a gateway 502 or 504 after the request left like a timeout: uncertain, never a plain retry', async () => {
    for (const [status, phone] of [[502, '5511988880014'], [504, '5511988880024']] as const) {
      world.evolution.failNext(1, { status }, (r) => JSON.stringify(r.body).includes(phone));
      const { messageId, outcome } = await sendAndWait(world, evo(phone));
      expect(outcome).toMatchObject({ status: 'sent' });
      const attempts = await attemptsOf(world, messageId);
      expect(attempts.map((a) => [a.outcome, a.duplicateRisk])).toEqual([
        ['uncertain', false],
        ['sent', true],
      ]);
      expect(attempts[0]!.error).toMatchObject({ status });
    }
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

  // deliver() called directly, on sandbox channels of their own: what each gate of a send
  // leaves behind (rows, attempts, counters, pacing), beyond what the API tests can see.
  describe('gates of one send', () => {
    let n = 0;
    const phone = () => `55119777${String(++n).padStart(5, '0')}`;
    const text = { type: 'text' as const, text: 'oi' };

    async function sandboxChannel() {
      return addChannel(world.stack.db.db, { tenantId: world.tenant.tenant.id, provider: 'sandbox', externalId: `sandbox-gates-${++n}` });
    }
    /** Delivery deps with these settings over the world's, and the sandbox's send wrapped by `wrap`. */
    function depsWith(env: Partial<Config>, wrap?: (real: ProviderRegistry['sandbox']['send']) => ProviderRegistry['sandbox']['send']) {
      const real = testProviders(world.stack.db);
      const send = wrap ? wrap(real.sandbox.send.bind(real.sandbox)) : real.sandbox.send;
      const providers: ProviderRegistry = { ...real, sandbox: { ...real.sandbox, send } };
      return { db: world.stack.db.db, providers, log: testLog, config: { ...world.stack.config, ...env } };
    }
    const counterOf = async (scope: string) =>
      (await world.stack.db.db.select().from(sendQuotaCounters).where(eq(sendQuotaCounters.scope, scope)))[0]?.count ?? 0;
    const rowByKey = async (key: string) => (await world.stack.db.db.select().from(messages).where(eq(messages.idempotencyKey, key)))[0];

    it('paces the sends of one channel: each takes the next slot, the minimum gap apart', async () => {
      const channel = await sandboxChannel();
      const calls: number[] = [];
      const deps = depsWith({ SEND_PACING_MIN_GAP: 500, SEND_PACING_JITTER: 0 }, (send) => async (...args) => {
        calls.push(Date.now());
        return send(...args);
      });
      const results = await Promise.all(
        [0, 1, 2].map((i) =>
          deliver(deps, { tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:pacing-${n}-${i}` }),
        ),
      );
      expect(results.every((r) => !r.alreadySent)).toBe(true);
      calls.sort((a, b) => a - b);
      // 500 ms apart, give or take the time each took to reach the database.
      expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(350);
      expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(350);
      // Three slots taken: the channel's next free time is 1.5 s after the first.
      const [pace] = await world.stack.db.db.select().from(sendPacing).where(eq(sendPacing.channelId, channel.id));
      expect(pace!.nextAt.getTime() - calls[0]!).toBeGreaterThan(1_000);
    });

    it('defers a send whose pacing slot is beyond the max wait: waiting on the row, no attempt, quota given back', async () => {
      const channel = await sandboxChannel();
      const deps = depsWith({ SEND_PACING_MIN_GAP: 3_000, SEND_PACING_JITTER: 0, SEND_PACING_MAX_WAIT: 1_000, SEND_CHANNEL_PER_MINUTE: 100 });
      const req = (i: number) => ({ tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:pace-defer-${n}-${i}` });
      await deliver(deps, req(1));
      const err = await deliver(deps, req(2)).catch((e) => e);
      expect(err).toMatchObject({ name: 'SendDeferred', kind: 'rate_limited', details: { code: `channel:${channel.id}:pacing` } });
      // The slot is 3 s after the first send; it comes back when that is within 1 s / 2 of reach.
      expect(err.details.retryAfterMs).toBeGreaterThan(1_000);
      expect(err.details.retryAfterMs).toBeLessThanOrEqual(2_500);
      const row = await rowByKey(`test:pace-defer-${n}-2`);
      expect(row).toMatchObject({ status: 'queued', error: expect.objectContaining({ reason: 'RateLimited', scope: `channel:${channel.id}:pacing` }) });
      expect(await attemptsOf(world, row!.id)).toHaveLength(0);
      expect(await counterOf(`channel:${channel.id}:minute`)).toBe(1);
    });

    it('defers a send over quota: waiting on the row, no attempt, no pacing slot, every window given back', async () => {
      const channel = await sandboxChannel();
      const deps = depsWith({ SEND_CHANNEL_PER_HOUR: 1, SEND_QUOTA_HOUR_WINDOW: 30 * 86_400_000, SEND_PACING_MIN_GAP: 200, SEND_PACING_JITTER: 0 });
      const req = (i: number) => ({ tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:quota-defer-${n}-${i}` });
      await deliver(deps, req(1));
      const [paceBefore] = await world.stack.db.db.select().from(sendPacing).where(eq(sendPacing.channelId, channel.id));
      const err = await deliver(deps, req(2)).catch((e) => e);
      expect(err).toMatchObject({ name: 'SendDeferred', kind: 'rate_limited', details: { code: `channel:${channel.id}:hour` } });
      const row = await rowByKey(`test:quota-defer-${n}-2`);
      expect(row).toMatchObject({ status: 'queued', error: expect.objectContaining({ reason: 'RateLimited', scope: `channel:${channel.id}:hour` }) });
      expect(await attemptsOf(world, row!.id)).toHaveLength(0);
      expect(await counterOf(`channel:${channel.id}:hour`)).toBe(1);
      expect(await counterOf(`channel:${channel.id}:day`)).toBe(1);
      const [paceAfter] = await world.stack.db.db.select().from(sendPacing).where(eq(sendPacing.channelId, channel.id));
      expect(paceAfter!.nextAt).toEqual(paceBefore!.nextAt);
    });

    it('lets one of two concurrent deliveries of a key call the provider; the other is told it is in flight and counts nothing', async () => {
      const channel = await sandboxChannel();
      let calls = 0;
      const deps = depsWith({ SEND_CHANNEL_PER_MINUTE: 100 }, (send) => async (...args) => {
        calls++;
        await new Promise((r) => setTimeout(r, 400));
        return send(...args);
      });
      const req = { tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:race-${n}` };
      const [a, b] = await Promise.allSettled([deliver(deps, req), deliver(deps, req)]);
      expect(calls).toBe(1);
      const rejected = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toMatchObject({ kind: 'retryable', details: { code: 'in_flight' } });
      const row = await rowByKey(req.idempotencyKey);
      expect((await attemptsOf(world, row!.id)).map((x) => x.outcome)).toEqual(['sent']);
      expect(await counterOf(`channel:${channel.id}:minute`)).toBe(1);
    });

    it('closes an attempt whose worker was lost as uncertain, checks with the provider, then sends', async () => {
      const channel = await sandboxChannel();
      const req = { tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:lost-${n}` };
      const failing = depsWith({}, () => async () => {
        throw new ProviderError('sandbox: 503', 'retryable', { status: 503 });
      });
      await expect(deliver(failing, req)).rejects.toMatchObject({ kind: 'retryable' });
      const row = await rowByKey(req.idempotencyKey);
      // Attempt 2 started an hour ago and never finished: its worker died mid-call.
      await world.stack.db.db.insert(messageAttempts).values({ messageId: row!.id, attempt: 2, startedAt: new Date(Date.now() - 3_600_000) });
      const result = await deliver(depsWith({}), req);
      expect(result).toMatchObject({ alreadySent: false, attempts: 3, duplicateRisk: false });
      const attempts = await attemptsOf(world, row!.id);
      expect(attempts.map((x) => x.outcome)).toEqual(['retry', 'uncertain', 'sent']);
      expect(attempts[1]!.error).toMatchObject({ reason: 'WorkerLost' });
    });

    it('applies status reports that arrived before the send was recorded', async () => {
      const channel = await sandboxChannel();
      const deps = depsWith({}, (send) => async (...args) => {
        const result = await send(...args);
        // The provider reports delivery before its answer to the send comes back.
        await recordStatus(world.stack.db.db, { channelId: channel.id, providerMessageId: result.providerMessageId, status: 'delivered', occurredAt: new Date() });
        return result;
      });
      const result = await deliver(deps, { tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:early-status-${n}` });
      const row = await rowByKey(`test:early-status-${n}`);
      expect(row).toMatchObject({ status: 'delivered', providerMessageId: result.providerMessageId, deliveredAt: expect.any(Date) });
      const events = await world.stack.db.db.select().from(messageStatusEvents).where(eq(messageStatusEvents.providerMessageId, result.providerMessageId));
      expect(events.map((e) => e.appliedAt)).toEqual([expect.any(Date)]);
    });

    it("takes the place of the provider's echo of the send when the echo was stored first, with its statuses", async () => {
      const channel = await sandboxChannel();
      const deps = depsWith({}, (send) => async (...args) => {
        const result = await send(...args);
        // The echo of this send (and a read report for it) filed before the send was recorded.
        await world.stack.db.db.insert(messages).values({
          tenantId: world.tenant.tenant.id,
          channelId: channel.id,
          direction: 'outbound',
          author: 'api',
          type: 'text',
          body: 'oi',
          providerMessageId: result.providerMessageId,
          status: 'sent',
          triggersAutomation: false,
        });
        await recordStatus(world.stack.db.db, { channelId: channel.id, providerMessageId: result.providerMessageId, status: 'read', occurredAt: new Date() });
        return result;
      });
      const result = await deliver(deps, { tenantId: world.tenant.tenant.id, channelId: channel.id, contactKey: phone(), message: text, idempotencyKey: `test:echo-${n}` });
      const rows = await world.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, result.providerMessageId));
      expect(rows).toEqual([expect.objectContaining({ idempotencyKey: `test:echo-${n}`, status: 'read', author: 'zapflow' })]);
    });

    it("refuses another tenant's channel like an unknown one, and writes nothing", async () => {
      const req = { tenantId: world.tenant.tenant.id, channelId: world.other.channel.id, contactKey: phone(), message: text, idempotencyKey: `test:foreign-${n}` };
      await expect(deliver(depsWith({}), req)).rejects.toMatchObject({ name: 'DeliveryRefused', reason: 'ChannelNotFound' });
      await expect(deliver(depsWith({}), { ...req, channelId: '00000000-0000-4000-8000-00000000dead' })).rejects.toMatchObject({ reason: 'ChannelNotFound' });
      expect(await rowByKey(req.idempotencyKey)).toBeUndefined();
    });
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
