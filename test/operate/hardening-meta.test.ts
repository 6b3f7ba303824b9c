/**
 * Issue 20, "Unauthenticated cost": a forged Meta webhook costs almost nothing before it is
 * known to be Meta's, and every webhook body is bounded. Work is asserted, not time: the
 * channel lookups that reached the database (zapflow_channel_lookups_total), the HMACs
 * computed (zapflow_webhook_signature_hmacs_total), statuses, and that nothing was stored.
 */
import { createHmac } from 'node:crypto';
import { createApp } from '../../src/api/app';
import { buildRouters } from '../../src/api/routes';
import type { ApiServer } from '../../src/api/server';
import { webhookEvents } from '../../src/db/schema';
import { ChannelDirectory } from '../../src/ingest/channelDirectory';
import { createIngest } from '../../src/ingest/service';
import { channelLookups, signatureHmacs } from '../../src/metrics';
import { addChannel } from '../../src/services/channels';
import { createTenant } from '../../src/services/tenants';
import { countWork } from '../support/counters';
import { testConfig, testLog } from '../support/harness';
import { postJson, serve } from '../support/http';
import { evolutionText, fixtureText, metaInbound, metaSignature } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const work = { lookups: channelLookups, hmacs: signatureHmacs };
/** A well-formed signature nobody's secret made. */
const forged = (raw: string) => `sha256=${createHmac('sha256', 'not-anybodys-secret').update(raw).digest('hex')}`;
/** One entry whose changes name these phone_number_ids (ids in base 36: the smallest body). */
const namingIds = (ids: string[]) =>
  JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: ids.map((id) => ({ value: { metadata: { phone_number_id: id } } })) }] });
