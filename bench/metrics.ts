/**
 * Metrics benchmark (`npm run bench:metrics`).
 *
 * On a fresh PostgreSQL database (DATABASE_URL's server, default
 * postgres://zapflow:zapflow@127.0.0.1:5432/zapflow; PostgreSQL only: the seed is SQL with
 * generate_series):
 *   1. seeds 100 tenants (3 channels and 5 funnels each, timezones mostly São Paulo) and a
 *      year of conversation_events, at least 20 million, generated in SQL month by month in
 *      time order (as the log grows): messages received and sent (with first-response times),
 *      receipts, funnel runs and steps, opt-outs, handovers, follow-ups, AI replies, campaigns;
 *   2. measures what an append costs (single-row inserts, one statement each, as the ingest
 *      makes them) on the empty log and on the full one;
 *   3. rolls the year up once (the first run after a deploy of the rollup), as the worker's
 *      activity does (services/metrics.ts), and reports how long;
 *   4. appends 5 minutes of fresh events at 500 events/s (150,000) and times their rollup;
 *      then the steady state's worst case: the last 5 minutes of an hour that already holds 55
 *      minutes at 500 events/s (each run recomputes the touched hours whole);
 *   5. serves the API in a child process (`--role api`: the production routers, auth and rate
 *      limits included) and measures `GET /api/metrics` over HTTP at a fixed rate (--rate, 50/s)
 *      with a mix of queries (local hours or days; in total, by channel, funnel or campaign;
 *      ranges from a day to a year; random tenants): p50/p99 for a weighted "realistic" mix and
 *      for every shape equally often (and per shape), and `GET /api/funnels/:id/metrics`.
 * Goals: rollup of 5 minutes of events < 10 s; API p99 < 50 ms.
 *
 *   tsx bench/metrics.ts [--events 20000000] [--tenants 100] [--fresh 150000] [--seconds 20]
 *                        [--rate 50] [--keep]      (--keep: leave the database for a look)
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from '@temporalio/client';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig } from '../src/config';
import { openDb, type DbHandle } from '../src/db/client';
import { metricsRollupLag } from '../src/db/queries/metrics';
import { buildIngest } from '../src/ingest';
import { openDatabase } from '../src/runtime';
import { rollupMetrics, type MetricsRollupResult } from '../src/services/metrics';
import { createTenant } from '../src/services/tenants';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
const DAY = 86_400_000;
const ZONES = ['America/Sao_Paulo', 'America/Sao_Paulo', 'America/Sao_Paulo', 'America/Sao_Paulo', 'America/Manaus', 'America/Recife', 'America/New_York', 'Europe/Lisbon', 'Asia/Kolkata', 'UTC'];

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const say = (line = '') => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const fmt = (n: number) => n.toLocaleString('en-US');
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

// ─── the API process ───

async function runApiRole(): Promise<void> {
  const config = loadConfig(process.env);
  const log = pino({ level: 'warn' }, pino.destination(2));
  const db = await openDatabase(config, 'api');
  // The metrics routes need no Temporal: a lazy client that never connects.
  const client = new Client();
  const { ingest } = buildIngest({ config, db: db.db, client, log, mode: 'notify' });
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: () => Promise.resolve(),
    log,
    routers: buildRouters({ config, db: db.db, temporal: client, ingest, log }),
  });
  const server = await listen(app, 0, '127.0.0.1');
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', url: server.url });
}

// ─── seeding ───

interface Seeded {
  tenants: Array<{ id: string; apiKey: string; timezone: string; funnels: string[] }>;
}

async function seedTenants(handle: DbHandle, sql: postgres.Sql, count: number): Promise<Seeded> {
  const tenants: Seeded['tenants'] = [];
  for (let i = 0; i < count; i++) {
    const { tenant, apiKey } = await createTenant(handle.db, { name: `Loja ${i + 1}` });
    const timezone = ZONES[i % ZONES.length];
    await sql`update tenants set timezone = ${timezone} where id = ${tenant.id}`;
    await sql`insert into channels (tenant_id, provider, external_id, name)
              select ${tenant.id}, 'sandbox', ${`bench-${i}-`} || n, 'canal ' || n from generate_series(1, 3) n`;
    const funnels = await sql<Array<{ id: string }>>`
      insert into funnels (tenant_id, name, trigger) select ${tenant.id}, 'Funil ' || n, '{"type":"keyword","phrase":"oi"}'::jsonb
      from generate_series(1, 5) n returning id`;
    await sql`insert into funnel_versions (funnel_id, version, definition)
              select id, 1, ${sql.json({
                name: 'Funil',
                trigger: { type: 'keyword', phrase: 'oi' },
                steps: ['hello', 'ask', 'offer', 'bye'].map((id) => ({ id, type: 'send', message: { type: 'text', text: id } })),
              })} from funnels where tenant_id = ${tenant.id}`;
    tenants.push({ id: tenant.id, apiKey, timezone, funnels: funnels.map((f) => f.id) });
  }
  await sql`create unlogged table bench_dims as
    select (row_number() over (order by t.id) - 1)::int as idx, t.id as tenant_id,
           (select array_agg(c.id order by c.id) from channels c where c.tenant_id = t.id) as channels,
           (select array_agg(f.id order by f.id) from funnels f where f.tenant_id = t.id) as funnels,
           array[gen_random_uuid(), gen_random_uuid(), gen_random_uuid()] as campaigns
      from tenants t`;
  return { tenants };
}

/**
 * Events g0..g1 spread evenly from `start` every `stepMs`, in id order (time order), each for
 * a tenant, kind and dimensions picked by hashes of g (so a re-run makes the same log). Kinds:
 * 30 % received (40 % of them replies), 28 % sent (35 % with a first-response time: half
 * answered by AI in seconds, half by people in minutes to hours), 19 % delivered, 12 % read,
 * 1 % failed, then funnel starts, steps, completions, opt-outs, handovers, follow-ups, AI
 * replies and campaign sends. 30 % of message events carry a funnel, 10 % a campaign.
 */
