/**
 * What dashboards read (`GET /api/metrics`, `GET /api/funnels/:id/metrics`): sums of the
 * rolled-up rows (metrics_hourly, metrics_daily, metrics_funnel_steps_daily), never the event
 * log, in the tenant's timezone. Figures are as fresh as the last rollup run.
 */
import type { Config } from '../config';
import type { Db } from '../db/client';
import { getFunnel, getFunnelVersion } from '../db/queries/funnels';
import {
  FIRST_RESPONSE_BUCKETS,
  METRIC_COUNTERS,
  METRIC_VALUES,
  readFunnelMetrics,
  readMetricsSeries,
  type MetricCounter,
  type MetricsGrouping,
} from '../db/queries/metrics';
import { getTenant } from '../db/queries/tenants';
import { DomainError } from '../domain/errors';
import { offsetAt } from '../domain/timeOfDay';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A query's time bound as the client wrote it: a local date (`YYYY-MM-DD`) or an instant (ISO 8601 with an offset). */
export type TimeBound = { date: string } | { at: number };

export interface MetricsQuery {
  groupBy: 'hour' | 'day';
  by?: MetricsGrouping;
  from?: TimeBound;
  to?: TimeBound;
}

export type MetricsLimits = Pick<Config, 'METRICS_MAX_HOURLY_RANGE' | 'METRICS_MAX_DAILY_RANGE'>;

export interface FirstResponse {
  /** Responses counted (message_sent events that answered a contact). */
  count: number;
  avgMs: number | null;
  /** From the merged histogram: interpolated within the bucket that holds the median. */
  p50Ms: number | null;
}

export type MetricsFigures = Record<MetricCounter, number> & { firstResponse: FirstResponse };

/**
 * The median of the fixed histogram (FIRST_RESPONSE_BUCKETS) at values[from…], linear within
 * its bucket; the open last bucket gives its lower bound.
 */
export function histogramMedian(values: number[], from = 0): number | null {
  let total = 0;
  for (let i = 0; i < FIRST_RESPONSE_BUCKETS.length; i++) total += values[from + i];
  if (total === 0) return null;
  const half = total / 2;
  let below = 0;
  for (let i = 0; i < FIRST_RESPONSE_BUCKETS.length; i++) {
    const n = values[from + i];
    if (n > 0 && below + n >= half) {
      const lower = i === 0 ? 0 : (FIRST_RESPONSE_BUCKETS[i - 1].upToMs ?? 0);
      const upper = FIRST_RESPONSE_BUCKETS[i].upToMs;
      if (upper === null) return lower;
      return Math.round(lower + ((half - below) / n) * (upper - lower));
    }
    below += n;
  }
  return null;
}

/** A row's figures: the counters by name and the first-response time (built directly: a year by funnel is 2,000 rows). */
function figures(values: number[]): MetricsFigures {
  const out = {} as MetricsFigures;
  for (let i = 0; i < METRIC_COUNTERS.length; i++) out[METRIC_COUNTERS[i].name] = values[METRIC_VALUES.counters + i];
  const count = values[METRIC_VALUES.frtCount];
  out.firstResponse = {
    count,
    avgMs: count > 0 ? Math.round(values[METRIC_VALUES.frtSumMs] / count) : null,
    p50Ms: histogramMedian(values, METRIC_VALUES.histogram),
  };
  return out;
}

// ─── local dates ───

