/**
 * Issue 20, "Metrics cardinality": /metrics labels HTTP requests by the matched route pattern
 * (or `unmatched`) and webhooks by a fixed provider set, so made-up paths make no new series.
 */
import { randomUUID } from 'node:crypto';
import { createTenant } from '../../src/services/tenants';
import { getJson, postJson } from '../support/http';
import { startStack, type Stack } from '../support/stack';

/** The label sets of one metric in a scrape. */
function series(text: string, metric: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${metric}{`))
    .map((line) => line.slice(metric.length, line.lastIndexOf('}') + 1));
}

describe('hardening: /metrics series do not grow with the paths requested', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(() => stack.close());

  it('labels by route pattern and a fixed provider set after 50 unknown paths, 50 unknown webhooks and 50 ids', async () => {
    const { apiKey } = await createTenant(stack.db.db, { name: 'Loja' });
    for (let i = 1; i <= 50; i++) {
      expect((await getJson(`${stack.url}/nope${i}`)).status).toBe(404);
      expect((await postJson(`${stack.url}/webhooks/x${i}`, { hello: i })).status).toBe(404);
      expect((await getJson(`${stack.url}/api/funnels/${randomUUID()}`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(404);
    }
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    expect(text).not.toMatch(/nope\d|\/x\d|provider="x\d/);

    const http = series(text, 'zapflow_http_requests_total');
    expect(http).toContain('{route="unmatched",status="4xx"}');
    expect(http).toContain('{route="GET /api/funnels/:id",status="4xx"}');
    // Everything requested above fits in a handful of series.
    expect(http.length).toBeLessThanOrEqual(5);

    const providers = new Set(series(text, 'zapflow_webhooks_received_total').map((labels) => /provider="([^"]*)"/.exec(labels)?.[1]));
    expect([...providers]).toEqual(['other']);
    expect(text).toMatch(/^zapflow_webhooks_received_total\{provider="other",outcome="http_404"\} 50$/m);
    const latency = new Set(series(text, 'zapflow_ingest_latency_seconds_count').map((labels) => labels));
    expect([...latency]).toEqual(['{provider="other"}']);
  });

  it('keeps each known route under its own pattern', async () => {
    expect((await getJson(`${stack.url}/health`)).status).toBeLessThan(600);
    await postJson(`${stack.url}/webhooks/meta`, {}, {});
    await postJson(`${stack.url}/webhooks/evolution/messages-upsert`, {}, {});
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const routes = new Set(series(text, 'zapflow_http_requests_total').map((labels) => /route="([^"]*)"/.exec(labels)?.[1]));
    for (const route of ['GET /health', 'POST /webhooks/meta', 'POST /webhooks/evolution/:event', 'GET /api/funnels/:id', 'unmatched']) expect(routes).toContain(route);
    const providers = new Set(series(text, 'zapflow_webhooks_received_total').map((labels) => /provider="([^"]*)"/.exec(labels)?.[1]));
    expect([...providers].sort()).toEqual(['evolution', 'meta', 'other']);
  });
});
