/**
 * Secrets at rest and in logs: channel credentials sealed (AES-256-GCM) in the table and in a
 * database dump, opened only to call the provider or check a webhook; Evolution's apikey not
 * kept in stored bodies; plaintext rows sealed by migrate; a key rotation; SQL parameters
 * never in logged errors; CLI secrets from a file or standard input.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { isSealed, loadKeyring, openCredentials, useKeyring, type StoredCredentials } from '../../src/db/credentials';
import { apiKeys, channels, webhookEvents } from '../../src/db/schema';
import { createLogger } from '../../src/log';
import { addChannel } from '../../src/services/channels';
import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { runCli } from '../support/cli';
import { getJson, postJson } from '../support/http';
import { evolutionText } from '../support/payloads';
import { eventually, seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const TOKEN = 'evo-instance-token-7f3a9c2e51';
const SECRET = 'webhook-secret-b81d44e0aa';

describe('secrets', () => {
  let stack: Stack;
  let evolution: EvolutionFake;
  let seeded: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const credentialsOf = async (id: string) => (await stack.db.db.select().from(channels).where(eq(channels.id, id)))[0]!.credentials;

  beforeAll(async () => {
    evolution = await startEvolutionFake({ apiKey: TOKEN, instances: ['loja-segura'] });
    stack = await startStack();
    seeded = await seedTenantWithChannel(stack.db, 'Loja Segura', {
      provider: 'evolution',
      externalId: 'loja-segura',
      baseUrl: evolution.server.url,
      apiKey: TOKEN,
      webhookSecret: SECRET,
    });
  });
  afterAll(async () => {
    useKeyring(undefined);
    await stack?.close();
    await evolution?.close();
  });

  it('keeps credentials sealed in the table, opens them for the provider call and the webhook check', async () => {
    const stored = await credentialsOf(seeded.channel.id);
    expect(isSealed(stored)).toBe(true);
    expect(stored).toMatchObject({ $sealed: 1, fields: ['apiKey', 'webhookSecret'] });
    const [raw] = await stack.db.db.select({ text: sql<string>`${channels.credentials}::text` }).from(channels).where(eq(channels.id, seeded.channel.id));
    expect(raw!.text).not.toContain(TOKEN);
    expect(raw!.text).not.toContain(SECRET);

    // A webhook authenticates with the sealed secret; Evolution's apikey in the body is not stored.
    const posted = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-segura', phone: '5511987650001', text: 'oi', apikey: TOKEN }), {
      'x-zapflow-secret': SECRET,
    });
    expect(posted.status).toBe(200);
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, posted.body.eventId));
    expect(event!.rawBody).not.toContain(TOKEN);
    expect(JSON.parse(event!.rawBody)).toMatchObject({ apikey: '[removed]', instance: 'loja-segura' });
    expect((await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-segura', phone: '5511987650001', text: 'x' }), { 'x-zapflow-secret': 'wrong' })).status).toBe(401);

    // A send reaches Evolution with the opened token.
    const sent = await postJson(
      `${stack.url}/api/whatsapp/send-message`,
      { instanceName: 'loja-segura', phoneNumber: '5511987650001', message: 'Olá!' },
      { authorization: `Bearer ${seeded.apiKey}` },
    );
    expect(sent.status).toBe(200);
    await eventually(async () => evolution.sent.some((s) => s.number === '5511987650001'), 15_000, 'the send');

    // Nowhere in a dump of the whole database (when it is a PostgreSQL one).
    if (stack.db.url) {
      const dump = execFileSync('pg_dump', ['--data-only', stack.db.url], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      expect(dump).toContain('loja-segura');
      expect(dump).not.toContain(TOKEN);
      expect(dump).not.toContain(SECRET);
    }
  });

  it('seals plaintext rows at migrate and reseals under a new key on rotation', async () => {
    const plain = await addChannel(stack.db.db, { tenantId: seeded.tenant.id, provider: 'meta', externalId: 'pn-legacy', accessToken: 'legacy-token-1' });
    // As a row written before sealing existed.
    await stack.db.db.update(channels).set({ credentials: { accessToken: 'legacy-token-1' } as StoredCredentials }).where(eq(channels.id, plain.id));
    await stack.db.migrate();
    const sealed = await credentialsOf(plain.id);
    expect(isSealed(sealed)).toBe(true);
    expect(openCredentials(sealed)).toEqual({ accessToken: 'legacy-token-1' });

    if (!stack.db.url) return; // the CLI needs a shared database
    const oldKey = fs.readFileSync(path.resolve('.data/secret.key'), 'utf8').trim();
    const newKey = randomBytes(32).toString('base64');
    const env = { DATABASE_URL: stack.db.url, ZAPFLOW_SECRET_KEY: newKey, ZAPFLOW_SECRET_KEYS_PREVIOUS: oldKey };
    const rotated = await runCli(['secrets', 'rotate', '--json'], env);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const ring = loadKeyring({ ZAPFLOW_SECRET_KEY: newKey, ZAPFLOW_SECRET_KEYS_PREVIOUS: [], DATA_DIR: os.tmpdir() });
    expect(JSON.parse(rotated.stdout)).toMatchObject({ currentKey: ring.current.id, unreadable: [] });
    const after = await credentialsOf(plain.id);
    expect(after).toMatchObject({ kid: ring.current.id });
    expect(openCredentials(after, ring)).toEqual({ accessToken: 'legacy-token-1' });
    // This process still has only the old key: it says which key it lacks.
    expect(() => openCredentials(after)).toThrow(/encrypted with key .* does not have/);
    const status = await runCli(['secrets', 'status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ currentKey: ring.current.id, channelsByKey: { [ring.current.id]: expect.any(Number) } });
    // Back under the old key, so the rest of the suite's process can open them.
    const back = await runCli(['secrets', 'rotate'], { DATABASE_URL: stack.db.url, ZAPFLOW_SECRET_KEY: oldKey, ZAPFLOW_SECRET_KEYS_PREVIOUS: newKey });
    expect(back.code).toBe(0);
    expect(openCredentials(await credentialsOf(plain.id))).toEqual({ accessToken: 'legacy-token-1' });
  });

  it('never logs the parameters of a failed statement', async () => {
    const token = 'zf_leaked-token-0d9c1b';
    let err: unknown;
    try {
      // A foreign-key violation: the statement's parameters include the token.
      await stack.db.db.insert(apiKeys).values({ tenantId: '00000000-0000-4000-8000-000000000000', name: token, prefix: 'zf_x', hash: token });
    } catch (e) {
      err = e;
    }
    expect(String((err as Error).message)).toContain(token); // drizzle does put it in the message
    let output = '';
    const log = createLogger(new Writable({ write: (chunk: Buffer, _enc, done) => ((output += chunk.toString()), done()) }));
    log.error({ err }, 'insert failed');
    log.warn({ err: (err as Error).message }, 'insert failed (message only)');
    expect(output).toContain('Failed query');
    expect(output).not.toContain(token);
  });

  it('takes CLI secrets from a file or standard input, not only from arguments', async () => {
    if (!stack.db.url) return;
    const env = { DATABASE_URL: stack.db.url };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-secret-')), 'token');
    fs.writeFileSync(file, 'token-from-file-1\n', { mode: 0o600 });
    const fromFile = await runCli(['channels', 'add', '--tenant', seeded.tenant.id, '--provider', 'meta', '--external-id', 'pn-file', '--access-token', `@${file}`, '--json'], env);
    expect(fromFile.code).toBe(0);
    const fileChannel = JSON.parse(fromFile.stdout) as { channelId: string };
    expect(openCredentials(await credentialsOf(fileChannel.channelId))).toEqual({ accessToken: 'token-from-file-1' });

    const fromStdin = await runCli(['channels', 'update', 'pn-file', '--app-secret', '-', '--json'], env, 60_000, 'secret-from-stdin-2\n');
    expect(fromStdin.code).toBe(0);
    expect(openCredentials(await credentialsOf(fileChannel.channelId))).toEqual({ accessToken: 'token-from-file-1', appSecret: 'secret-from-stdin-2' });

    const twice = await runCli(['channels', 'update', 'pn-file', '--app-secret', '-', '--access-token', '-'], env, 60_000, 'x');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/only one option can be read from standard input/);
    const listed = await getJson(`${stack.url}/health`);
    expect(listed.status).toBe(200);
  });
});
