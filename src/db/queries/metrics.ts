/**
 * Metrics: the rollup of the event log (conversation_events) into metrics_hourly,
 * metrics_daily and the funnel step tables, and the reads of the API, which touch only the
 * rolled-up rows.
 *
 * The rollup reads the log by id after a watermark (metrics_rollup_state) and, for every
 * (tenant, local hour) the new events fall in, recomputes that hour from the log, then the
 * local days of those hours from their hours. Recomputing (not adding) makes it idempotent: a
 * second run finds nothing new, a run that died before its commit changed nothing, and a late
 * event (a read receipt for yesterday: a new id, an old time) recomputes yesterday's hour and
 * day. Each batch is one transaction, watermark included.
 */
import type { ConversationEventKind } from '../../domain/records';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import { FIRST_RESPONSE_BUCKETS, METRICS_DIMENSIONS, METRICS_NONE } from '../schema';

export { FIRST_RESPONSE_BUCKETS, METRICS_NONE };

/**
 * The counters of a rollup row: API name, column, and the events that make it (of `kind`;
 * `withValue`: only those carrying value_ms).
 */
export const METRIC_COUNTERS = [
  { name: 'sent', column: 'sent', kind: 'message_sent' },
  { name: 'received', column: 'received', kind: 'message_received' },
  { name: 'delivered', column: 'delivered', kind: 'message_delivered' },
  { name: 'read', column: 'read', kind: 'message_read' },
  { name: 'failed', column: 'failed', kind: 'message_failed' },
  // A contact's first message after one of zapflow's sends (message_received carries the time since it).
  { name: 'replies', column: 'replies', kind: 'message_received', withValue: true },
  { name: 'optOuts', column: 'opt_outs', kind: 'opt_out' },
  { name: 'resubscribed', column: 'resubscribed', kind: 'resubscribed' },
  { name: 'followUps', column: 'followups', kind: 'followup_sent' },
  { name: 'aiReplies', column: 'ai_replies', kind: 'ai_reply' },
  { name: 'handovers', column: 'handovers', kind: 'handover' },
  { name: 'funnelStarted', column: 'funnel_started', kind: 'funnel_started' },
  { name: 'funnelCompleted', column: 'funnel_completed', kind: 'funnel_completed' },
  { name: 'funnelFailed', column: 'funnel_failed', kind: 'funnel_failed' },
  { name: 'campaignSent', column: 'campaign_sent', kind: 'campaign_sent' },
  { name: 'campaignSkipped', column: 'campaign_skipped', kind: 'campaign_skipped' },
  { name: 'campaignClicked', column: 'campaign_clicked', kind: 'campaign_clicked' },
] as const satisfies ReadonlyArray<{ name: string; column: string; kind: ConversationEventKind; withValue?: boolean }>;

export type MetricCounter = (typeof METRIC_COUNTERS)[number]['name'];

/** Every column a rollup row sums, in one order: counters, first responses (count, sum), histogram. */
const SUMMED = [...METRIC_COUNTERS.map((c) => c.column), 'frt_count', 'frt_sum_ms', ...FIRST_RESPONSE_BUCKETS.map((b) => b.column)];

/**
 * The histogram bucket of a value (0 … FIRST_RESPONSE_BUCKETS.length - 1): `width_bucket` of
 * value - 1 over the bounds, so a value equal to a bound falls in that bound's bucket.
 */
const BUCKET_OF_VALUE = `width_bucket(value_ms - 1, '{${FIRST_RESPONSE_BUCKETS.flatMap((b) => (b.upToMs === null ? [] : [b.upToMs])).join(',')}}'::int[])`;

/**
 * The detail row's columns from the per-kind counts of its events (`n`, `ms`, by `kind` and
 * `bucket`: null when the event carries no value_ms). First responses are message_sent events
 * carrying one (see sends.ts RECORD_SENT).
 */
function pivotColumns(): string[] {
  const frt = `kind = 'message_sent' and bucket is not null`;
  const aggregates = [
    ...METRIC_COUNTERS.map((c) => `coalesce(sum(n) filter (where kind = '${c.kind}'${'withValue' in c ? ' and bucket is not null' : ''}), 0)::int`),
    `coalesce(sum(n) filter (where ${frt}), 0)::int`,
    `coalesce(sum(ms) filter (where ${frt}), 0)::bigint`,
    ...FIRST_RESPONSE_BUCKETS.map((_, i) => `coalesce(sum(n) filter (where ${frt} and bucket = ${i}), 0)::int`),
  ];
  return aggregates.map((a, i) => `${a} as ${SUMMED[i]}`);
}

