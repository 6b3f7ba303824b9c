/**
 * /admin: tenants, their API keys and channels, for the operator (ADMIN_API_KEY). Keys are
 * shown once, stored hashed, revocable; channel credentials are written, never read back.
 * Without ADMIN_API_KEY the admin routes do not exist. The key is checked before the body is
 * read; a wrong one counts against its address's failed authentications (429 over the limit).
 */
import { jsonBody } from './jsonBody';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client';
import { getTenant, listApiKeys, listTenants } from '../db/queries/tenants';
import { addChannel, addChannelSchema, listChannels, updateChannel } from '../services/channels';
import { createApiKey, createTenant, revokeApiKey } from '../services/tenants';
import { safeEqual } from '../ingest/verify';
import { ApiError } from './errors';
import type { ApiKeyCache } from './auth';

export const createTenantBody = z.object({
  name: z.string().trim().min(1, 'is required').max(120),
  timezone: z.string().default('America/Sao_Paulo'),
});
export const createKeyBody = z.object({ name: z.string().trim().min(1).max(60).default('default') });
const tenantParam = z.object({ id: z.uuid({ message: 'must be a tenant id (uuid)' }) });
const keyParam = z.object({ id: z.uuid({ message: 'must be an API key id (uuid)' }) });
const channelParam = z.object({ id: z.uuid({ message: 'must be a channel id (uuid)' }) });

export interface AdminDeps {
  db: Db;
  adminKey?: string;
  bodyLimit: string;
  /** Failed authentications per address (authFailureLimit), shared with /api. */
  failures?: RequestHandler;
  /** Revoking a key here drops it from /api's cache at once. */
  keyCache?: ApiKeyCache;
  /** Called after a channel is added or changed (the webhook directory's cache). */
  onChannelsChanged?: () => void;
}

export function adminRouter(deps: AdminDeps): Router {
  const router = Router();
  if (!deps.adminKey) return router;
  const adminKey = deps.adminKey;
  const failures: RequestHandler = deps.failures ?? ((_req, _res, next) => next());
  router.use(
    '/admin',
    (req, res, next) => {
      const presented = req.header('authorization')?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
      if (presented && safeEqual(presented, adminKey)) return next();
      void failures(req, res, (err?: unknown) => next(err ?? new ApiError('unauthorized', 'admin key required')));
    },
    ...jsonBody(deps.bodyLimit),
  );

  router.post(
    '/admin/tenants',
    async (req, res) => {
      const body = createTenantBody.parse(req.body);
      const { tenant, apiKey, apiKeyId } = await createTenant(deps.db, body);
      res.status(201).json({ tenantId: tenant.id, name: tenant.name, timezone: tenant.timezone, apiKeyId, apiKey });
    },
  );
  router.get(
    '/admin/tenants',
    async (_req, res) => {
      res.json({ tenants: await listTenants(deps.db) });
    },
  );
  router.post(
    '/admin/tenants/:id/api-keys',
    async (req, res) => {
      const { id } = tenantParam.parse(req.params);
      const body = createKeyBody.parse(req.body ?? {});
      if (!(await getTenant(deps.db, { tenantId: id }))) throw new ApiError('not_found', `tenant ${id} not found`);
      const key = await createApiKey(deps.db, { tenantId: id, name: body.name });
      res.status(201).json({ apiKeyId: key.id, apiKey: key.key, name: body.name });
    },
  );
  router.get(
    '/admin/tenants/:id/api-keys',
    async (req, res) => {
      const { id } = tenantParam.parse(req.params);
      res.json({ apiKeys: await listApiKeys(deps.db, { tenantId: id }) });
    },
  );
  router.delete(
    '/admin/api-keys/:id',
    async (req, res) => {
      const { id } = keyParam.parse(req.params);
      if (!(await revokeApiKey(deps.db, { keyId: id }))) throw new ApiError('not_found', `API key ${id} not found or already revoked`);
      deps.keyCache?.forgetKey(id);
      res.status(204).end();
    },
  );
  router.post(
    '/admin/tenants/:id/channels',
    async (req, res) => {
      const { id } = tenantParam.parse(req.params);
      const body = addChannelSchema.parse({ ...(req.body ?? {}), tenantId: id });
      const channel = await addChannel(deps.db, body);
      deps.onChannelsChanged?.();
      res.status(201).json({ channelId: channel.id, tenantId: channel.tenantId, provider: channel.provider, externalId: channel.externalId });
    },
  );
  router.get(
    '/admin/tenants/:id/channels',
    async (req, res) => {
      const { id } = tenantParam.parse(req.params);
      res.json({ channels: await listChannels(deps.db, { tenantId: id }) });
    },
  );
  router.patch(
    '/admin/channels/:id',
    async (req, res) => {
      const { id } = channelParam.parse(req.params);
      const channel = await updateChannel(deps.db, { channel: id, change: req.body });
      deps.onChannelsChanged?.();
      res.json({ channel });
    },
  );
  return router;
}