/** `YYYY-MM-DD` of the local day holding `ms` in `timeZone`. */
export function localDate(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

/** The instant local midnight of `date` happens in `timeZone` (DST-safe: settled twice, like nextTimeOfDay). */
export function localMidnight(date: string, timeZone: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`);
  let at = wall - offsetAt(wall, timeZone);
  at = wall - offsetAt(at, timeZone);
  return at;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY);
}

const invalid = (field: string, message: string) => new DomainError('Invalid', message, field);

/**
 * Local days [from, to): a date `from` or `to` is a whole day (both ends included), an instant
 * is the day that holds it (`to` exclusive: the day of its last millisecond). Defaults: the
 * last 7 days up to today.
 */
export function dayRange(q: Pick<MetricsQuery, 'from' | 'to'>, timeZone: string, now: number, maxDays: number): { from: string; to: string } {
  const to = q.to === undefined ? addDays(localDate(now, timeZone), 1) : 'date' in q.to ? addDays(q.to.date, 1) : addDays(localDate(q.to.at - 1, timeZone), 1);
  const from = q.from === undefined ? addDays(to, -7) : 'date' in q.from ? q.from.date : localDate(q.from.at, timeZone);
  if (daysBetween(from, to) <= 0) throw invalid('to', 'must be after from');
  if (daysBetween(from, to) > maxDays) throw invalid('from', `the range may hold at most ${maxDays} days`);
  return { from, to };
}

/**
 * Instants [from, to) for hourly buckets: a date `from` is its local midnight, a date `to` the
 * end of that local day; the hour holding `from` is included. Defaults: the last 24 hours.
 */
export function hourRange(q: Pick<MetricsQuery, 'from' | 'to'>, timeZone: string, now: number, maxMs: number): { from: number; to: number } {
  const to = q.to === undefined ? now : 'date' in q.to ? localMidnight(addDays(q.to.date, 1), timeZone) : q.to.at;
  const from = q.from === undefined ? to - 24 * HOUR : 'date' in q.from ? localMidnight(q.from.date, timeZone) : q.from.at;
  if (to <= from) throw invalid('to', 'must be after from');
  if (to - from > maxMs) throw invalid('from', `the range may hold at most ${Math.round(maxMs / HOUR)} hours (groupBy=hour); use groupBy=day`);
  return { from, to };
}

// ─── reports ───

async function timezoneOf(db: Db, tenantId: string): Promise<string> {
  return (await getTenant(db, { tenantId }))?.timezone ?? 'America/Sao_Paulo';
}

const KEY_FIELD: Record<MetricsGrouping, 'channelId' | 'funnelId' | 'campaignId'> = { channel: 'channelId', funnel: 'funnelId', campaign: 'campaignId' };

/**
 * `GET /api/metrics`: per bucket (local hour or day) and, with `by`, per channel, funnel or
 * campaign (null: events without one), the counts and first-response time; and the totals of
 * the whole range.
 */
export async function metricsReport(db: Db, limits: MetricsLimits, tenantId: string, q: MetricsQuery, now = Date.now()) {
  const timezone = await timezoneOf(db, tenantId);
  let range: { from: string; to: string };
  let shown: { from: string; to: string };
  if (q.groupBy === 'day') {
    range = dayRange(q, timezone, now, Math.floor(limits.METRICS_MAX_DAILY_RANGE / DAY));
    shown = { from: range.from, to: addDays(range.to, -1) };
  } else {
    const r = hourRange(q, timezone, now, limits.METRICS_MAX_HOURLY_RANGE);
    // Buckets that start in (from - 1 h, to): the one holding `from` too.
    range = { from: new Date(r.from - HOUR + 1).toISOString(), to: new Date(r.to).toISOString() };
    shown = { from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() };
  }
  const rows = await readMetricsSeries(db, { tenantId, groupBy: q.groupBy, from: range.from, to: range.to, by: q.by });
  const totals = new Array<number>(METRIC_VALUES.length).fill(0);
  for (const r of rows) for (let i = 0; i < totals.length; i++) totals[i] += r.values[i];
  return {
    timezone,
    groupBy: q.groupBy,
    ...(q.by ? { by: q.by } : {}),
    from: shown.from,
    to: shown.to,
    rows: rows.map((r) => ({
      bucket: typeof r.bucket === 'number' ? new Date(r.bucket).toISOString() : r.bucket,
      ...(q.by ? { [KEY_FIELD[q.by]]: r.key } : {}),
      ...figures(r.values),
    })),
    totals: figures(totals),
  };
}

/**
 * `GET /api/funnels/:id/metrics`: runs started, completed and failed over local days, and for
 * each step of the funnel's current version (in its order; then steps only older versions
 * had) the runs that reached it, as a share of the runs started and of the step before it in
 * the definition (with branches, not every run passes the step before).
 * Another tenant's funnel is not found.
 */
export async function funnelMetricsReport(db: Db, limits: MetricsLimits, tenantId: string, funnelId: string, q: Pick<MetricsQuery, 'from' | 'to'>, now = Date.now()) {
  const funnel = await getFunnel(db, { tenantId, funnelId });
  if (!funnel) throw new DomainError('NotFound', `funnel ${funnelId} not found`);
  const timezone = await timezoneOf(db, tenantId);
  const range = dayRange(q, timezone, now, Math.floor(limits.METRICS_MAX_DAILY_RANGE / DAY));
  const [version, totals] = await Promise.all([
    getFunnelVersion(db, { funnelId, version: funnel.currentVersion }),
    readFunnelMetrics(db, { tenantId, funnelId, from: range.from, to: range.to }),
  ]);
  const definition = (version?.definition ?? {}) as { steps?: Array<{ id: string; type: string }> };
  const reached = new Map(totals.steps.map((s) => [s.stepId, s.reached]));
  const ordered: Array<{ stepId: string; type: string | null; current: boolean }> = [
    ...(definition.steps ?? []).map((s) => ({ stepId: s.id, type: s.type, current: true })),
    ...totals.steps.filter((s) => !(definition.steps ?? []).some((d) => d.id === s.stepId)).map((s) => ({ stepId: s.stepId, type: null, current: false })),
  ];
  const share = (n: number, of: number) => (of > 0 ? Math.round((n / of) * 10_000) / 10_000 : null);
  let previous = totals.started;
  const steps = ordered.map((s, index) => {
    const n = reached.get(s.stepId) ?? 0;
    const step = { stepId: s.stepId, index, type: s.type, inCurrentVersion: s.current, reached: n, conversion: share(n, totals.started), fromPrevious: share(n, previous) };
    if (s.current) previous = n;
    return step;
  });
  return {
    funnelId,
    name: funnel.name,
    timezone,
    from: range.from,
    to: addDays(range.to, -1),
    started: totals.started,
    completed: totals.completed,
    failed: totals.failed,
    conversion: share(totals.completed, totals.started),
    steps,
  };
}
