/**
 * /api/metrics and /api/funnels/:id/metrics (tenant-scoped): what dashboards read, from the
 * rolled-up rows only (services/metricsReports.ts). Handlers parse, delegate, respond.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { funnelMetricsReport, metricsReport, type TimeBound } from '../services/metricsReports';
import { tenantOf } from './auth';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** A local date (`2025-03-01`, in the tenant's timezone) or an instant with its offset (`2025-03-01T09:00:00-03:00`). */
const timeBound = z
  .string()
  .optional()
  .transform((value, ctx): TimeBound | undefined => {
    if (value === undefined) return undefined;
    const v = value.trim();
    if (DATE.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v)) return { date: v };
    if (INSTANT.test(v) && !Number.isNaN(Date.parse(v))) return { at: Date.parse(v) };
    ctx.addIssue({ code: 'custom', message: 'must be a date (YYYY-MM-DD, in the tenant timezone) or an ISO 8601 time with its offset' });
    return z.NEVER;
  });

export const metricsQuerySchema = z.object({
  from: timeBound,
  to: timeBound,
  groupBy: z.enum(['hour', 'day']).default('day'),
  by: z.enum(['channel', 'funnel', 'campaign']).optional(),
});

export const funnelMetricsQuerySchema = z.object({ from: timeBound, to: timeBound });

const idParam = z.object({ id: z.uuid({ message: 'must be a funnel id (uuid)' }) });

export function metricsRouter(deps: { db: Db; config: Config }): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const query = metricsQuerySchema.parse(req.query);
    res.json(await metricsReport(deps.db, deps.config, tenantOf(res), query));
  });
  router.get('/funnels/:id/metrics', async (req, res) => {
    const { id } = idParam.parse(req.params);
    const query = funnelMetricsQuerySchema.parse(req.query);
    res.json(await funnelMetricsReport(deps.db, deps.config, tenantOf(res), id, query));
  });
  return router;
}
