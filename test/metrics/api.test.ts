/**
 * The metrics API reads the rolled-up rows of the caller's tenant only: `GET /api/metrics`
 * per local day or hour, per channel, funnel or campaign, with totals and first-response time
 * (average and p50 from the merged histogram); `GET /api/funnels/:id/metrics` step by step
 * (another tenant's funnel: 404). Bad parameters are refused naming the field, and ranges are
 * bounded (METRICS_MAX_*_RANGE).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../src/config';
import { appendConversationEvents, type ConversationEvent } from '../../src/db/queries/conversationEvents';
import { rollupMetrics } from '../../src/services/metrics';
import { getJson } from '../support/http';
import { funnelDef } from '../support/funnels';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

describe('metrics API', () => {
  let stack: Stack;
  let config: Config;
  let a: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let b: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  let funnelA: string;
  let funnelB: string;
  const campaignId = randomUUID();

  const api = async (path: string, key = a.apiKey, method = 'GET', body?: unknown) =>
    getJson(`${stack.url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    stack = await startStack({ env: { METRICS_ROLLUP_SETTLE: '0', METRICS_MAX_HOURLY_RANGE: '2d', METRICS_MAX_DAILY_RANGE: '31d' } });
    config = stack.config;
    a = await seedTenantWithChannel(stack.db, 'Loja A', { provider: 'sandbox', externalId: `metrics-a-${randomUUID()}` });
    b = await seedTenantWithChannel(stack.db, 'Loja B', { provider: 'sandbox', externalId: `metrics-b-${randomUUID()}` });
    const steps = [
      { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi!' } },
      { id: 'ask', type: 'waitForReply', timeout: '1h', branches: [] },
      { id: 'bye', type: 'send', message: { type: 'text', text: 'Tchau' } },
    ];
    const createdA = await api('/funnels', a.apiKey, 'POST', funnelDef({ steps }));
    const createdB = await api('/funnels', b.apiKey, 'POST', funnelDef({ steps }));
    expect([createdA.status, createdB.status]).toEqual([201, 201]);
    funnelA = createdA.body.id;
    funnelB = createdB.body.id;

    const at = (iso: string) => new Date(iso);
    const ofA = (kind: ConversationEvent['kind'], iso: string, extra: Partial<ConversationEvent> = {}): ConversationEvent => ({
      tenantId: a.tenant.id,
      kind,
      occurredAt: at(iso),
      channelId: a.channel.id,
      ...extra,
    });
    const events: ConversationEvent[] = [
      // 2025-05-01 (São Paulo): three first responses, 4 s, 20 s and 50 s.
      ofA('message_received', '2025-05-01T12:00:00Z'),
      ofA('message_sent', '2025-05-01T12:00:04Z', { valueMs: 4_000 }),
      ofA('message_sent', '2025-05-01T12:10:00Z', { valueMs: 20_000, campaignId }),
      ofA('message_sent', '2025-05-01T13:10:00Z', { valueMs: 50_000, funnelId: funnelA }),
      ofA('message_delivered', '2025-05-01T13:11:00Z', { funnelId: funnelA }),
      // 2025-05-02: two runs start, both reach hello, one reaches ask, one completes.
      ofA('funnel_started', '2025-05-02T12:00:00Z', { funnelId: funnelA, runId: 'r1' }),
      ofA('funnel_started', '2025-05-02T12:00:00Z', { funnelId: funnelA, runId: 'r2' }),
      ofA('funnel_step_completed', '2025-05-02T12:00:01Z', { funnelId: funnelA, runId: 'r1', stepId: 'hello' }),
      ofA('funnel_step_completed', '2025-05-02T12:00:01Z', { funnelId: funnelA, runId: 'r2', stepId: 'hello' }),
      ofA('funnel_step_completed', '2025-05-02T12:00:02Z', { funnelId: funnelA, runId: 'r1', stepId: 'ask' }),
      ofA('funnel_completed', '2025-05-02T12:30:00Z', { funnelId: funnelA, runId: 'r1' }),
      // Tenant B, the same day: never seen by A.
      { tenantId: b.tenant.id, kind: 'message_sent', occurredAt: at('2025-05-01T12:00:00Z'), channelId: b.channel.id, valueMs: 999_000 },
      { tenantId: b.tenant.id, kind: 'funnel_started', occurredAt: at('2025-05-02T12:00:00Z'), funnelId: funnelB, runId: 'b1' },
    ];
    await appendConversationEvents(stack.db.db, events);
    await rollupMetrics(stack.db.db, config);
  }, 120_000);
  afterAll(() => stack?.close());

  it('daily totals of the tenant’s own rows, with first-response average and p50', async () => {
    const res = await api('/metrics?from=2025-05-01&to=2025-05-02&groupBy=day');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ timezone: 'America/Sao_Paulo', groupBy: 'day', from: '2025-05-01', to: '2025-05-02' });
    expect(res.body.rows.map((r: { bucket: string; sent: number }) => [r.bucket, r.sent])).toEqual([
      ['2025-05-01', 3],
      ['2025-05-02', 0],
    ]);
    expect(res.body.totals).toMatchObject({ sent: 3, received: 1, delivered: 1, funnelStarted: 2, funnelCompleted: 1 });
    // 4 s, 20 s, 50 s: the average is exact, the p50 lies within the bucket of the median (10–30 s).
    expect(res.body.totals.firstResponse.count).toBe(3);
    expect(res.body.totals.firstResponse.avgMs).toBe(24_667);
    expect(res.body.totals.firstResponse.p50Ms).toBeGreaterThan(10_000);
    expect(res.body.totals.firstResponse.p50Ms).toBeLessThanOrEqual(30_000);

    const other = await api('/metrics?from=2025-05-01&to=2025-05-02', b.apiKey);
    expect(other.body.totals).toMatchObject({ sent: 1, funnelStarted: 1, received: 0 });
    // B's own first response only (999 s).
    expect(other.body.totals.firstResponse).toMatchObject({ count: 1, avgMs: 999_000 });
  });

  it('grouped by channel, funnel or campaign (null: none), and by local hour', async () => {
    const byFunnel = await api('/metrics?from=2025-05-01&to=2025-05-01&by=funnel');
    expect(byFunnel.status).toBe(200);
    const sentByFunnel = Object.fromEntries(byFunnel.body.rows.map((r: { funnelId: string | null; sent: number }) => [String(r.funnelId), r.sent]));
    expect(sentByFunnel).toEqual({ null: 2, [funnelA]: 1 });
    const byCampaign = await api('/metrics?from=2025-05-01&to=2025-05-01&by=campaign');
    expect(byCampaign.body.rows.find((r: { campaignId: string | null }) => r.campaignId === campaignId)).toMatchObject({ sent: 1 });
    const byChannel = await api('/metrics?from=2025-05-01&to=2025-05-01&by=channel');
    expect(byChannel.body.rows).toEqual([expect.objectContaining({ bucket: '2025-05-01', channelId: a.channel.id, sent: 3 })]);

    // 09:00 and 10:00 in São Paulo (12:00 and 13:00 UTC).
    const hourly = await api('/metrics?groupBy=hour&from=2025-05-01T08:30:00-03:00&to=2025-05-01T11:00:00-03:00');
    expect(hourly.status).toBe(200);
    expect(hourly.body.rows.map((r: { bucket: string; sent: number }) => [r.bucket, r.sent])).toEqual([
      ['2025-05-01T12:00:00.000Z', 2],
      ['2025-05-01T13:00:00.000Z', 1],
    ]);
  });

  it('a funnel step by step; another tenant’s funnel is not found', async () => {
    const res = await api(`/funnels/${funnelA}/metrics?from=2025-05-01&to=2025-05-03`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ funnelId: funnelA, started: 2, completed: 1, failed: 0, conversion: 0.5 });
    expect(res.body.steps.map((s: { stepId: string; reached: number; conversion: number | null; fromPrevious: number | null }) => [s.stepId, s.reached, s.conversion, s.fromPrevious])).toEqual([
      ['hello', 2, 1, 1],
      ['ask', 1, 0.5, 0.5],
      ['bye', 0, 0, 0],
    ]);
    expect((await api(`/funnels/${funnelB}/metrics`)).status).toBe(404);
    expect((await api(`/funnels/${randomUUID()}/metrics`)).status).toBe(404);
    expect((await api(`/funnels/${funnelB}/metrics`, b.apiKey)).body).toMatchObject({ started: 0 });
  });

  it('refuses bad parameters naming the field, and ranges beyond the limits', async () => {
    const field = async (path: string) => {
      const res = await api(path);
      expect(res.status).toBe(400);
      return (res.body.error.details as Array<{ path: string }>).map((d) => d.path);
    };
    expect(await field('/metrics?groupBy=week')).toEqual(['groupBy']);
    expect(await field('/metrics?by=contact')).toEqual(['by']);
    expect(await field('/metrics?from=yesterday')).toEqual(['from']);
    expect(await field('/metrics?from=2025-02-30')).toEqual(['from']);
    expect(await field('/metrics?to=2025-05-01T10:00:00')).toEqual(['to']); // no offset
    expect(await field('/metrics?from=2025-05-03&to=2025-05-01')).toEqual(['to']);
    expect(await field('/metrics?from=2025-01-01&to=2025-05-01')).toEqual(['from']); // over METRICS_MAX_DAILY_RANGE
    expect(await field('/metrics?groupBy=hour&from=2025-05-01&to=2025-05-05')).toEqual(['from']); // over METRICS_MAX_HOURLY_RANGE
    expect(await field(`/funnels/not-a-uuid/metrics`)).toEqual(['id']);
    // Without a key: 401, nothing read.
    expect((await getJson(`${stack.url}/api/metrics`)).status).toBe(401);
  });
});
