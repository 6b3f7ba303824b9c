import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { getJson, postJson } from '../support/http';
import { evolutionText } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('API protection, admin keys, metrics and OpenAPI', () => {
  let stack: Stack;
  let a: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let b: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const ADMIN = 'admin-secret-key-0123456789abcdef0123';
  const get = (p: string, key?: string) => getJson(`${stack.url}${p}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  beforeAll(async () => {
    stack = await startStack({ env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m', WEBHOOK_RATE_LIMIT_MAX: '4', ADMIN_API_KEY: ADMIN } });
    a = await seedTenantWithChannel(stack.db, 'A', { provider: 'evolution', externalId: 'inst-a', baseUrl: 'http://127.0.0.1:1', webhookSecret: 'sa' });
    b = await seedTenantWithChannel(stack.db, 'B', { provider: 'evolution', externalId: 'inst-b', baseUrl: 'http://127.0.0.1:1', webhookSecret: 'sb' });
  });
  afterAll(() => stack.close());

  it('limits each tenant per route: X-RateLimit-* headers, then 429 with Retry-After', async () => {
    const seen: Array<{ status: number; limit: string | null; remaining: string | null; reset: string | null }> = [];
    for (let i = 0; i < 4; i++) {
      const res = await get('/api/funnels', a.apiKey);
      seen.push({ status: res.status, limit: res.headers.get('x-ratelimit-limit'), remaining: res.headers.get('x-ratelimit-remaining'), reset: res.headers.get('x-ratelimit-reset') });
      if (i === 3) {
        expect(res.body.error.code).toBe('rate_limited');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    expect(seen.map((s) => [s.status, s.limit, s.remaining])).toEqual([
      [200, '3', '2'],
      [200, '3', '1'],
      [200, '3', '0'],
      [429, '3', '0'],
    ]);
    expect(Number(seen[0]!.reset)).toBeGreaterThan(0);
    // Another route of the same tenant, and the same route of another tenant, have their own budgets.
    expect((await get('/api/funnel-runs', a.apiKey)).status).toBe(200);
    expect((await get('/api/funnels', b.apiKey)).status).toBe(200);
  });

  it('protects webhooks per source address, not per tenant key', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const res = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'inst-a', phone: '5511988880001', text: `m${i}` }), { 'x-zapflow-secret': 'sa' });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });

  it('creates tenants and keys through /admin (shown once, stored hashed) and revokes them', async () => {
    expect((await getJson(`${stack.url}/admin/tenants`)).status).toBe(401);
    expect((await getJson(`${stack.url}/admin/tenants`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const created = await postJson(`${stack.url}/admin/tenants`, { name: 'Loja Nova' }, { authorization: `Bearer ${ADMIN}` });
    expect(created.status).toBe(201);
    expect(created.body.apiKey).toMatch(/^zf_/);
    const bad = await postJson(`${stack.url}/admin/tenants`, { name: '' }, { authorization: `Bearer ${ADMIN}` });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('name');
    const extra = await postJson(`${stack.url}/admin/tenants/${created.body.tenantId}/api-keys`, { name: 'crm' }, { authorization: `Bearer ${ADMIN}` });
    expect(extra.status).toBe(201);
    const listed = await getJson(`${stack.url}/admin/tenants/${created.body.tenantId}/api-keys`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(listed.body.apiKeys).toHaveLength(2);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.apiKey);
    expect((await get('/api/funnel-runs', extra.body.apiKey)).status).toBe(200);
    const revoked = await getJson(`${stack.url}/admin/api-keys/${extra.body.apiKeyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(revoked.status).toBe(204);
    await new Promise((r) => setTimeout(r, 5100)); // the auth cache holds a positive answer up to 5 s
    expect((await get('/api/funnel-runs', extra.body.apiKey)).status).toBe(401);
    expect((await get('/api/funnel-runs', created.body.apiKey)).status).toBe(200);
  });

  it('exposes Prometheus metrics that parse as the text format', async () => {
    const res = await fetch(`${stack.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|NaN|[+-]Inf)( \d+)?$/;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      expect(line).toMatch(sample);
    }
    expect(text).toMatch(/^zapflow_webhooks_received_total\{provider="evolution",outcome="pending"\} [1-9]/m);
    expect(text).toMatch(/^zapflow_webhooks_received_total\{provider="evolution",outcome="http_429"\} 1/m);
    expect(text).toMatch(/^zapflow_ingest_latency_seconds_bucket\{le="0.025",provider="evolution"\} \d+/m);
    expect(text).toMatch(/^zapflow_dispatch_backlog \d+/m);
    expect(text).toMatch(/^# TYPE zapflow_funnel_runs gauge/m);
    expect(text).toMatch(/^# TYPE zapflow_sends_total counter/m);
    // A delivery in this process shows up by outcome.
    const { deliverOrFail } = await import('../../src/activities/delivery');
    await deliverOrFail({ db: stack.db.db, providers: {} as never, log: (await import('../support/harness')).testLog }, {
      tenantId: a.tenant.id,
      channelId: '00000000-0000-0000-0000-000000000000',
      contactKey: '5511999990001',
      message: { type: 'text', text: 'x' },
      idempotencyKey: 'metrics-probe',
    }).catch(() => undefined);
    const after = await (await fetch(`${stack.url}/metrics`)).text();
    expect(after).toMatch(/^zapflow_sends_total\{outcome="refused"\} [1-9]/m);
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const doc = (await get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/webhooks/meta', '/webhooks/evolution', '/webhooks/lancepilot', '/webhooks/uazapi', '/api/funnels', '/api/funnel-runs', '/api/whatsapp/send-message', '/api/whatsapp/schedule-message', '/admin/tenants']) {
      expect(doc.paths[p]).toBeDefined();
    }
    const funnelBody = doc.paths['/api/funnels'].post.requestBody.content['application/json'].schema;
    expect(funnelBody.properties.trigger.properties.match.enum).toEqual(['equals', 'contains', 'startsWith', 'regex']);
    const send = doc.paths['/api/whatsapp/send-message'].post.requestBody.content['application/json'].schema;
    expect(JSON.stringify(send)).toContain('phoneNumber');
  });

  it('has a docker-compose file that validates', () => {
    const root = path.resolve(__dirname, '../..');
    try {
      execFileSync('sh', ['-c', 'command -v docker-compose'], { stdio: 'ignore' });
    } catch {
      execFileSync('bash', [path.join(root, 'scripts/setup.sh'), 'compose'], { stdio: 'ignore' });
    }
    const config = execFileSync('docker-compose', ['-f', path.join(root, 'docker-compose.temporal.yml'), 'config'], { encoding: 'utf8' });
    for (const service of ['postgresql:', 'temporal:', 'temporal-ui:', 'temporal-admin-tools:', 'zapflow-api:', 'zapflow-worker:']) expect(config).toContain(service);
  });
});
