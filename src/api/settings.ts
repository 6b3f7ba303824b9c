/**
 * The tenant's own settings (tenant-scoped): `GET /api/settings`, `PATCH /api/settings`.
 * Handlers parse, delegate, respond.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { tenantSettingsView, updateTenantSettings } from '../services/tenantSettings';
import { tenantOf } from './auth';

type Handler = (req: Request, res: Response) => Promise<void>;
const handle = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch(next);

export function settingsRouter(deps: { config: Config; db: Db }): Router {
  const router = Router();
  router.get(
    '/settings',
    handle(async (_req, res) => {
      res.json({ settings: await tenantSettingsView(deps.db, deps.config, tenantOf(res)) });
    }),
  );
  router.patch(
    '/settings',
    handle(async (req, res) => {
      res.json({ settings: await updateTenantSettings(deps.db, deps.config, tenantOf(res), req.body) });
    }),
  );
  return router;
}
