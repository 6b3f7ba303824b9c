/**
 * `zapflow api --processes 2`, run as a user runs it: several HTTP processes on one port,
 * sharing rate-limit counters and /metrics through the primary, a dead process replaced,
 * SIGTERM stopping them all. Each request below opens its own connection, so the primary
 * hands consecutive requests to different processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { eq } from 'drizzle-orm';
import { messages } from '../../src/db/schema';
import { freePort } from '../../src/temporal/devServer';
import { ZAPFLOW_BIN } from '../support/cli';
import { createTestDb, temporalAddress, type TestDb } from '../support/harness';
import { evolutionText } from '../support/payloads';
import { eventually, seedTenantWithChannel } from '../support/stack';

const usesPostgres = !!process.env.DATABASE_URL;

/** One request on a connection of its own (no keep-alive), so it may reach any process. */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * The primary's HTTP processes. Not its other children: with a cold transform cache (a
 * source file changed since the last run) tsx runs an esbuild service beside them.
 */
function childPids(pid: number): number[] {
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return pids.filter((child) => {
    try {
      return !fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('esbuild');
    } catch {
      return false; // gone meanwhile
    }
  });
}

(usesPostgres ? describe : describe.skip)('zapflow api --processes 2 (node:cluster)', () => {
  let db: TestDb;
  let api: ChildProcess;
  let url: string;
  let output = '';
  let seeded: Awaited<ReturnType<typeof seedTenantWithChannel>>;

  beforeAll(async () => {
    db = await createTestDb();
    seeded = await seedTenantWithChannel(db, 'Loja Cluster', { provider: 'evolution', externalId: 'inst-cluster', baseUrl: 'http://127.0.0.1:1', webhookSecret: 's3cret' });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [ZAPFLOW_BIN, 'api', '--processes', '2'], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: temporalAddress(),
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
        RATE_LIMIT_MAX: '6',
        RATE_LIMIT_WINDOW: '1m',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    api.stdout!.on('data', (d) => (output += d));
    api.stderr!.on('data', (d) => (output += d));
    await eventually(async () => output.includes('"msg":"API listening"'), 60_000, `API listening\n${output}`);
  });

  afterAll(async () => {
    if (api.exitCode === null) api.kill('SIGKILL');
    for (const pid of childPids(api.pid!)) process.kill(pid, 'SIGKILL');
    await db.drop();
  });

  it('serves from two processes behind one port and stores webhooks', async () => {
    expect(childPids(api.pid!)).toHaveLength(2);
    const ids = ['CLUSTER-1', 'CLUSTER-2', 'CLUSTER-3', 'CLUSTER-4'];
    for (const id of ids) {
      const res = await request(`${url}/webhooks/evolution`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-zapflow-secret': 's3cret' },
        body: JSON.stringify(evolutionText({ instance: 'inst-cluster', phone: '5511977770001', text: `oi ${id}`, id })),
      });
      expect(res.status).toBe(200);
    }
    const rows = await db.db.select({ id: messages.providerMessageId }).from(messages).where(eq(messages.channelId, seeded.channel.id));
    expect(rows.map((r) => r.id).sort()).toEqual(ids);
  });

  it('shares a tenant rate limit across processes: the 7th request of 6 is refused, whichever process gets it', async () => {
    const statuses: number[] = [];
    const remaining: Array<string | undefined> = [];
    for (let i = 0; i < 8; i++) {
      const res = await request(`${url}/api/funnels`, { headers: { authorization: `Bearer ${seeded.apiKey}` } });
      statuses.push(res.status);
      remaining.push(res.headers['x-ratelimit-remaining'] as string | undefined);
    }
    // Per-process counters would have allowed 4 per process: 8 × 200.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    expect(remaining).toEqual(['5', '4', '3', '2', '1', '0', '0', '0']);
  });

  it('answers /metrics with the sum over all processes', async () => {
    const before = await request(`${url}/metrics`);
    const count = (text: string) =>
      Number(/^zapflow_http_requests_total\{route="GET \/health",status="2xx"\} (\d+)/m.exec(text)?.[1] ?? 0);
    for (let i = 0; i < 6; i++) expect((await request(`${url}/health`)).status).toBe(200);
    const after = await request(`${url}/metrics`);
    expect(after.status).toBe(200);
    // Half of these reached each process: one process's own counter would show 3.
    expect(count(after.body) - count(before.body)).toBe(6);
    // The 4 webhooks above wait for a dispatcher (none runs here). Each process reads the same
    // table: the gauge is not summed (8).
    expect(after.body).toMatch(/^zapflow_dispatch_backlog 4$/m);
  });

  it('replaces a process that dies and keeps serving', async () => {
    const [victim] = childPids(api.pid!);
    process.kill(victim!, 'SIGKILL');
    await eventually(async () => output.includes('API process died'), 15_000, 'the primary noticing');
    await eventually(async () => {
      const pids = childPids(api.pid!);
      return pids.length === 2 && !pids.includes(victim!);
    }, 30_000, 'a new process');
    for (let i = 0; i < 4; i++) expect((await request(`${url}/health`)).status).toBe(200);
  });

  it('stops every process on SIGTERM to the primary', async () => {
    const pids = childPids(api.pid!);
    const exited = new Promise<number | null>((resolve) => api.once('exit', (code) => resolve(code)));
    api.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