/** Sums of every summed column over rows aliased `alias`, named after the columns (bigints read back as float8 by the reads). */
const sumsOf = (alias: string, as: 'stored' | 'read' = 'stored') =>
  SUMMED.map((c) => `sum(${alias}.${c})::${c === 'frt_sum_ms' ? (as === 'read' ? 'float8' : 'bigint') : 'int'} as ${c}`).join(', ');

// ─── rollup ───

const STATE = 'events';

export interface RollupBatch {
  /** Events rolled up (ids after the old watermark, up to the new one). */
  events: number;
  /** (tenant, local hour) and (tenant, local day) buckets recomputed. */
  hours: number;
  days: number;
  fromId: number;
  toId: number;
  /** Nothing more to read now (the batch was not full, or the rest is too fresh). */
  caughtUp: boolean;
}

/**
 * One batch of the rollup, in one transaction: at most `maxEvents` events after the watermark,
 * leaving out those recorded in the last `settleMs` (and all after them: an id is drawn before
 * its transaction commits, so the newest ids may still have older ones in flight), and every
 * bucket they touch recomputed. Concurrent calls queue on the watermark row.
 */
export async function rollupMetricsBatch(db: Db, params: { maxEvents: number; settleMs: number }): Promise<RollupBatch> {
  return db.transaction(async (tx) => {
    await queryPrepared(tx, ENSURE_STATE, [STATE]);
    const [range] = await queryPrepared<{ fromId: number; toId: number; events: number; full: boolean }>(tx, NEXT_RANGE, [
      STATE,
      params.maxEvents,
      Math.max(0, Math.round(params.settleMs)),
    ]);
    const fromId = Number(range.fromId);
    const toId = Number(range.toId);
    const events = Number(range.events);
    if (events === 0) return { events: 0, hours: 0, days: 0, fromId, toId: fromId, caughtUp: true };

    for (const statement of CREATE_TEMP) await queryPrepared(tx, statement, []);
    const [touched] = await queryPrepared<{ hours: number; days: number }>(tx, TOUCHED, [fromId, toId]);
    for (const statement of RECOMPUTE) await queryPrepared(tx, statement, []);
    await queryPrepared(tx, ADVANCE, [STATE, toId]);
    return { events, hours: Number(touched.hours), days: Number(touched.days), fromId, toId, caughtUp: !range.full };
  });
}

/** The rollup's watermark and how many events wait after it (for status and tests). */
export async function metricsRollupLag(db: Db): Promise<{ lastEventId: number; pending: number; updatedAt: number | null }> {
  const [row] = await queryPrepared<{ lastEventId: number; pending: number; updatedAt: number | null }>(db, ROLLUP_LAG, [STATE]);
  return { lastEventId: Number(row?.lastEventId ?? 0), pending: Number(row?.pending ?? 0), updatedAt: row?.updatedAt ?? null };
}

const ENSURE_STATE = `insert into metrics_rollup_state (name, last_event_id) values ($1::text, 0) on conflict (name) do nothing`;

/*
 * The batch: ids after the watermark (locked: one rollup at a time), at most $2 of them, cut
 * before the first one recorded in the last $3 ms.
 */
const NEXT_RANGE = `
with s as (select last_event_id from metrics_rollup_state where name = $1::text for update),
batch as (
  -- The watermark as a scalar subquery (an InitPlan parameter): always a range scan of the
  -- primary key. As a join, the generic plan of this prepared statement became a scan of the
  -- whole log when nothing was new (5.5 s at 20 M events for an empty run).
  select e.id, e.recorded_at from conversation_events e where e.id > (select last_event_id from s) order by e.id limit $2::int
),
cut as (select min(id) as first_fresh from batch where recorded_at > now() - $3::float8 * interval '1 millisecond')
select s.last_event_id::float8 as "fromId",
       coalesce((select max(id) from batch where cut.first_fresh is null or id < cut.first_fresh), s.last_event_id)::float8 as "toId",
       (select count(*) from batch where cut.first_fresh is null or id < cut.first_fresh)::int as events,
       ((select count(*) from batch) = $2::int and cut.first_fresh is null) as full
  from s, cut`;

