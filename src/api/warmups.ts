/**
 * /api/warmups (tenant-scoped): create a warm-up between two or more of the tenant's own
 * numbers, read it with its progress per local day, list them, pause, resume and cancel it
 * (updates of its workflow). Handlers parse, delegate to src/services/warmups, respond.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { parseDuration } from '../domain/duration';
import { parseWindows } from '../domain/followUpWindow';
import { WARMUP_STATUSES } from '../domain/warmup';
import type { Logger } from '../log';
import { controlWarmup, createWarmup, getWarmupView, listWarmupViews, type WarmupServiceDeps } from '../services/warmups';
import { tenantOf } from './auth';

// ─── schemas ───

/** `09:00-12:00,14:00-18:00` or [{start, end}], in the tenant's timezone (the follow-up format); a window may wrap midnight. */
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

const DAY_MS = 86_400_000;

/** `10m`, `1h`, `90s` or milliseconds: at most one day. */
const delaySchema = z.union([z.string().max(20), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null || ms > DAY_MS) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration of at most 1d (e.g. "10m", "1h", or milliseconds)' });
    return z.NEVER;
  }
  return ms;
});

const textListSchema = (what: string) =>
  z
    .array(z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters'))
    .min(1, `needs at least one ${what}`)
    .max(200, `at most 200 ${what}s`);

export const createWarmupBodySchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
  channels: z
    .array(z.string().trim().min(1, 'must not be empty').max(200), { message: 'is required: two or more instance names or channel ids' })
    .min(2, 'needs two or more of your numbers')
    .max(20, 'at most 20 channels'),
  /** When rounds may run, in the tenant's timezone; absent: any time. */
  windows: windowsSchema.optional(),
  /** Days of the week rounds may run (0 = Sunday), in the tenant's timezone; absent: every day. */
  days: z.array(z.number().int().min(0, 'must be 0 (Sunday) to 6 (Saturday)').max(6, 'must be 0 (Sunday) to 6 (Saturday)')).max(7).optional(),
  /** Rounds per day: `start` on the first day, growing `growthPercent` a day, at most `cap`. */
  ramp: z
    .strictObject({
      start: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000, 'must be at most 1000'),
      growthPercent: z.number().min(0, 'must be 0 or more').max(1_000, 'must be at most 1000').default(20),
      cap: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000, 'must be at most 1000'),
    })
    .refine((r) => r.cap >= r.start, { message: 'cap must be at least start', path: ['cap'] })
    .default({ start: 10, growthPercent: 20, cap: 200 }),
  delayBetweenRounds: delaySchema.default(600_000),
  /** Messages exchanged per round (the opening and the answers). */
  turnsPerRound: z.number().int('must be a whole number').min(2, 'must be at least 2 (an opening and an answer)').max(20, 'must be at most 20').default(4),
  topics: textListSchema('topic').optional(),
  phrases: textListSchema('phrase').optional(),
  /** Messages written by AI (when the server has OPENAI_API_KEY), about the topics. */
  ai: z.boolean().optional(),
});
export type CreateWarmupBody = z.input<typeof createWarmupBodySchema>;

export const listWarmupsQuerySchema = z.object({
  status: z.enum(WARMUP_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

// ─── router ───

const idOf = (req: Request) => String(req.params.id ?? '');

export function warmupsRouter(deps: { config: Config; db: Db; temporal: Client; log: Logger }): Router {
  const router = Router();
  const service: WarmupServiceDeps = { db: deps.db, temporal: deps.temporal, config: deps.config, log: deps.log.child({ component: 'warmups' }) };

  router.post('/warmups', async (req, res) => {
    const body = createWarmupBodySchema.parse(req.body);
    const warmup = await createWarmup(service, {
      tenantId: tenantOf(res),
      input: {
        name: body.name,
        channels: body.channels,
        windows: body.windows ?? [],
        days: body.days,
        ramp: body.ramp,
        delayMs: body.delayBetweenRounds,
        turnsPerRound: body.turnsPerRound,
        topics: body.topics,
        phrases: body.phrases,
        ai: body.ai,
      },
    });
    res.status(201).json(warmup);
  });

  router.get('/warmups', async (req, res) => {
    const query = listWarmupsQuerySchema.parse(req.query);
    res.json(await listWarmupViews(deps.db, { tenantId: tenantOf(res), ...query }));
  });

  router.get('/warmups/:id', async (req, res) => {
    res.json(await getWarmupView(deps.db, { tenantId: tenantOf(res), warmupId: idOf(req) }));
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    router.post(`/warmups/:id/${action}`, async (req, res) => {
      res.json(await controlWarmup(service, { tenantId: tenantOf(res), warmupId: idOf(req), action }));
    });
  }

  return router;
}
