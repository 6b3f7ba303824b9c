/**
 * /api/funnels and /api/funnel-runs (tenant-scoped). Handlers parse, delegate, respond.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db/client';
import { getFunnelRun, listFunnelRuns } from '../db/queries/funnels';
import { FUNNEL_RUN_STATUSES } from '../db/schema';
import { parseDuration } from '../domain/duration';
import { phoneFromClient } from '../domain/phone';
import { FunnelHasActiveRuns, FunnelNotFound, FunnelService, type FunnelTriggerCache } from '../services/funnels';
import { tenantOf } from './auth';
import { ApiError } from './errors';

export const funnelRunsQuerySchema = z.object({
  status: z.enum(FUNNEL_RUN_STATUSES).optional(),
  funnelId: z.uuid().optional(),
  contact: z.string().optional(),
  since: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const ms = parseDuration(value);
      if (ms !== null) return new Date(Date.now() - ms);
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration (24h, 7d) or an ISO 8601 time' });
        return z.NEVER;
      }
      return date;
    }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const idParam = z.object({ id: z.uuid({ message: 'must be a funnel id (uuid)' }) });

type Handler = (req: Request, res: Response) => Promise<void>;
const handle = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch(next);

function translate(err: unknown): never {
  if (err instanceof FunnelNotFound) throw new ApiError('not_found', err.message);
  if (err instanceof FunnelHasActiveRuns) throw new ApiError('conflict', err.message);
  throw err;
}

export function funnelsRouter(deps: { db: Db; temporal: Client; funnelTriggers?: FunnelTriggerCache }): Router {
  const router = Router();
  const service = new FunnelService(deps.db, deps.funnelTriggers);

  router.post(
    '/funnels',
    handle(async (req, res) => {
      res.status(201).json(await service.create(tenantOf(res), req.body).catch(translate));
    }),
  );
  router.get(
    '/funnels',
    handle(async (_req, res) => {
      res.json({ funnels: await service.list(tenantOf(res)) });
    }),
  );
  router.get(
    '/funnels/:id',
    handle(async (req, res) => {
      const { id } = idParam.parse(req.params);
      res.json(await service.get(tenantOf(res), id).catch(translate));
    }),
  );
  router.put(
    '/funnels/:id',
    handle(async (req, res) => {
      const { id } = idParam.parse(req.params);
      res.json(await service.update(tenantOf(res), id, req.body).catch(translate));
    }),
  );
  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    router.post(
      `/funnels/:id/${action}`,
      handle(async (req, res) => {
        const { id } = idParam.parse(req.params);
        res.json(await service.setActive(tenantOf(res), id, active).catch(translate));
      }),
    );
  }
  router.delete(
    '/funnels/:id',
    handle(async (req, res) => {
      const { id } = idParam.parse(req.params);
      await service.remove(tenantOf(res), id).catch(translate);
      res.status(204).end();
    }),
  );

  router.get(
    '/funnel-runs',
    handle(async (req, res) => {
      const query = funnelRunsQuerySchema.parse(req.query);
      const contactKey = query.contact ? (phoneFromClient(query.contact) ?? query.contact) : undefined;
      const runs = await listFunnelRuns(deps.db, { tenantId: tenantOf(res), ...query, contactKey });
      res.json({ runs });
    }),
  );
  router.get(
    '/funnel-runs/:id',
    handle(async (req, res) => {
      const run = await getFunnelRun(deps.db, { tenantId: tenantOf(res), runId: String(req.params.id) });
      if (!run) throw new ApiError('not_found', `funnel run ${req.params.id} not found`);
      res.json(run);
    }),
  );
  router.post(
    '/funnel-runs/:id/cancel',
    handle(async (req, res) => {
      const tenantId = tenantOf(res);
      const run = await getFunnelRun(deps.db, { tenantId, runId: String(req.params.id) });
      if (!run) throw new ApiError('not_found', `funnel run ${req.params.id} not found`);
      if (!['queued', 'running', 'waiting'].includes(run.status)) {
        throw new ApiError('conflict', `funnel run is already ${run.status}`);
      }
      const reason = typeof req.body?.reason === 'string' && req.body.reason.trim() ? req.body.reason.trim() : 'cancelled through the API';
      try {
        await deps.temporal.workflow.getHandle(run.id).signal('cancel', { reason });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new ApiError('conflict', 'funnel run has already finished');
        throw err;
      }
      res.status(202).json({ id: run.id, status: 'cancelling', reason });
    }),
  );
  return router;
}
