/**
 * Prometheus metrics (prom-client), one registry per process. Counters are incremented
 * where things happen; gauges that describe stored state (dispatch backlog, funnel runs by
 * status) are read from the database when /metrics is scraped.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'zapflow_process_' });

export const webhooksReceived = new Counter({
  name: 'zapflow_webhooks_received_total',
  help: 'Webhook posts by provider and outcome (event status, or the HTTP error class)',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});

export const ingestLatency = new Histogram({
  name: 'zapflow_ingest_latency_seconds',
  help: 'Time from a webhook arriving to its answer, by provider',
  labelNames: ['provider'] as const,
  buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const sendsTotal = new Counter({
  name: 'zapflow_sends_total',
  help: 'Delivery attempts by outcome (sent, already_sent, refused, failed, retrying, waiting for quota)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Channel lookups that reached the database (webhook routing): what unauthenticated posts cost. */
export const channelLookups = new Counter({
  name: 'zapflow_channel_lookups_total',
  help: 'Database queries made to find the channel of a webhook, by what was looked up (external_id, credential, provider)',
  labelNames: ['by'] as const,
  registers: [registry],
});

/** HMACs computed to check webhook signatures (Meta): what a forged post costs in CPU. */
export const signatureHmacs = new Counter({
  name: 'zapflow_webhook_signature_hmacs_total',
  help: 'HMAC-SHA256 computations over webhook bodies to verify their signatures',
  registers: [registry],
});

/** API keys looked up in the database (not in the key cache): what a wrong key costs. */
export const apiKeyLookups = new Counter({
  name: 'zapflow_api_key_lookups_total',
  help: 'API keys looked up in the database (a key not known valid in this process)',
  registers: [registry],
});

export const httpRequests = new Counter({
  name: 'zapflow_http_requests_total',
  help: 'API requests by matched route pattern (or unmatched) and status class',
  labelNames: ['route', 'status'] as const,
  registers: [registry],
});

/** Gauges whose value is read at scrape time. */
export function registerStateGauges(read: {
  dispatchBacklog: () => Promise<number>;
  /** Dead letters: messages given up after DISPATCH_MAX_ATTEMPTS refused dispatches. */
  deadLetters: () => Promise<number>;
  funnelRunsByStatus: () => Promise<Array<{ status: string; count: number }>>;
}): void {
  for (const name of ['zapflow_dispatch_backlog', 'zapflow_dispatch_dead', 'zapflow_funnel_runs']) registry.removeSingleMetric(name);
  new Gauge({
    name: 'zapflow_dispatch_backlog',
    help: 'Inbound messages stored but not yet handed to their contact workflow',
    registers: [registry],
    aggregator: 'max', // every API process reads the same table: summing would count it N times
    async collect() {
      this.set(await read.dispatchBacklog());
    },
  });
  new Gauge({
    name: 'zapflow_dispatch_dead',
    help: 'Inbound messages dead after DISPATCH_MAX_ATTEMPTS refused dispatches, until `zapflow events retry` requeues them',
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.set(await read.deadLetters());
    },
  });
  new Gauge({
    name: 'zapflow_funnel_runs',
    help: 'Funnel runs by status',
    labelNames: ['status'] as const,
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.reset();
      for (const row of await read.funnelRunsByStatus()) this.set({ status: row.status }, row.count);
    },
  });
}