const manyIds = (n: number, prefix = '') => Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36)}`);

describe('hardening: forged Meta webhooks and webhook body limits', () => {
  let stack: Stack;
  let raised: ApiServer;
  const secretOf = (i: number) => (i < 17 ? `app-secret-${i}` : 'shared-app-secret');
  const phoneOf = (i: number) => `61000000000${String(i).padStart(4, '0')}`;
  const eventCount = async () => (await stack.db.db.select({ id: webhookEvents.id }).from(webhookEvents)).length;
  const post = (url: string, raw: string, signature?: string) =>
    postJson(`${url}/webhooks/meta`, raw, signature === undefined ? {} : { 'x-hub-signature-256': signature });

  beforeAll(async () => {
    // No META_APP_SECRET: the per-channel path, the costlier one. A miss is remembered longer than the test runs.
    stack = await startStack({ worker: false, env: { CHANNEL_MISS_CACHE: '10m' } });
    const { tenant } = await createTenant(stack.db.db, { name: 'Meta apps' });
    // 20 numbers of 18 apps: 17 with their own secret, 3 sharing one.
    for (let i = 0; i < 20; i++) await addChannel(stack.db.db, { tenantId: tenant.id, provider: 'meta', externalId: phoneOf(i), appSecret: secretOf(i), accessToken: 't' });
    // The same database behind a second app whose body limit is raised: only the item cap is left.
    const config = testConfig({ WEBHOOK_BODY_LIMIT: '20mb', CHANNEL_MISS_CACHE: '10m' });
    const ingest = createIngest({ db: stack.db.db, directory: new ChannelDirectory(stack.db.db), log: testLog });
    raised = await serve(
      createApp({
        config,
        db: stack.db.db,
        pingDb: stack.db.ping,
        pingTemporal: async () => undefined,
        log: testLog,
        routers: buildRouters({ config, db: stack.db.db, temporal: {} as never, ingest, log: testLog }),
      }),
    );
  });
  afterAll(async () => {
    await raised.close(1000);
    await stack.close();
  });

  it('refuses a malformed X-Hub-Signature-256 with 401 before parsing or looking anything up', async () => {
    const known = JSON.stringify(metaInbound({ phoneNumberId: phoneOf(0), from: '5511987650001', message: { type: 'text', text: { body: 'oi' } } }));
    const before = await eventCount();
    for (const header of [undefined, '', 'sha256=zz', `sha1=${'a'.repeat(40)}`, 'a'.repeat(64), `sha256=${'a'.repeat(63)}`, `sha256=${'g'.repeat(64)}`]) {
      const spent = await countWork(work, async () => {
        // Not even valid JSON: a 400 would mean the body was parsed first.
        expect((await post(stack.url, '{"entry": [', header)).status).toBe(401);
        expect((await post(stack.url, known, header)).status).toBe(401);
      });
      expect({ header, ...spent }).toEqual({ header, lookups: 0, hmacs: 0 });
    }
    expect(await eventCount()).toBe(before);
  });

  it('answers a forged body naming 100,000 ids with 413 and no channel lookup or HMAC', async () => {
    const raw = namingIds(manyIds(100_000));
    // Under the 5 MB body limit of before: it used to be parsed and cost a query per id.
    expect(raw.length).toBeLessThan(5 * 1024 * 1024);
    const before = await eventCount();
    const spent = await countWork(work, async () => {
      const res = await post(stack.url, raw, forged(raw));
      expect(res.status).toBe(413); // over WEBHOOK_BODY_LIMIT (1 MB)
      expect(res.body.error.code).toBe('payload_too_large');
      // With the body limit raised, the item cap refuses it, still before any lookup.
      const capped = await post(raised.url, raw, forged(raw));
      expect(capped.status).toBe(413);
      expect(capped.body.error.message).toMatch(/at most 1000 changes.*WEBHOOK_MAX_ITEMS/);
    });
    expect(spent).toEqual({ lookups: 0, hmacs: 0 });
    expect(await eventCount()).toBe(before);
  });

  it('refuses more than WEBHOOK_MAX_ITEMS changes within 1 MB with 413, before any lookup', async () => {
    const raw = namingIds(manyIds(1_001, 'x'));
    expect(raw.length).toBeLessThan(1024 * 1024);
    const spent = await countWork(work, async () => {
      const res = await post(stack.url, raw, forged(raw));
      expect(res.status).toBe(413);
      expect(res.body.error.message).toContain('WEBHOOK_MAX_ITEMS');
    });
    expect(spent).toEqual({ lookups: 0, hmacs: 0 });
    // 1,000 changes (Meta's own batch size) are read: one query, and a 401 since nobody signed it.
    const thousand = namingIds(manyIds(1_000, 'y'));
    const allowed = await countWork(work, async () => expect((await post(stack.url, thousand, forged(thousand))).status).toBe(401));
    expect(allowed).toEqual({ lookups: 1, hmacs: 0 });
  });

  it('resolves 500 unknown ids in one query, then remembers the misses: a repeat costs none', async () => {
    const raw = namingIds(manyIds(500, 'unknown-'));
    const before = await eventCount();
    const first = await countWork(work, async () => expect((await post(stack.url, raw, forged(raw))).status).toBe(401));
    expect(first).toEqual({ lookups: 1, hmacs: 0 });
    const again = await countWork(work, async () => expect((await post(stack.url, raw, forged(raw))).status).toBe(401));
    expect(again).toEqual({ lookups: 0, hmacs: 0 });
    expect(await eventCount()).toBe(before);
  });

  it('computes one HMAC per distinct app secret, and refuses a body naming numbers of more than 16 apps', async () => {
    // Three numbers of one app, signed by it: one HMAC, not three; each item filed.
    const shared = [17, 18, 19].map((i) => metaInbound({ phoneNumberId: phoneOf(i), from: `55119876500${i}`, message: { type: 'text', text: { body: `oi ${i}` } } }));
    const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: shared.flatMap((b) => b.entry) });
    const legit = await countWork(work, async () => {
      const res = await post(stack.url, raw, metaSignature(raw, 'shared-app-secret'));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('pending');
    });
    expect(legit.hmacs).toBe(1);

    // Numbers of 17 apps: refused before a single HMAC, forged or not.
    const seventeen = namingIds(Array.from({ length: 17 }, (_, i) => phoneOf(i)));
    for (const signature of [forged(seventeen), metaSignature(seventeen, secretOf(0))]) {
      const spent = await countWork(work, async () => expect((await post(stack.url, seventeen, signature)).status).toBe(401));
      expect(spent.hmacs).toBe(0);
    }
    // 16 apps are allowed: one HMAC each.
    const sixteen = namingIds(Array.from({ length: 16 }, (_, i) => phoneOf(i)));
    const spent = await countWork(work, async () => expect((await post(stack.url, sixteen, metaSignature(sixteen, secretOf(3)))).status).toBe(200));
    expect(spent.hmacs).toBe(16);
  });

  it('checks a body naming no number once per distinct app secret, and only when it is small', async () => {
    const raw = fixtureText('meta', 'account-update');
    const legit = await countWork(work, async () => expect((await post(stack.url, raw, metaSignature(raw, secretOf(5)))).status).toBe(200));
    // 20 channels, 18 distinct secrets: 18 HMACs, not 20.
    expect(legit.hmacs).toBe(18);
    expect(legit.lookups).toBeLessThanOrEqual(1);

    // Over 64 KB: not tried against any secret.
    const big = JSON.stringify({ ...JSON.parse(raw), padding: 'x'.repeat(70 * 1024) });
    const before = await eventCount();
    const spent = await countWork(work, async () => expect((await post(stack.url, big, forged(big))).status).toBe(401));
    expect(spent).toEqual({ lookups: 0, hmacs: 0 });
    expect(await eventCount()).toBe(before);
  });

  it('answers 413 to any webhook body over WEBHOOK_BODY_LIMIT (1 MB), authenticated or not', async () => {
    const seeded = await seedTenantWithChannel(stack.db, 'Evo', { provider: 'evolution', externalId: 'evo-limit', baseUrl: 'http://127.0.0.1:1', webhookSecret: 'evo-secret' });
    const big = evolutionText({ instance: seeded.channel.externalId, phone: '5511987650099', text: 'x'.repeat(1.1 * 1024 * 1024) });
    const before = await eventCount();
    const evolution = await postJson(`${stack.url}/webhooks/evolution`, big, { 'x-zapflow-secret': 'evo-secret' });
    expect(evolution.status).toBe(413);
    expect(evolution.body.error.code).toBe('payload_too_large');
    const bigMeta = JSON.stringify({ ...JSON.parse(fixtureText('meta', 'account-update')), padding: 'x'.repeat(1.1 * 1024 * 1024) });
    expect((await post(stack.url, bigMeta, metaSignature(bigMeta, secretOf(0)))).status).toBe(413);
    expect((await postJson(`${stack.url}/webhooks/lancepilot`, big, { 'x-webhook-token': 'whatever' })).status).toBe(413);
    expect(await eventCount()).toBe(before);
    // Just under the limit is read as usual.
    const fits = evolutionText({ instance: seeded.channel.externalId, phone: '5511987650099', text: 'x'.repeat(900 * 1024) });
    expect((await postJson(`${stack.url}/webhooks/evolution`, fits, { 'x-zapflow-secret': 'evo-secret' })).status).toBe(200);
  });
});
