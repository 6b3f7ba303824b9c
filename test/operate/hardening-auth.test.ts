/**
 * Issue 20, "Unauthenticated cost" on /api and /admin: the key is checked before the body is
 * read; failed authentications are counted per address (AUTH_FAILURE_LIMIT per
 * AUTH_FAILURE_WINDOW) and answered 429 for the rest of the window without a database query,
 * while keys known valid keep working from that address; ADMIN_API_KEY has at least 32
 * characters. Work is asserted (zapflow_api_key_lookups_total), never time.
 */
import { loadConfig } from '../../src/config';
import { apiKeyLookups } from '../../src/metrics';
import { createTenant } from '../../src/services/tenants';
import { countWork } from '../support/counters';
import { getJson } from '../support/http';
import { startStack, type Stack } from '../support/stack';

const ADMIN = 'admin-hardening-0123456789abcdef0123456789';

describe('hardening: /api and /admin authenticate first and limit failed authentications per address', () => {
  let stack: Stack;
  let apiKey: string;
  // Requests come from loopback, a trusted proxy (TRUST_PROXY): X-Forwarded-For names the client.
  const call = (path: string, opts: { from: string; key?: string; method?: string; body?: string }) =>
    getJson(`${stack.url}${path}`, {
      method: opts.method ?? 'GET',
      headers: {
        'x-forwarded-for': opts.from,
        ...(opts.key !== undefined ? { authorization: `Bearer ${opts.key}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: opts.body,
    });

  beforeAll(async () => {
    // Windows and cache far longer than the test: nothing here depends on timing.
    stack = await startStack({ worker: false, env: { ADMIN_API_KEY: ADMIN, AUTH_FAILURE_WINDOW: '1h', API_KEY_CACHE: '1h' } });
    apiKey = (await createTenant(stack.db.db, { name: 'Loja' })).apiKey;
  });
  afterAll(() => stack.close());

  it('answers a wrong key with an invalid JSON body 401, not 400: the key is checked before the body is read', async () => {
    const bad = await call('/api/funnels', { from: '198.51.100.1', key: 'zf_wrong', method: 'POST', body: '{"name": ' });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthorized');
    const noKey = await call('/api/funnels', { from: '198.51.100.1', method: 'POST', body: '{"name": ' });
    expect(noKey.status).toBe(401);
    const admin = await call('/admin/tenants', { from: '198.51.100.1', key: 'not-the-admin-key', method: 'POST', body: '{"name": ' });
    expect(admin.status).toBe(401);
    // With the right key the same body is a 400, as before.
    expect((await call('/api/funnels', { from: '198.51.100.1', key: apiKey, method: 'POST', body: '{"name": ' })).status).toBe(400);
    expect((await call('/admin/tenants', { from: '198.51.100.1', key: ADMIN, method: 'POST', body: '{"name": ' })).status).toBe(400);
  });

  it('answers 429 to an address after 20 failed authentications, without a query, while valid keys and other addresses pass', async () => {
    const attacker = '203.0.113.7';
    // The tenant's key, used once from this address: known valid from now on.
    expect((await call('/api/funnels', { from: attacker, key: apiKey })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call('/api/funnels', { from: attacker, key: `zf_guess_${i}` })).status);
    expect(statuses).toEqual(Array(20).fill(401));

    // The 21st: refused before the key is looked up.
    const spent = await countWork({ lookups: apiKeyLookups }, async () => {
      const blocked = await call('/api/funnels', { from: attacker, key: 'zf_guess_21' });
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe('rate_limited');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await call('/api/funnels', { from: attacker })).status).toBe(429);
      expect((await call('/admin/tenants', { from: attacker, key: 'not-the-admin-key' })).status).toBe(429);
    });
    expect(spent.lookups).toBe(0);

    // Authenticated traffic from the same address is not limited by this.
    expect((await call('/api/funnels', { from: attacker, key: apiKey })).status).toBe(200);
    expect((await call('/admin/tenants', { from: attacker, key: ADMIN })).status).toBe(200);
    // Another address is unaffected.
    expect((await call('/api/funnels', { from: '203.0.113.8', key: 'zf_wrong' })).status).toBe(401);
    expect((await call('/api/funnels', { from: '203.0.113.8', key: apiKey })).status).toBe(200);
  });

  it('does not count authenticated requests against the address', async () => {
    const office = '192.0.2.50';
    for (let i = 0; i < 30; i++) expect((await call('/api/funnel-runs', { from: office, key: apiKey })).status).toBe(200);
    expect((await call('/api/funnels', { from: office, key: 'zf_wrong' })).status).toBe(401);
  });

  it('trusts a valid key from its cache without a query, and forgets it at once when revoked through /admin', async () => {
    const from = '192.0.2.60';
    const created = await getJson(`${stack.url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({ name: 'Loja Revogada' }),
    });
    expect(created.status).toBe(201);
    const key = created.body.apiKey as string;
    expect((await call('/api/funnels', { from, key })).status).toBe(200);
    const cached = await countWork({ lookups: apiKeyLookups }, async () => {
      for (let i = 0; i < 5; i++) expect((await call('/api/funnels', { from, key })).status).toBe(200);
    });
    expect(cached.lookups).toBe(0);
    expect((await call(`/admin/api-keys/${created.body.apiKeyId}`, { from, key: ADMIN, method: 'DELETE' })).status).toBe(204);
    // API_KEY_CACHE is an hour here: only the revocation clearing the cache explains a 401.
    expect((await call('/api/funnels', { from, key })).status).toBe(401);
  });

  it('refuses an ADMIN_API_KEY shorter than 32 characters at start-up', () => {
    expect(() => loadConfig({ ADMIN_API_KEY: 'short-admin-key' })).toThrow(/ADMIN_API_KEY: must be at least 32 characters/);
    expect(loadConfig({ ADMIN_API_KEY: ADMIN }).ADMIN_API_KEY).toBe(ADMIN);
  });
});
