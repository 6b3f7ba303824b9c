/**
 * /api/funnels and /api/funnel-runs (tenant-scoped). Handlers parse, delegate, respond.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { listFunnelRunsOfCampaign } from '../db/queries/campaigns';
import { getFunnelRun, listFunnelRuns } from '../db/queries/funnelRuns';
import { FUNNEL_RUN_STATUSES } from '../domain/records';
import { parseDuration } from '../domain/duration';
import { phoneFromClient } from '../domain/phone';
import { cancelFunnelRun } from '../services/funnelRuns';
import { FunnelService, type FunnelTriggerCache } from '../services/funnels';
import { tenantOf } from './auth';
import { ApiError } from './errors';

export const funnelRunsQuerySchema = z.object({
  status: z.enum(FUNNEL_RUN_STATUSES).optional(),
  funnelId: z.uuid().optional(),
  /** Runs started by a click on this campaign's message (each run says its `campaignId`). */
  campaignId: z.uuid({ message: 'must be a campaign id (uuid)' }).optional(),
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

/** The reason is optional: anything but a non-empty string gets the default one. */
function cancelReasonOf(body: unknown): string {
  const reason = (body as { reason?: unknown } | null | undefined)?.reason;
  return typeof reason === 'string' && reason.trim() ? reason.trim() : 'cancelled through the API';
}

export function funnelsRouter(deps: { db: Db; temporal: Client; funnelTriggers?: FunnelTriggerCache }): Router {
  const router = Router();
  const service = new FunnelService(deps.db, deps.funnelTriggers);

  router.post(
    '/funnels',
    async (req, res) => {
      res.status(201).json(await service.create(tenantOf(res), req.body));
    },
  );
  router.get(
    '/funnels',
    async (_req, res) => {
      res.json({ funnels: await service.list(tenantOf(res)) });
    },
  );
  router.get(
    '/funnels/:id',
    async (req, res) => {
      const { id } = idParam.parse(req.params);
      res.json(await service.get(tenantOf(res), id));
    },
  );
  router.put(
    '/funnels/:id',
    async (req, res) => {
      const { id } = idParam.parse(req.params);
      res.json(await service.update(tenantOf(res), id, req.body));
    },
  );
  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    router.post(
      `/funnels/:id/${action}`,
      async (req, res) => {
        const { id } = idParam.parse(req.params);
        res.json(await service.setActive(tenantOf(res), id, active));
      },
    );
  }
  router.delete(
    '/funnels/:id',
    async (req, res) => {
      const { id } = idParam.parse(req.params);
      await service.remove(tenantOf(res), id);
      res.status(204).end();
    },
  );

  router.get(
    '/funnel-runs',
    async (req, res) => {
      const query = funnelRunsQuerySchema.parse(req.query);
      const contactKey = query.contact ? (phoneFromClient(query.contact) ?? query.contact) : undefined;
      const { campaignId, ...filters } = query;
      const runs = campaignId
        ? await listFunnelRunsOfCampaign(deps.db, { tenantId: tenantOf(res), campaignId, ...filters, contactKey })
        : await listFunnelRuns(deps.db, { tenantId: tenantOf(res), ...filters, contactKey });
      res.json({ runs });
    },
  );
  router.get(
    '/funnel-runs/:id',
    async (req, res) => {
      const run = await getFunnelRun(deps.db, { tenantId: tenantOf(res), runId: String(req.params.id) });
      if (!run) throw new ApiError('not_found', `funnel run ${req.params.id} not found`);
      res.json(run);
    },
  );
  router.post(
    '/funnel-runs/:id/cancel',
    async (req, res) => {
      const cancelling = await cancelFunnelRun(
        { db: deps.db, client: deps.temporal },
        { tenantId: tenantOf(res), runId: String(req.params.id), reason: cancelReasonOf(req.body) },
      );
      res.status(202).json(cancelling);
    },
  );
  return router;
}
