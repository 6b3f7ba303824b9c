import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { apiKeys } from '../../src/db/schema';
import { freePort } from '../../src/temporal/devServer';
import { tenantForApiKey } from '../../src/services/tenants';
import { openDb } from '../../src/db/client';
import { ZAPFLOW_BIN, runCli } from '../support/cli';
import { createTestDb, type TestDb } from '../support/harness';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

// Each command is a fresh process (tsx compiling on start): slow on a loaded 2-core machine.
jest.setTimeout(180_000);

describe('zapflow CLI', () => {
  let db: TestDb;
  let env: Record<string, string | undefined>;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDb();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-cli-'));
    // On PostgreSQL the CLI uses this file's database; without one, a PGlite dir of its own.
    env = { DATABASE_URL: db.url ?? '', DATA_DIR: dataDir };
  });
  afterAll(async () => {
    await db.drop();
  });

  it('has --help on every command', async () => {
    const commands = [[], ['dev'], ['api'], ['worker'], ['migrate'], ['tenants', 'create'], ['channels', 'add']];
    const results = await Promise.all(commands.map((args) => runCli([...args, '--help'], env)));
    for (const res of results) {
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/Usage: zapflow/);
    }
  });

  it('creates a tenant (key shown once, stored hashed) and channels', async () => {
    const created = await runCli(['tenants', 'create', '--name', 'Loja Centro', '--json'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const tenant = JSON.parse(created.stdout);
    expect(tenant).toMatchObject({ tenantId: expect.any(String), name: 'Loja Centro', apiKey: expect.stringMatching(/^zf_/) });

    const check = db.url ? db : await openDb({ pgliteDir: path.join(dataDir, 'pglite') });
    try {
      expect(await tenantForApiKey(check.db, tenant.apiKey)).toMatchObject({ tenantId: tenant.tenantId });
      const stored = await check.db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenant.tenantId));
      expect(JSON.stringify(stored)).not.toContain(tenant.apiKey);
    } finally {
      if (check !== db) await check.close();
    }

    const channel = await runCli(
      ['channels', 'add', '--tenant', tenant.tenantId, '--provider', 'meta', '--external-id', '600000000000001', '--app-secret', 's3cr3t', '--json'],
      env,
    );
    expect(channel.code).toBe(0);
    expect(JSON.parse(channel.stdout)).toMatchObject({ channelId: expect.any(String), provider: 'meta', externalId: '600000000000001' });

    const again = await runCli(['channels', 'add', '--tenant', tenant.tenantId, '--provider', 'meta', '--external-id', '600000000000001'], env);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('zapflow: a meta channel with external id "600000000000001" already exists');

    const noUrl = await runCli(['channels', 'add', '--tenant', tenant.tenantId, '--provider', 'evolution', '--external-id', 'loja-centro'], env);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/--base-url: is required for evolution/);

    const badProvider = await runCli(['channels', 'add', '--tenant', tenant.tenantId, '--provider', 'telegram', '--external-id', 'x'], env);
    expect(badProvider.code).not.toBe(0);
    expect(badProvider.stderr).toMatch(/telegram/);

    // Update by external id: a credential, the quotas and pacing of this number, groups.
    const updated = await runCli(
      ['channels', 'update', '600000000000001', '--access-token', 'EAAG-new', '--send-limits', '{"perMinute":30,"minGapMs":2000}', '--allow-groups', '--json'],
      env,
    );
    expect(updated.stderr).toBe('');
    expect(JSON.parse(updated.stdout)).toMatchObject({
      externalId: '600000000000001',
      credentialsSet: ['appSecret', 'accessToken'],
      settings: { allowGroups: true, sendLimits: { perMinute: 30, minGapMs: 2000 } },
    });
    expect(updated.stdout).not.toContain('EAAG-new');
    const merged = await runCli(['channels', 'update', '600000000000001', '--send-limits', '{"perDay":500}', '--no-allow-groups', '--json'], env);
    expect(JSON.parse(merged.stdout).settings).toEqual({ allowGroups: false, sendLimits: { perMinute: 30, minGapMs: 2000, perDay: 500 } });
    const list = await runCli(['channels', 'list', '--tenant', tenant.tenantId, '--json'], env);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ externalId: '600000000000001', provider: 'meta' })]);
    expect(list.stdout).not.toContain('s3cr3t');
    const badLimits = await runCli(['channels', 'update', '600000000000001', '--send-limits', '{"perMinute":-1}'], env);
    expect(badLimits.code).toBe(2);
    expect(badLimits.stderr).toMatch(/send-limits/);
    const notJson = await runCli(['channels', 'update', '600000000000001', '--lancepilot-mapping', '{oops'], env);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/--lancepilot-mapping: not JSON/);
    const unknown = await runCli(['channels', 'update', 'nao-existe', '--allow-groups'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/channel nao-existe not found/);
  });

  it('stops with one line naming a bad variable', async () => {
    const res = await runCli(['migrate'], { ...env, PORT: 'abc' });
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(/^zapflow: Invalid configuration: PORT: /);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('dev brings up API, worker, Temporal and its Web UI, and Ctrl-C leaves nothing behind', async () => {
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const devDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-dev-'));
    const child = spawn(process.execPath, [ZAPFLOW_BIN, 'dev'], {
      env: {
        ...process.env,
        DATABASE_URL: '', // embedded PGlite, as a newcomer gets it
        TEMPORAL_ADDRESS: '',
        DATA_DIR: devDir,
        PORT: String(port),
        TEMPORAL_DEV_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let health: { status: number; body: any } | undefined;
      for (let i = 0; i < 240 && health?.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          health = { status: res.status, body: await res.json() };
        } catch {
          // not up yet
        }
      }
      expect(health?.status).toBe(200);
      expect(health?.body.checks.temporal.status).toBe('up');
      expect(health?.body.checks.database.status).toBe('up');
      expect(await portOpen(uiPort)).toBe(true);
      expect(output).toMatch(/API key \(shown once/);
      expect(fs.readFileSync(path.join(devDir, 'demo-api-key.txt'), 'utf8')).toMatch(/^zf_/);
    } finally {
      child.kill('SIGINT');
      const code = await exited;
      expect(code).toBe(0);
    }
    // Nothing left listening: API, Temporal frontend, Web UI.
    for (const p of [port, temporalPort, uiPort]) expect(await portOpen(p)).toBe(false);
  }, 120_000);
});
