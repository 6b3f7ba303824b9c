/**
 * Malformed input everywhere: 200 bodies per route (truncated JSON, wrong types, huge strings,
 * deep nesting, unicode, arrays for objects, nulls, numbers out of range), sent with valid
 * credentials so they reach the parsers. No 5xx, the process stays up, and what was accepted
 * before is still there. The bodies come from a seeded generator: a failure names the seed
 * and the body index, so it can be replayed.
 */
import { eq } from 'drizzle-orm';
import { messages } from '../../src/db/schema';
import { getJson, postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const ADMIN = 'fuzz-admin-key-0123456789abcdefghijklmnop';
const SEED = 20261207;
const PER_ROUTE = 200;

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', ' ', 'a'.repeat(70_000), '😀'.repeat(5_000), '\u0000\u0001\u202e', 'ção ÇÃO ñ 日本語 עברית', '<script>alert(1)</script>', "' or 1=1 --", '%s%n%x', '{{name}}', '1e309', '-0', 'null', '9'.repeat(400)];
const SCALARS: unknown[] = [null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.1, NaN, ...STRINGS];

function value(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth > 3 || pick < 0.45) return SCALARS[Math.floor(r() * SCALARS.length)];
  if (pick < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  const keys = ['message', 'text', 'phoneNumber', 'instanceName', 'name', 'trigger', 'steps', 'entry', 'data', 'event', 'instance', 'ai', 'followUp', 'scheduledFor', 'until', 'snippets', 'content', 'timezone', 'buttons', 'media', 'template', 'id', 'type', 'sendLimits', 'adminContact', 'provider', 'externalId'];
  return Object.fromEntries(Array.from({ length: 1 + Math.floor(r() * 6) }, () => [keys[Math.floor(r() * keys.length)], value(r, depth + 1)]));
}

function deep(n: number): string {
  return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
}

/** The i-th malformed body: raw text, sent as application/json. */
function body(r: () => number, i: number, sample: unknown): string {
  const valid = JSON.stringify(sample);
  switch (i % 10) {
    case 0:
      return valid.slice(0, Math.floor(r() * valid.length)); // truncated
    case 1:
      return deep(1 + Math.floor(r() * 5_000)); // deep nesting
    case 2:
      return JSON.stringify([sample, sample]); // an array for an object
    case 3:
      return JSON.stringify(value(r, 0));
    case 4: {
      // the sample with one field's value replaced by something of another type
      const copy = JSON.parse(valid) as Record<string, unknown>;
      const keys = Object.keys(copy);
      if (keys.length) copy[keys[Math.floor(r() * keys.length)]!] = value(r, 2);
      return JSON.stringify(copy);
    }
    case 5:
      return JSON.stringify(STRINGS[Math.floor(r() * STRINGS.length)]);
    case 6:
      return '\u0000\u00ff{not json at all';
    case 7:
      return JSON.stringify({ ...(sample as object), extra: 'x'.repeat(Math.floor(r() * 200_000)) });
    case 8:
      return JSON.stringify(sample).replace(/"[^"]*"/g, () => JSON.stringify(STRINGS[Math.floor(r() * STRINGS.length)]));
    default:
      return JSON.stringify(value(r, 0)).replace(/,/g, r() < 0.5 ? ',,' : ',');
  }
}

describe('fuzz: malformed bodies on every route', () => {
  let stack: Stack;
  let seeded: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, RATE_LIMIT_MAX: '100000', META_APP_SECRET: 'fuzz-meta-secret' } });
    seeded = await seedTenantWithChannel(stack.db, 'Loja Fuzz', { provider: 'evolution', externalId: 'loja-fuzz', baseUrl: 'http://127.0.0.1:1', apiKey: 'k', webhookSecret: 'fuzz-secret' });
  });
  afterAll(() => stack?.close());

  it('answers every malformed body with a 2xx or 4xx, stays up and loses nothing accepted before', async () => {
    const accepted = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-fuzz', phone: '5511955550001', text: 'antes do fuzz', id: uniqueId() }), {
      'x-zapflow-secret': 'fuzz-secret',
    });
    expect(accepted.status).toBe(200);

    const tenant = { authorization: `Bearer ${seeded.apiKey}` };
    const admin = { authorization: `Bearer ${ADMIN}` };
    const webhook = { 'x-zapflow-secret': 'fuzz-secret' };
    const uuid = '00000000-0000-4000-8000-000000000001';
    const sampleSend = { instanceName: 'loja-fuzz', phoneNumber: '5511955550002', message: 'oi' };
    const routes: Array<{ method: string; path: string; headers: Record<string, string>; sample: unknown }> = [
      { method: 'POST', path: '/webhooks/evolution', headers: webhook, sample: evolutionText({ instance: 'loja-fuzz', phone: '5511955550003', text: 'x' }) },
      { method: 'POST', path: '/webhooks/evolution/messages-upsert', headers: webhook, sample: evolutionText({ instance: 'loja-fuzz', phone: '5511955550003', text: 'x' }) },
      { method: 'POST', path: '/webhooks/meta', headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, sample: { object: 'whatsapp_business_account', entry: [] } },
      { method: 'POST', path: '/webhooks/lancepilot?token=fuzz-secret', headers: {}, sample: { event: 'message.received', data: { from: '5511955550004', text: 'x' } } },
      { method: 'POST', path: '/webhooks/lancepilot/ws-fuzz', headers: { 'x-webhook-token': 'nope' }, sample: { event: 'message.received' } },
      { method: 'POST', path: '/api/funnels', headers: tenant, sample: { name: 'f', trigger: { type: 'keyword', phrase: 'oi' }, steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'x' } }] } },
      { method: 'PUT', path: `/api/funnels/${uuid}`, headers: tenant, sample: { name: 'f', trigger: { type: 'keyword', phrase: 'oi' }, steps: [] } },
      { method: 'POST', path: `/api/funnels/${uuid}/activate`, headers: tenant, sample: {} },
      { method: 'POST', path: '/api/funnel-runs/x/cancel', headers: tenant, sample: { reason: 'x' } },
      { method: 'POST', path: '/api/whatsapp/send-message', headers: tenant, sample: sampleSend },
      { method: 'POST', path: '/api/whatsapp/schedule-message', headers: tenant, sample: { ...sampleSend, scheduledFor: '2030-01-01T09:00:00-03:00' } },
      { method: 'PATCH', path: `/api/whatsapp/schedules/${uuid}`, headers: tenant, sample: { scheduledFor: '2030-01-01T09:00:00-03:00' } },
      { method: 'PATCH', path: '/api/settings', headers: tenant, sample: { timezone: 'America/Sao_Paulo' } },
      { method: 'POST', path: '/api/contacts/5511955550005/handover', headers: tenant, sample: { until: '2030-01-01T00:00:00Z', reason: 'x' } },
      { method: 'POST', path: '/api/knowledge', headers: tenant, sample: { title: 't', content: 'c' } },
      { method: 'PUT', path: '/api/conversations/settings', headers: tenant, sample: { ai: { replies: true }, followUp: { enabled: false } } },
      { method: 'POST', path: '/admin/tenants', headers: admin, sample: { name: 'T', timezone: 'America/Sao_Paulo' } },
      { method: 'POST', path: `/admin/tenants/${seeded.tenant.id}/api-keys`, headers: admin, sample: { name: 'k' } },
      { method: 'POST', path: `/admin/tenants/${seeded.tenant.id}/channels`, headers: admin, sample: { provider: 'meta', externalId: 'pn' } },
      { method: 'PATCH', path: `/admin/channels/${seeded.channel.id}`, headers: admin, sample: { name: 'n' } },
    ];
    // Query strings too, on the routes that read them.
    const queries = ['/api/funnel-runs?status=', '/api/funnel-runs?since=%E0%A4%A', '/api/knowledge/search?q=', '/api/conversations/ai-calls?limit=-5', '/api/funnel-runs?limit=1e400&since=99999d'];

    const r = rng(SEED);
    const failures: string[] = [];
    for (const route of routes) {
      for (let i = 0; i < PER_ROUTE; i++) {
        const text = body(r, i, route.sample);
        let status: number;
        try {
          const res = await fetch(`${stack.url}${route.path}`, { method: route.method, headers: { 'content-type': 'application/json', ...route.headers }, body: text });
          status = res.status;
          await res.arrayBuffer();
        } catch (err) {
          failures.push(`${route.method} ${route.path} #${i}: ${(err as Error).message}`);
          continue;
        }
        if (status >= 500) failures.push(`${route.method} ${route.path} #${i} (seed ${SEED}): ${status} for ${text.slice(0, 120)}`);
      }
    }
    for (const q of queries) {
      const res = await getJson(`${stack.url}${q}`, { headers: tenant });
      if (res.status >= 500) failures.push(`GET ${q}: ${res.status}`);
    }
    expect(failures).toEqual([]);

    expect((await getJson(`${stack.url}/health`)).status).toBe(200);
    const [kept] = await stack.db.db.select().from(messages).where(eq(messages.body, 'antes do fuzz'));
    expect(kept).toBeDefined();
  }, 240_000);

  it('stores a webhook whose text carries a NUL character (removed) and refuses one in an API body, naming the field', async () => {
    const id = uniqueId();
    const res = await postJson(`${stack.url}/webhooks/evolution`, evolutionText({ instance: 'loja-fuzz', phone: '5511955550009', text: 'a\u0000b', id }), { 'x-zapflow-secret': 'fuzz-secret' });
    expect(res.status).toBe(200);
    const [row] = await stack.db.db.select().from(messages).where(eq(messages.providerMessageId, id));
    expect(row!.body).toBe('ab');
    const api = await postJson(`${stack.url}/api/knowledge`, { title: 't', content: 'x\u0000y' }, { authorization: `Bearer ${seeded.apiKey}` });
    expect(api.status).toBe(400);
    expect(api.body.error.message).toMatch(/^content: contains a NUL character/);
  });
});
