/**
 * /api/campaigns (tenant-scoped): create a campaign, read it with its counts, list campaigns
 * and their recipients, pause, resume and cancel it (updates of its workflow). Handlers
 * parse, delegate to src/services/campaigns, respond.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { parseWindows } from '../domain/followUpWindow';
import { CAMPAIGN_RECIPIENT_STATUSES, CAMPAIGN_STATUSES } from '../domain/records';
import type { Logger } from '../log';
import {
  controlCampaign,
  createCampaign,
  getCampaignView,
  listCampaignViews,
  listRecipientViews,
  type CampaignServiceDeps,
} from '../services/campaigns';
import { tenantOf } from './auth';
import { idempotencyKeyOf, messageContentSchema, scheduledForSchema } from './sending';

// ─── schemas ───

/** `09:00-12:00,22:00-02:00` or [{start, end}], in the tenant's timezone (the follow-up format); a window may wrap midnight. */
const windowsSchema = z
  .union([z.string().max(1_000), z.array(z.strictObject({ start: z.string().max(10), end: z.string().max(10) })).max(48)])
  .transform((value, ctx) => {
    try {
      return parseWindows(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** Text as a string, or the send API's content fields (`message`, `media`, `buttons`, `list`, `template`…). */
const campaignMessageSchema = z.preprocess((value) => (typeof value === 'string' ? { message: value } : value), messageContentSchema);

const tagSchema = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

const audienceSchema = z
  .strictObject(
    {
      tags: z.array(tagSchema).min(1, 'needs at least one tag').max(50, 'at most 50 tags').optional(),
      importId: z.uuid({ message: 'must be an import id (uuid)' }).optional(),
      phones: z
        .array(z.string().max(64, 'must be at most 64 characters'))
        .min(1, 'needs at least one phone')
        .max(100_000, 'at most 100,000 phones (import larger lists and use {importId})')
        .optional(),
    },
    { message: 'is required: {tags}, {importId} or {phones}' },
  )
  .superRefine((a, ctx) => {
    const given = (['tags', 'importId', 'phones'] as const).filter((k) => a[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of tags, importId, phones${given.length ? ` (got ${given.join(', ')})` : ''}` });
  })
  .transform((a) => (a.tags ? { tags: a.tags } : a.importId ? { importId: a.importId } : { phones: a.phones ?? [] }));

const limit = (field: string) => z.number({ message: `${field} must be a whole number` }).int('must be a whole number').min(0, 'must be 0 (off) or more');

export const createCampaignBodySchema = z.strictObject({
  name: z.string({ message: 'is required' }).trim().min(1, 'is required').max(200, 'must be at most 200 characters'),
  channels: z
    .array(z.string().trim().min(1, 'must not be empty').max(200), { message: 'is required: instance names or channel ids' })
    .min(1, 'needs at least one channel')
    .max(20, 'at most 20 channels'),
  message: campaignMessageSchema,
  audience: audienceSchema,
  /** ISO 8601 with offset; absent: at once. */
  startAt: scheduledForSchema.optional(),
  windows: windowsSchema.optional(),
  /** Days of the week sends may go out (0 = Sunday), in the tenant's timezone; absent: every day. */
  days: z.array(z.number().int().min(0, 'must be 0 (Sunday) to 6 (Saturday)').max(6, 'must be 0 (Sunday) to 6 (Saturday)')).max(7).optional(),
  quotas: z
    .strictObject({
      perChannelPerMinute: limit('perChannelPerMinute').optional(),
      perChannelPerHour: limit('perChannelPerHour').optional(),
      perChannelPerDay: limit('perChannelPerDay').optional(),
      perTenantPerDay: limit('perTenantPerDay').optional(),
      perRecipientPerDay: limit('perRecipientPerDay').optional(),
    })
    .optional(),
  pacing: z
    .strictObject({
      minGapMs: z.number().int().min(0, 'must be 0 or more').max(3_600_000, 'must be at most 3600000 (1 h)').default(0),
      jitterMs: z.number().int().min(0, 'must be 0 or more').max(3_600_000, 'must be at most 3600000 (1 h)').default(0),
    })
    .optional(),
});
export type CreateCampaignBody = z.input<typeof createCampaignBodySchema>;

export const listCampaignsQuerySchema = z.object({
  status: z.enum(CAMPAIGN_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const listRecipientsQuerySchema = z.object({
  status: z.enum(CAMPAIGN_RECIPIENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(200).optional(),
});

// ─── router ───

const idOf = (req: Request) => String(req.params.id ?? '');

export function campaignsRouter(deps: { config: Config; db: Db; temporal: Client; log: Logger }): Router {
  const router = Router();
  const service: CampaignServiceDeps = { db: deps.db, temporal: deps.temporal, config: deps.config, log: deps.log.child({ component: 'campaigns' }) };

  router.post('/campaigns', async (req, res) => {
    const body = createCampaignBodySchema.parse(req.body);
    const idempotencyKey = idempotencyKeyOf(req);
    const { campaign, created } = await createCampaign(service, {
      tenantId: tenantOf(res),
      idempotencyKey,
      input: {
        name: body.name,
        channels: body.channels,
        message: body.message,
        audience: body.audience,
        startAt: body.startAt,
        windows: body.windows ?? [],
        days: body.days,
        quotas: body.quotas ?? {},
        pacing: body.pacing ?? { minGapMs: 0, jitterMs: 0 },
      },
    });
    // A repeated Idempotency-Key answers the campaign it created the first time (200), whatever the body.
    res.status(created ? 201 : 200).json(campaign);
  });

  router.get('/campaigns', async (req, res) => {
    const query = listCampaignsQuerySchema.parse(req.query);
    res.json(await listCampaignViews(deps.db, { tenantId: tenantOf(res), ...query }));
  });

  router.get('/campaigns/:id', async (req, res) => {
    res.json(await getCampaignView(deps.db, { tenantId: tenantOf(res), campaignId: idOf(req) }));
  });

  router.get('/campaigns/:id/recipients', async (req, res) => {
    const query = listRecipientsQuerySchema.parse(req.query);
    res.json(await listRecipientViews(deps.db, { tenantId: tenantOf(res), campaignId: idOf(req), ...query }));
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    router.post(`/campaigns/:id/${action}`, async (req, res) => {
      res.json(await controlCampaign(service, { tenantId: tenantOf(res), campaignId: idOf(req), action }));
    });
  }

  return router;
}