const CREATE_TEMP = [
  `create temp table if not exists metrics_touched_hours (tenant_id uuid not null, hour timestamptz not null, tz text not null, primary key (tenant_id, hour)) on commit delete rows`,
  `create temp table if not exists metrics_touched_days (tenant_id uuid not null, day date not null, tz text not null, primary key (tenant_id, day)) on commit delete rows`,
];

/*
 * The (tenant, local hour) and (tenant, local day) buckets of the batch's events. A timezone
 * PostgreSQL does not know counts as UTC (the rollup must not stop for one tenant's setting).
 * Events of a tenant that no longer exists are left out.
 */
const TOUCHED = `
with zones as materialized (
  select t.id, coalesce(z.name, 'UTC') as tz
    from tenants t left join (select name from pg_timezone_names) z on z.name = t.timezone
   where t.id in (select distinct tenant_id from conversation_events where id > $1::bigint and id <= $2::bigint)
), hours as (
  insert into metrics_touched_hours (tenant_id, hour, tz)
  select distinct e.tenant_id, date_trunc('hour', e.occurred_at, z.tz), z.tz
    from conversation_events e join zones z on z.id = e.tenant_id
   where e.id > $1::bigint and e.id <= $2::bigint
  returning tenant_id, hour, tz
), days as (
  insert into metrics_touched_days (tenant_id, day, tz)
  select distinct tenant_id, (hour at time zone tz)::date, tz from hours
  returning 1
)
select (select count(*) from hours)::int as hours, (select count(*) from days)::int as days`;

const NONE = `'${METRICS_NONE}'::uuid`;

/** Every level of the rollup tables, as a SQL array: statements by (tenant, bucket) name them all (the key's second column). */
const ALL_DIMENSIONS = `'{${METRICS_DIMENSIONS.join(',')}}'::text[]`;

/** The level of each grouping set, by `grouping(channel_id, funnel_id, campaign_id)` (a bit per column summed away: 4, 2, 1). */
const LEVELS = `case g when 0 then 'detail' when 7 then 'total' when 3 then 'channel' when 5 then 'funnel' when 6 then 'campaign' end`;

/**
 * The recompute, statement by statement (each sees what the one before wrote). Each reads a
 * touched bucket's rows through a LATERAL subquery fenced with OFFSET 0: one index range scan
 * per bucket, whatever the planner believes of the temporary tables (without the fence, and
 * without statistics, it joined the whole log to them: 300 s instead of 0.3 s for 68,000 hours).
 */