const SEED_EVENTS = `
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, run_id, step_id, value_ms, recorded_at)
select d.tenant_id, e.ts, e.kind,
       d.channels[(1 + e.h2 % 3)::int],
       case when e.kind like 'funnel%' or e.h3 % 10 < 3 then d.funnels[(1 + e.h3 % 5)::int] end,
       case when e.kind = 'campaign_sent' or e.h4 % 10 = 0 then d.campaigns[(1 + e.h4 % 3)::int] end,
       case when e.kind like 'funnel%' then 'bench:' || e.g end,
       case when e.kind = 'funnel_step_completed' then (array['hello', 'ask', 'offer', 'bye'])[(1 + e.h2 % 4)::int] end,
       case when e.kind = 'message_sent' and e.h3 % 100 < 35 then
              case when e.h4 % 2 = 0 then 2000 + e.h4 % 28000 else (power((e.h4 % 1000) / 1000.0, 3) * 14400000)::int end
            when e.kind = 'message_received' and e.h3 % 100 < 40 then (e.h4 % 3600000)::int end,
       case when $5::boolean then e.ts + interval '1 second' else now() end
  from (
    select g, ts, h1, h2, h3, h4,
           case when r < 300 then 'message_received' when r < 580 then 'message_sent' when r < 770 then 'message_delivered'
                when r < 890 then 'message_read' when r < 900 then 'message_failed' when r < 920 then 'funnel_started'
                when r < 970 then 'funnel_step_completed' when r < 980 then 'funnel_completed' when r < 984 then 'opt_out'
                when r < 988 then 'handover' when r < 992 then 'followup_sent' when r < 996 then 'ai_reply' else 'campaign_sent' end as kind
      from (
        select g, $3::timestamptz + (g - $1::bigint) * $4::float8 * interval '1 millisecond' as ts,
               abs(hashint8(g)::bigint) as h1, abs(hashint8(g + 7919)::bigint) as h2, abs(hashint8(g + 104729)::bigint) as h3,
               abs(hashint8(g + 1299709)::bigint) as h4, abs(hashint8(g + 15485863)::bigint) % 1000 as r
          from generate_series($1::bigint, $2::bigint) g
      ) x
  ) e
  join bench_dims d on d.idx = e.h1 % $6::int`;

