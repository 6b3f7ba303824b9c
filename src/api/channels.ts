/**
 * /api/channels (tenant-scoped): connect a number (an Evolution instance zapflow creates),
 * its QR, restart, logout, delete, and the views of every channel of the tenant (Meta and
 * LancePilot ones added by an operator too) with their state history. Handlers parse,
 * delegate to src/services/channelLifecycle, respond.
 */
import { Router, type Request } from 'express';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';
import { createProviderClients } from '../providers';
import { createSandboxClient } from '../providers/sandbox';
import type { ProviderRegistry } from '../providers/types';
import {
  channelQr,
  channelStates,
  createEvolutionChannel,
  deleteChannel,
  getChannelView,
  listChannelViews,
  logoutChannel,
  restartChannel,
  type LifecycleDeps,
} from '../services/channelLifecycle';
import { tenantOf } from './auth';

const idOf = (req: Request) => String(req.params.id ?? '').slice(0, 100);

export function channelsRouter(deps: { config: Config; db: Db; temporal: Client; log: Logger; providers?: ProviderRegistry }): Router {
  const router = Router();
  const log = deps.log.child({ component: 'channels' });
  const service: LifecycleDeps = {
    db: deps.db,
    config: deps.config,
    log,
    providers: deps.providers ?? { ...createProviderClients({ timeoutMs: deps.config.PROVIDER_TIMEOUT }), sandbox: createSandboxClient(deps.db, log) },
    watch: { client: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, config: deps.config },
  };

  router.post('/channels', async (req, res) => {
    res.status(201).json(await createEvolutionChannel(service, { tenantId: tenantOf(res), input: req.body }));
  });

  router.get('/channels', async (_req, res) => {
    res.json(await listChannelViews(service, { tenantId: tenantOf(res) }));
  });

  router.get('/channels/:id', async (req, res) => {
    res.json(await getChannelView(service, { tenantId: tenantOf(res), channelId: idOf(req) }));
  });

  router.get('/channels/:id/qr', async (req, res) => {
    res.json(await channelQr(service, { tenantId: tenantOf(res), channelId: idOf(req) }));
  });

  router.get('/channels/:id/states', async (req, res) => {
    res.json(await channelStates(service, { tenantId: tenantOf(res), channelId: idOf(req), query: req.query }));
  });

  router.post('/channels/:id/restart', async (req, res) => {
    res.json(await restartChannel(service, { tenantId: tenantOf(res), channelId: idOf(req) }));
  });

  router.post('/channels/:id/logout', async (req, res) => {
    res.json(await logoutChannel(service, { tenantId: tenantOf(res), channelId: idOf(req) }));
  });

  router.delete('/channels/:id', async (req, res) => {
    res.json(await deleteChannel(service, { tenantId: tenantOf(res), channelId: idOf(req) }));
  });

  return router;
}