const RECOMPUTE = [
  `analyze metrics_touched_hours`,
  `analyze metrics_touched_days`,
  `delete from metrics_hourly h using metrics_touched_hours t
    where h.tenant_id = t.tenant_id and h.dimension = any(${ALL_DIMENSIONS}) and h.bucket_start = t.hour`,
  `delete from metrics_funnel_steps_hourly h using metrics_touched_hours t where h.tenant_id = t.tenant_id and h.bucket_start = t.hour`,
  // Each touched hour's events, read once (conversation_events_tenant_time_idx) and counted per
  // detail key, kind and histogram bucket (a few aggregates per event); the detail rows pivot
  // those counts into columns, and the other levels sum the detail rows (grouping sets).
  `with e as (
     select t.tenant_id, t.hour, coalesce(e.channel_id, ${NONE}) as channel_id, coalesce(e.funnel_id, ${NONE}) as funnel_id,
            coalesce(e.campaign_id, ${NONE}) as campaign_id, e.step_id, e.kind, e.value_ms
       from metrics_touched_hours t
       cross join lateral (
         select x.channel_id, x.funnel_id, x.campaign_id, x.step_id, x.kind, x.value_ms from conversation_events x
          where x.tenant_id = t.tenant_id and x.occurred_at >= t.hour and x.occurred_at < t.hour + interval '1 hour'
         offset 0) e
   ), counted as materialized (
     select tenant_id, hour, channel_id, funnel_id, campaign_id, case when kind = 'funnel_step_completed' then step_id end as step_id, kind,
            case when value_ms is not null then ${BUCKET_OF_VALUE} end as bucket, count(*) as n, sum(value_ms) as ms
       from e
      group by 1, 2, 3, 4, 5, 6, 7, 8
   ), detail as (
     select tenant_id, hour, channel_id, funnel_id, campaign_id,
            ${pivotColumns().join(',\n            ')}
       from counted
      group by 1, 2, 3, 4, 5
   ), agg as (
     select tenant_id, hour, channel_id, funnel_id, campaign_id, grouping(channel_id, funnel_id, campaign_id) as g, ${sumsOf('detail')}
       from detail
      group by grouping sets (
        (tenant_id, hour, channel_id, funnel_id, campaign_id), (tenant_id, hour), (tenant_id, hour, channel_id),
        (tenant_id, hour, funnel_id), (tenant_id, hour, campaign_id))
   ), steps as (
     insert into metrics_funnel_steps_hourly (tenant_id, bucket_start, funnel_id, step_id, reached)
     select tenant_id, hour, funnel_id, step_id, sum(n)::int from counted where step_id is not null group by 1, 2, 3, 4
   )
   insert into metrics_hourly (tenant_id, dimension, bucket_start, channel_id, funnel_id, campaign_id, ${SUMMED.join(', ')})
   select tenant_id, ${LEVELS}, hour, coalesce(channel_id, ${NONE}), coalesce(funnel_id, ${NONE}), coalesce(campaign_id, ${NONE}), ${SUMMED.join(', ')}
     from agg`,
  `delete from metrics_daily d using metrics_touched_days t where d.tenant_id = t.tenant_id and d.dimension = any(${ALL_DIMENSIONS}) and d.day = t.day`,
  `delete from metrics_funnel_steps_daily d using metrics_touched_days t where d.tenant_id = t.tenant_id and d.day = t.day`,
  // A local day is the sum of its local hours, level by level (metrics_hourly's primary key serves the ranges).
  `insert into metrics_daily (tenant_id, dimension, day, channel_id, funnel_id, campaign_id, ${SUMMED.join(', ')})
   select t.tenant_id, h.dimension, t.day, h.channel_id, h.funnel_id, h.campaign_id, ${sumsOf('h')}
     from metrics_touched_days t
     cross join lateral (
       select * from metrics_hourly x
        where x.tenant_id = t.tenant_id and x.dimension = any(${ALL_DIMENSIONS})
          and x.bucket_start >= (t.day::timestamp at time zone t.tz) and x.bucket_start < ((t.day + 1)::timestamp at time zone t.tz)
       offset 0) h
    group by t.tenant_id, h.dimension, t.day, h.channel_id, h.funnel_id, h.campaign_id`,
  `insert into metrics_funnel_steps_daily (tenant_id, day, funnel_id, step_id, reached)
   select t.tenant_id, t.day, h.funnel_id, h.step_id, sum(h.reached)::int
     from metrics_touched_days t
     cross join lateral (
       select * from metrics_funnel_steps_hourly x
        where x.tenant_id = t.tenant_id
          and x.bucket_start >= (t.day::timestamp at time zone t.tz) and x.bucket_start < ((t.day + 1)::timestamp at time zone t.tz)
       offset 0) h
    group by t.tenant_id, t.day, h.funnel_id, h.step_id`,
];

const ADVANCE = `update metrics_rollup_state set last_event_id = $2::bigint, updated_at = now() where name = $1::text`;

const ROLLUP_LAG = `
select s.last_event_id::float8 as "lastEventId",
       (select count(*) from conversation_events e where e.id > s.last_event_id)::int as pending,
       (extract(epoch from s.updated_at) * 1000)::float8 as "updatedAt"
  from metrics_rollup_state s where s.name = $1::text`;

// ─── reads (the API) ───

export type MetricsGrouping = 'channel' | 'funnel' | 'campaign';

export interface MetricsRow {
  /** `YYYY-MM-DD` (daily) or the epoch ms the local hour starts (hourly). */
  bucket: string | number;
  /** The channel, funnel or campaign id (null: none), when grouped by one. */
  key: string | null;
  /**
   * The sums, in METRIC_VALUES order: the counters (METRIC_COUNTERS), first responses' count
   * and sum (ms), then the histogram (FIRST_RESPONSE_BUCKETS).
   */
  values: number[];
}

/** Where each part of MetricsRow.values is. */
export const METRIC_VALUES = {
  counters: 0,
  frtCount: METRIC_COUNTERS.length,
  frtSumMs: METRIC_COUNTERS.length + 1,
  histogram: METRIC_COUNTERS.length + 2,
  length: METRIC_COUNTERS.length + 2 + FIRST_RESPONSE_BUCKETS.length,
} as const;

const GROUP_COLUMN: Record<MetricsGrouping, string> = { channel: 'channel_id', funnel: 'funnel_id', campaign: 'campaign_id' };