/** Appends events g0..g1 (inclusive) from `start`, `stepMs` apart. */
async function appendEvents(sql: postgres.Sql, p: { g0: number; g1: number; start: number; stepMs: number; historical: boolean; tenants: number }) {
  await sql.unsafe(SEED_EVENTS, [p.g0, p.g1, new Date(p.start).toISOString(), p.stepMs, p.historical, p.tenants]);
}

/** Latency of single-row appends (one prepared statement each, like the ingest's), p50/p99 in ms. */
async function appendProbe(sql: postgres.Sql, tenantId: string, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await sql.unsafe(
      `insert into conversation_events (tenant_id, occurred_at, kind, channel_id, contact_id, message_id, value_ms) values ($1::uuid, now(), 'message_received', $2::uuid, $2::uuid, $2::uuid, null)`,
      [tenantId, tenantId],
      { prepare: true },
    );
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function sizes(sql: postgres.Sql): Promise<string> {
  const rows = await sql<Array<{ name: string; mb: number }>>`
    select c.relname as name, round(pg_relation_size(c.oid) / 1048576.0)::int as mb from pg_class c
     where c.relname in ('conversation_events', 'conversation_events_pkey', 'conversation_events_tenant_time_idx', 'conversation_events_run_uq',
                         'metrics_hourly', 'metrics_daily', 'metrics_funnel_steps_daily', 'metrics_funnel_steps_hourly')
     order by 1`;
  return rows.map((r) => `${r.name} ${fmt(r.mb)} MB`).join(', ');
}

// ─── API load ───

interface Shape {
  name: string;
  /** Share of a dashboard's queries (relative). */
  weight: number;
  path: () => string;
}

/**
 * The query shapes: local days over 1, 7, 30 or 365 days, local hours over 1, 7 or 31 days,
 * each in total or by channel, funnel or campaign. Weights (the "realistic" mix): dashboards
 * mostly show the last week or month by day and today by hour; a year, or a month of hours,
 * now and then; half the queries split by a dimension.
 */
function shapes(now: number): Shape[] {
  const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const ranges: Array<{ groupBy: 'day' | 'hour'; days: number; weight: number }> = [
    { groupBy: 'day', days: 1, weight: 10 },
    { groupBy: 'day', days: 7, weight: 25 },
    { groupBy: 'day', days: 30, weight: 20 },
    { groupBy: 'day', days: 365, weight: 5 },
    { groupBy: 'hour', days: 1, weight: 25 },
    { groupBy: 'hour', days: 7, weight: 10 },
    { groupBy: 'hour', days: 31, weight: 5 },
  ];
  const out: Shape[] = [];
  for (const [by, byWeight] of [['', 2], ['channel', 1], ['funnel', 1], ['campaign', 1]] as const) {
    const q = by ? `&by=${by}` : '';
    for (const r of ranges) {
      const path =
        r.groupBy === 'day'
          ? () => `/api/metrics?groupBy=day&from=${date(now - (r.days - 1) * DAY)}&to=${date(now)}${q}`
          : () => `/api/metrics?groupBy=hour&from=${new Date(now - r.days * DAY).toISOString()}&to=${new Date(now).toISOString()}${q}`;
      out.push({ name: `${r.groupBy} ${r.days}d${by ? ` by ${by}` : ''}`, weight: r.weight * byWeight, path });
    }
  }
  return out;
}

function weighted<T extends { weight: number }>(items: T[]): () => T {
  const total = items.reduce((a, b) => a + b.weight, 0);
  return () => {
    let x = Math.random() * total;
    for (const item of items) if ((x -= item.weight) < 0) return item;
    return items[items.length - 1];
  };
}

/**
 * Requests at a fixed rate (open loop: one every 1000/rate ms, however long the others take),
 * each timed from when it was due, so a slow server shows as latency and not as a lower rate.
 */
async function load(url: string, p: { seconds: number; rate: number; pick: () => { shape: string; path: string; key: string } }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(url);
  const results: Array<{ shape: string; ms: number; status: number }> = [];
  const get = (path: string, key: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: target.hostname, port: target.port, path, agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const start = performance.now();
  const total = Math.round(p.seconds * p.rate);
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / p.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const next = p.pick();
    inFlight.push(
      get(next.path, next.key).then((status) => {
        results.push({ shape: next.shape, ms: performance.now() - due, status });
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return results;
}

function summary(results: Array<{ ms: number; status: number }>, seconds: number): string {
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const bad = results.filter((r) => r.status !== 200).length;
  return `${fmt(results.length)} requests (${Math.round(results.length / seconds)}/s)  p50 ${percentile(ms, 50).toFixed(1)}  p99 ${percentile(ms, 99).toFixed(1)}  max ${ms[ms.length - 1]?.toFixed(1)} ms  non-200 ${bad}`;
}

// ─── main ───

async function main(): Promise<void> {
  const events = Number(flag('events', '20000000'));
  const tenantCount = Number(flag('tenants', '100'));
  const fresh = Number(flag('fresh', '150000'));
  const seconds = Number(flag('seconds', '20'));
  const rate = Number(flag('rate', '50'));
  const keep = process.argv.includes('--keep');
  const baseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const config = loadConfig({ ...process.env, DATABASE_URL: baseUrl, LOG_LEVEL: 'warn' });

  say('zapflow metrics bench');
  say(`  machine   ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  const [{ version }] = await admin<Array<{ version: string }>>`select version()`;
  say(`  database  ${version.split(' on ')[0]}`);
  if (events < 20_000_000) say(`  NOTE      --events ${fmt(events)}: fewer than the 20 million the goal is stated for`);
  const name = `zf_bench_metrics_${randomBytes(5).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDb({ url: url.toString(), poolSize: 4, applicationName: 'zapflow-bench' });
  await handle.migrate();
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  let api: ReturnType<typeof fork> | undefined;
  try {
    // 1. seed
    const seeded = await timed(() => seedTenants(handle, sql, tenantCount));
    say(`  tenants   ${tenantCount} (3 channels, 5 funnels each) in ${secs(seeded.ms)}`);
    const probeTenant = seeded.value.tenants[0].id;
    const empty = await appendProbe(sql, probeTenant, 2_000);
    await sql`delete from conversation_events`;

    const now = Date.now();
    const yearStart = now - 365 * DAY;
    const stepMs = (365 * DAY) / events;
    const months = 12;
    say(`\nseeding ${fmt(events)} events over the past year (${stepMs.toFixed(0)} ms apart, all tenants interleaved), month by month`);
    const seedStart = performance.now();
    for (let m = 0; m < months; m++) {
      const g0 = Math.floor((events * m) / months);
      const g1 = Math.floor((events * (m + 1)) / months) - 1;
      const chunk = await timed(() => appendEvents(sql, { g0, g1, start: yearStart + g0 * stepMs, stepMs, historical: true, tenants: tenantCount }));
      say(`  month ${String(m + 1).padStart(2)}  ${fmt(g1 - g0 + 1)} events in ${secs(chunk.ms)} (${fmt(Math.round((g1 - g0 + 1) / (chunk.ms / 1000)))}/s)`);
    }
    const seedMs = performance.now() - seedStart;
    await sql`analyze conversation_events`;
    const [{ n: logged }] = await sql<Array<{ n: number }>>`select count(*)::int as n from conversation_events`;
    say(`  seeded    ${fmt(logged)} events in ${secs(seedMs)}`);
    say(`  sizes     ${await sizes(sql)}`);

    // 2. append cost
    const full = await appendProbe(sql, probeTenant, 2_000);
    say(`\nappend (one single-row insert per statement, 2,000 each): empty log p50 ${empty.p50.toFixed(2)} / p99 ${empty.p99.toFixed(2)} ms; ` +
      `at ${fmt(logged)} events p50 ${full.p50.toFixed(2)} / p99 ${full.p99.toFixed(2)} ms`);

    // 3. the first rollup: the whole year
    const rollupConfig = { METRICS_ROLLUP_BATCH: config.METRICS_ROLLUP_BATCH, METRICS_ROLLUP_SETTLE: 0 };
    const show = (r: MetricsRollupResult, ms: number) =>
      `${fmt(r.events)} events, ${fmt(r.batches)} batch(es), ${fmt(r.hours)} hours and ${fmt(r.days)} days recomputed in ${secs(ms)} (${fmt(Math.round(r.events / Math.max(ms / 1000, 0.001)))} events/s)`;
    say(`\nrollup of the whole year (batches of ${fmt(config.METRICS_ROLLUP_BATCH)} events):`);
    const year = await timed(() => rollupMetrics(handle.db, rollupConfig));
    say(`  ${show(year.value, year.ms)}`);
    await sql`analyze metrics_hourly`;
    await sql`analyze metrics_daily`;
    await sql`analyze metrics_funnel_steps_daily`;
    const [{ hourly, daily }] = await sql<Array<{ hourly: number; daily: number }>>`
      select (select count(*) from metrics_hourly)::int as hourly, (select count(*) from metrics_daily)::int as daily`;
    say(`  rows      metrics_hourly ${fmt(hourly)}, metrics_daily ${fmt(daily)}`);
    say(`  sizes     ${await sizes(sql)}`);

    // 4. fresh events: 5 minutes at 500/s, and the end of a busy hour
    let gNext = events + 10;
    const appendFresh = async (count: number, start: number) => {
      const t = await timed(() => appendEvents(sql, { g0: gNext, g1: gNext + count - 1, start, stepMs: 2, historical: false, tenants: tenantCount }));
      gNext += count;
      return t.ms;
    };
    say(`\nrollup of 5 minutes of fresh events at 500/s (${fmt(fresh)}):`);
    const freshAppend = await appendFresh(fresh, Date.now() - 5 * 60_000);
    const freshRollup = await timed(() => rollupMetrics(handle.db, rollupConfig));
    say(`  appended in ${secs(freshAppend)}; rolled up: ${show(freshRollup.value, freshRollup.ms)}`);

    const hourStart = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 2 * 3_600_000; // an hour with no events yet
    say(`\nsteady state, worst case: the last 5 minutes of an hour that already holds 55 minutes at 500/s`);
    const first55 = Math.round((fresh * 55) / 5);
    await appendFresh(first55, hourStart);
    const catchUp = await timed(() => rollupMetrics(handle.db, rollupConfig));
    say(`  55 minutes (${fmt(first55)} events) rolled up: ${show(catchUp.value, catchUp.ms)}`);
    await appendFresh(fresh, hourStart + 55 * 60_000);
    const last5 = await timed(() => rollupMetrics(handle.db, rollupConfig));
    say(`  then the last 5 minutes (${fmt(fresh)}): ${show(last5.value, last5.ms)}`);
    const again = await timed(() => rollupMetrics(handle.db, rollupConfig));
    say(`  a run with nothing new: ${secs(again.ms)}; lag ${JSON.stringify(await metricsRollupLag(handle.db))}`);

    // 5. the API over HTTP
    say(`\nGET /api/metrics over HTTP (API in a child process; ${rate} requests/s for ${seconds} s, random tenants, timed from when each was due):`);
    api = fork(__filename, ['--role', 'api'], {
      env: { ...process.env, DATABASE_URL: url.toString(), LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '1000000000', DATABASE_POOL_SIZE: '10' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const apiUrl = await new Promise<string>((resolve, reject) => {
      api!.on('message', (msg: { type: string; url: string }) => (msg.type === 'ready' ? resolve(msg.url) : undefined));
      api!.once('exit', (code) => reject(new Error(`API process exited (${code})`)));
    });
    const mix = shapes(Date.now());
    const tenants = seeded.value.tenants;
    const tenant = () => tenants[Math.floor(Math.random() * tenants.length)];
    const realistic = weighted(mix);
    const pickRealistic = () => {
      const shape = realistic();
      const t = tenant();
      return { shape: shape.name, path: shape.path(), key: t.apiKey };
    };
    let next = 0;
    const pickEach = () => {
      const shape = mix[next++ % mix.length];
      return { shape: shape.name, path: shape.path(), key: tenant().apiKey };
    };
    await load(apiUrl, { seconds: 3, rate, pick: pickEach }); // warm-up: connections, prepared statements, key cache
    const results = await load(apiUrl, { seconds, rate, pick: pickRealistic });
    say(`  realistic mix (weights in bench/metrics.ts shapes()): ${summary(results, seconds)}`);
    const each = await load(apiUrl, { seconds, rate, pick: pickEach });
    say(`  every shape equally often (a year and 31 days of hours as often as today): ${summary(each, seconds)}`);
    const byShape = new Map<string, number[]>();
    for (const r of each) byShape.set(r.shape, [...(byShape.get(r.shape) ?? []), r.ms]);
    const worst = [...byShape.entries()]
      .map(([shape, ms]) => ({ shape, n: ms.length, p50: percentile(ms.sort((a, b) => a - b), 50), p99: percentile(ms, 99) }))
      .sort((a, b) => b.p99 - a.p99);
    say(`  per shape (p50 / p99 ms), slowest first:`);
    for (const w of worst) say(`    ${w.shape.padEnd(24)} ${String(w.n).padStart(6)}  ${w.p50.toFixed(1).padStart(6)} / ${w.p99.toFixed(1).padStart(6)}`);
    const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const funnelSeconds = Math.max(5, Math.round(seconds / 4));
    const funnelResults = await load(apiUrl, {
      seconds: funnelSeconds,
      rate,
      pick: () => {
        const t = tenant();
        const days = [7, 30, 365][Math.floor(Math.random() * 3)];
        return { shape: `${days}d`, path: `/api/funnels/${t.funnels[Math.floor(Math.random() * t.funnels.length)]}/metrics?from=${date(Date.now() - (days - 1) * DAY)}&to=${date(Date.now())}`, key: t.apiKey };
      },
    });
    say(`GET /api/funnels/:id/metrics (7, 30 or 365 days): ${summary(funnelResults, funnelSeconds)}`);

    const all = results.map((r) => r.ms).sort((a, b) => a - b);
    say('\nsummary');
    say(`  seed      ${fmt(logged)} events in ${secs(seedMs)}`);
    say(`  rollup    year ${secs(year.ms)}; 5 min at 500/s ${secs(freshRollup.ms)} (goal < 10 s: ${freshRollup.ms < 10_000 ? 'met' : 'MISSED'}); ` +
      `end of a busy hour ${secs(last5.ms)} (${last5.ms < 10_000 ? 'met' : 'MISSED'})`);
    const even = each.map((r) => r.ms).sort((a, b) => a - b);
    say(`  API       GET /api/metrics at ${rate}/s, realistic mix: p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms (goal p99 < 50 ms: ${percentile(all, 99) < 50 ? 'met' : 'MISSED'}); ` +
      `every shape equally: p50 ${percentile(even, 50).toFixed(1)}, p99 ${percentile(even, 99).toFixed(1)} ms`);
    say(`  append    p99 ${empty.p99.toFixed(2)} ms empty → ${full.p99.toFixed(2)} ms at ${fmt(logged)} events`);
  } finally {
    api?.kill();
    await sql.end({ timeout: 5 });
    await handle.close();
    if (keep) say(`\nkept database ${name}`);
    else await admin.unsafe(`drop database if exists ${name} with (force)`).catch((err) => say(`could not drop ${name}: ${(err as Error).message}`));
    await admin.end();
  }
}

if (process.argv.includes('--role')) {
  void runApiRole().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
