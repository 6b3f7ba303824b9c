/**
 * Issue 20, "Unauthenticated cost": LancePilot posts and Meta's verify-token handshake find
 * their channel by the SHA-256 of the presented token in an indexed column (written with the
 * credentials, backfilled by migration 0007), never by scanning credential values in SQL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { channels, webhookEvents } from '../../src/db/schema';
import { credentialHash } from '../../src/ingest/channelDirectory';
import { channelLookups } from '../../src/metrics';
import { addChannel, updateChannel } from '../../src/services/channels';
import { countWork } from '../support/counters';
import { getJson, postJson } from '../support/http';
import { fixture } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const MIGRATION = path.resolve(__dirname, '../../drizzle/0007_channel_credential_hashes.sql');

describe('hardening: webhook credentials found by their hash', () => {
  let stack: Stack;
  let lp: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const rowOf = async (id: string) => (await stack.db.db.select().from(channels).where(eq(channels.id, id)))[0]!;
  /** What the credentials column would hold once encrypted at rest: no value SQL could compare. */
  const scrubCredentials = (id: string) => stack.db.db.update(channels).set({ credentials: { accessToken: 'enc:opaque' } }).where(eq(channels.id, id));

  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { CHANNEL_MISS_CACHE: '10m' } });
    lp = await seedTenantWithChannel(stack.db, 'Loja LP', { provider: 'lancepilot', externalId: 'ws-hash', accessToken: 'lp-access', webhookSecret: 'lp-secret-1' });
  });
  afterAll(() => stack.close());

  it('writes the hashes with the credentials: on insert, on change, and clears them on removal', async () => {
    expect(await rowOf(lp.channel.id)).toMatchObject({ webhookSecretHash: credentialHash('lp-secret-1'), verifyTokenHash: null });
    const meta = await addChannel(stack.db.db, { tenantId: lp.tenant.id, provider: 'meta', externalId: '620000000000001', verifyToken: 'verify-1', appSecret: 'app' });
    expect(await rowOf(meta.id)).toMatchObject({ verifyTokenHash: credentialHash('verify-1'), webhookSecretHash: null });
    await updateChannel(stack.db.db, { channel: meta.id, change: { verifyToken: 'verify-2', webhookSecret: 'ws' } });
    expect(await rowOf(meta.id)).toMatchObject({ verifyTokenHash: credentialHash('verify-2'), webhookSecretHash: credentialHash('ws') });
    await updateChannel(stack.db.db, { channel: meta.id, change: { verifyToken: null } });
    expect(await rowOf(meta.id)).toMatchObject({ verifyTokenHash: null, webhookSecretHash: credentialHash('ws') });
    // A change that does not touch credentials keeps them.
    await updateChannel(stack.db.db, { channel: meta.id, change: { name: 'Renamed' } });
    expect(await rowOf(meta.id)).toMatchObject({ webhookSecretHash: credentialHash('ws') });
  });

  it('authenticates a LancePilot post through the hashed column, with no credential value readable in SQL', async () => {
    const channel = await addChannel(stack.db.db, { tenantId: lp.tenant.id, provider: 'lancepilot', externalId: 'ws-scrubbed', accessToken: 'x', webhookSecret: 'lp-secret-scrubbed' });
    await scrubCredentials(channel.id);
    const body = fixture('lancepilot', 'message-received');
    const ok = await postJson(`${stack.url}/webhooks/lancepilot`, body, { 'x-webhook-token': 'lp-secret-scrubbed' });
    expect(ok.status).toBe(200);
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, ok.body.eventId));
    expect(event!.tenantId).toBe(lp.tenant.id);
    // The account in the path must be the token's channel.
    expect((await postJson(`${stack.url}/webhooks/lancepilot/ws-hash`, body, { 'x-webhook-token': 'lp-secret-scrubbed' })).status).toBe(401);
    expect((await postJson(`${stack.url}/webhooks/lancepilot/ws-scrubbed`, body, { 'x-webhook-token': 'lp-secret-scrubbed' })).status).toBe(200);
  });

  it('looks all presented tokens up in one query, and remembers a wrong one', async () => {
    const body = fixture('lancepilot', 'message-received');
    // Seven places a token can come from: one query for all of them.
    const headers = { 'x-zapflow-secret': 'w1', 'x-webhook-secret': 'w2', 'x-webhook-token': 'w3', 'x-api-key': 'w4', apikey: 'w5', authorization: 'Bearer w6' };
    const first = await countWork({ lookups: channelLookups }, async () => {
      expect((await postJson(`${stack.url}/webhooks/lancepilot?token=w7`, body, headers)).status).toBe(401);
    });
    expect(first.lookups).toBe(1);
    const again = await countWork({ lookups: channelLookups }, async () => {
      expect((await postJson(`${stack.url}/webhooks/lancepilot?token=w7`, body, headers)).status).toBe(401);
    });
    expect(again.lookups).toBe(0);
    // The right token among wrong ones still authenticates.
    expect((await postJson(`${stack.url}/webhooks/lancepilot`, body, { ...headers, 'x-webhook-token': 'lp-secret-1' })).status).toBe(200);
  });

  it("answers Meta's verify-token handshake through the hashed column", async () => {
    const meta = await addChannel(stack.db.db, { tenantId: lp.tenant.id, provider: 'meta', externalId: '620000000000002', verifyToken: 'verify-scrubbed', appSecret: 'app' });
    await scrubCredentials(meta.id);
    const ok = await fetch(`${stack.url}/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-scrubbed&hub.challenge=42`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('42');
    expect((await getJson(`${stack.url}/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42`)).status).toBe(403);
  });

  it('backfills the hashes of channels stored before the migration, as the code computes them', async () => {
    const old = await addChannel(stack.db.db, { tenantId: lp.tenant.id, provider: 'lancepilot', externalId: 'ws-old', webhookSecret: 'çegredo-antigo', verifyToken: 'vt-antigo' });
    const empty = await addChannel(stack.db.db, { tenantId: lp.tenant.id, provider: 'lancepilot', externalId: 'ws-empty', webhookSecret: '' });
    // As rows written before migration 0007: plaintext credentials (sealing came later, in
    // migrate's data step, after the SQL migrations) and no hashes.
    await stack.db.db.update(channels).set({ webhookSecretHash: null, verifyTokenHash: null });
    await stack.db.db.update(channels).set({ credentials: { webhookSecret: 'çegredo-antigo', verifyToken: 'vt-antigo' } }).where(eq(channels.id, old.id));
    await stack.db.db.update(channels).set({ credentials: { webhookSecret: '' } }).where(eq(channels.id, empty.id));
    await stack.db.db.update(channels).set({ credentials: { accessToken: 'lp-access', webhookSecret: 'lp-secret-1' } }).where(eq(channels.id, lp.channel.id));
    const backfill = fs
      .readFileSync(MIGRATION, 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.replace(/^--.*$/gm, '').trim())
      .filter((s) => s.startsWith('UPDATE'));
    expect(backfill).toHaveLength(2);
    for (const statement of backfill) await stack.db.db.execute(sql.raw(statement));
    expect(await rowOf(old.id)).toMatchObject({ webhookSecretHash: credentialHash('çegredo-antigo'), verifyTokenHash: credentialHash('vt-antigo') });
    expect(await rowOf(empty.id)).toMatchObject({ webhookSecretHash: null, verifyTokenHash: null });
    expect(await rowOf(lp.channel.id)).toMatchObject({ webhookSecretHash: credentialHash('lp-secret-1') });
    stack.ingestRuntime.ingest.directory.invalidate();
    expect((await postJson(`${stack.url}/webhooks/lancepilot?token=${encodeURIComponent('çegredo-antigo')}`, fixture('lancepilot', 'message-received'))).status).toBe(200);
  });
});