/**
 * The statement of a read: the rows of one level (`total`, or the `by` dimension) of one
 * tenant in [from, to), in the order of the primary key (tenant, dimension, bucket, ids…):
 * one index range scan. They come back as one text, a row per `;`, its values (bucket, key or
 * '', …SUMMED) joined by `,`: a year of days by funnel is 2,000 rows of 35 numbers, and
 * decoding them value by value in the driver (or building JSON in PostgreSQL) cost more than
 * the scan. Built once per shape, so each is a fixed text.
 */
function seriesStatement(groupBy: 'hour' | 'day', by: MetricsGrouping | undefined): string {
  const table = groupBy === 'hour' ? 'metrics_hourly' : 'metrics_daily';
  const bucket = groupBy === 'hour' ? `(extract(epoch from m.bucket_start) * 1000)::bigint` : `m.day`;
  const column = groupBy === 'hour' ? 'm.bucket_start' : 'm.day';
  const cast = groupBy === 'hour' ? 'timestamptz' : 'date';
  const key = by ? `coalesce(nullif(m.${GROUP_COLUMN[by]}, ${NONE})::text, '')` : `''`;
  return `
    select string_agg(concat_ws(',', ${bucket}, ${key}, ${SUMMED.map((c) => `m.${c}`).join(', ')}), ';'
                      order by ${column}, m.channel_id, m.funnel_id, m.campaign_id) as rows
      from ${table} m
     where m.tenant_id = $1::uuid and m.dimension = '${by ?? 'total'}' and ${column} >= $2::${cast} and ${column} < $3::${cast}`;
}

const SERIES = new Map<string, string>();

/**
 * Rolled-up rows of a tenant: hourly buckets starting in [from, to) (ISO instants), or daily
 * ones for local days in [from, to) (`YYYY-MM-DD`), totals per bucket or, with `by`, per
 * bucket and channel, funnel or campaign.
 */
export async function readMetricsSeries(
  db: Db,
  params: { tenantId: string; groupBy: 'hour' | 'day'; from: string; to: string; by?: MetricsGrouping },
): Promise<MetricsRow[]> {
  const shape = `${params.groupBy}:${params.by ?? ''}`;
  let text = SERIES.get(shape);
  if (!text) SERIES.set(shape, (text = seriesStatement(params.groupBy, params.by)));
  const [result] = await queryPrepared<{ rows: string | null }>(db, text, [params.tenantId, params.from, params.to]);
  if (!result?.rows) return [];
  return result.rows.split(';').map((line) => {
    const [bucket, key, ...values] = line.split(',');
    return { bucket: params.groupBy === 'hour' ? Number(bucket) : bucket, key: key || null, values: values.map(Number) };
  });
}

/**
 * A funnel's conversion over local days [from, to): runs started, completed and failed
 * (metrics_daily), and the runs that reached each step (metrics_funnel_steps_daily).
 */
export async function readFunnelMetrics(
  db: Db,
  params: { tenantId: string; funnelId: string; from: string; to: string },
): Promise<{ started: number; completed: number; failed: number; steps: Array<{ stepId: string; reached: number }> }> {
  const args = [params.tenantId, params.funnelId, params.from, params.to];
  const [[runs], steps] = await Promise.all([
    queryPrepared<{ started: number; completed: number; failed: number }>(db, FUNNEL_RUNS, args),
    queryPrepared<{ stepId: string; reached: number }>(db, FUNNEL_STEPS, args),
  ]);
  return {
    started: Number(runs?.started ?? 0),
    completed: Number(runs?.completed ?? 0),
    failed: Number(runs?.failed ?? 0),
    steps: steps.map((s) => ({ stepId: s.stepId, reached: Number(s.reached) })),
  };
}

const FUNNEL_RUNS = `
select coalesce(sum(funnel_started), 0)::int as started, coalesce(sum(funnel_completed), 0)::int as completed,
       coalesce(sum(funnel_failed), 0)::int as failed
  from metrics_daily
 where tenant_id = $1::uuid and dimension = 'funnel' and day >= $3::date and day < $4::date and funnel_id = $2::uuid`;

const FUNNEL_STEPS = `
select step_id as "stepId", sum(reached)::int as reached
  from metrics_funnel_steps_daily
 where tenant_id = $1::uuid and day >= $3::date and day < $4::date and funnel_id = $2::uuid
 group by step_id`;
