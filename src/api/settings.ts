/**
 * The tenant's own settings (tenant-scoped): `GET /api/settings`, `PATCH /api/settings`.
 * Handlers parse, delegate, respond.
 */
import { Router } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { tenantSettingsView, updateTenantSettings } from '../services/tenantSettings';
import { tenantOf } from './auth';

export function settingsRouter(deps: { config: Config; db: Db }): Router {
  const router = Router();
  router.get(
    '/settings',
    async (_req, res) => {
      res.json({ settings: await tenantSettingsView(deps.db, deps.config, tenantOf(res)) });
    },
  );
  router.patch(
    '/settings',
    async (req, res) => {
      res.json({ settings: await updateTenantSettings(deps.db, deps.config, tenantOf(res), req.body) });
    },
  );
  return router;
}
