/**
 * Conversations API (tenant-scoped): human handover per contact, the tenant's knowledge
 * snippets for AI replies, conversation settings (AI replies, follow-ups) and the record of
 * AI calls. Handlers parse, delegate, respond.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { parseDuration } from '../domain/duration';
import { phoneFromClient } from '../domain/phone';
import { aiStatus, allowedAiModels } from '../services/ai';
import type { Config } from '../config';
import { listInteractions } from '../db/queries/aiInteractions';
import { addKnowledge, deleteKnowledge, listKnowledge, searchKnowledge } from '../db/queries/knowledge';
import { ConversationService } from '../services/conversation';
import { tenantOf } from './auth';
import { ApiError } from './errors';

/** `until`: an ISO time or a duration from now (`2h`); absent: until resumed. */
export const handoverBody = z
  .object({
    until: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return undefined;
        const ms = parseDuration(value);
        const date = ms !== null ? new Date(Date.now() + ms) : new Date(value);
        if (Number.isNaN(date.getTime())) {
          ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time or a duration (2h, 1d)' });
          return z.NEVER;
        }
        if (date.getTime() <= Date.now()) {
          ctx.addIssue({ code: 'custom', message: 'must be in the future' });
          return z.NEVER;
        }
        return date;
      }),
    reason: z.string().trim().min(1).max(200).optional(),
  });

const snippetSchema = z.object({ title: z.string().trim().max(200).optional(), content: z.string().trim().min(1).max(4_000) });
/** One snippet, or `{ snippets: [...] }` (up to 200 at once). */
export const knowledgeBody = z.union([z.object({ snippets: z.array(snippetSchema).min(1).max(200) }), snippetSchema.transform((s) => ({ snippets: [s] }))]);
const pageQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), offset: z.coerce.number().int().min(0).default(0) });
const searchQuery = z.object({ q: z.string().trim().min(1).max(500), limit: z.coerce.number().int().min(1).max(20).default(3) });
const idParam = z.object({ id: z.uuid({ message: 'must be a snippet id (uuid)' }) });

function contactKeyOf(req: Request): string {
  const raw = String(req.params.phone ?? '').trim();
  if (!raw) throw new ApiError('bad_request', 'contact phone required');
  return phoneFromClient(raw) ?? raw;
}

export function contactsRouter(deps: { db: Db; temporal: Client; config: Config }): Router {
  const router = Router();
  const service = new ConversationService(deps.db, deps.temporal, allowedAiModels(deps.config));

  // ─── handover ───
  router.post(
    '/contacts/:phone/handover',
    async (req, res) => {
      const body = handoverBody.parse(req.body ?? {});
      res.json(await service.handover(tenantOf(res), contactKeyOf(req), body));
    },
  );
  router.delete(
    '/contacts/:phone/handover',
    async (req, res) => {
      res.json(await service.resume(tenantOf(res), contactKeyOf(req)));
    },
  );
  router.get(
    '/contacts/:phone/conversation',
    async (req, res) => {
      res.json(await service.status(tenantOf(res), contactKeyOf(req)));
    },
  );

  // ─── knowledge ───
  router.post(
    '/knowledge',
    async (req, res) => {
      const { snippets } = knowledgeBody.parse(req.body);
      res.status(201).json({ snippets: await addKnowledge(deps.db, { tenantId: tenantOf(res), snippets }) });
    },
  );
  router.get(
    '/knowledge',
    async (req, res) => {
      const page = pageQuery.parse(req.query);
      res.json({ snippets: await listKnowledge(deps.db, { tenantId: tenantOf(res), ...page }) });
    },
  );
  router.get(
    '/knowledge/search',
    async (req, res) => {
      const { q, limit } = searchQuery.parse(req.query);
      res.json({ snippets: await searchKnowledge(deps.db, { tenantId: tenantOf(res), text: q, limit }) });
    },
  );
  router.delete(
    '/knowledge/:id',
    async (req, res) => {
      const { id } = idParam.parse(req.params);
      if (!(await deleteKnowledge(deps.db, { tenantId: tenantOf(res), id }))) throw new ApiError('not_found', `snippet ${id} not found`);
      res.status(204).end();
    },
  );

  // ─── settings and the record of AI calls ───
  router.get(
    '/conversations/settings',
    async (_req, res) => {
      res.json({ ...(await service.settings(tenantOf(res))), aiAvailable: aiStatus(deps.config) });
    },
  );
  router.put(
    '/conversations/settings',
    async (req, res) => {
      // Validated (400 with the field path) and merged into the stored settings as written.
      res.json(await service.updateSettings(tenantOf(res), req.body ?? {}));
    },
  );
  router.get(
    '/conversations/ai-calls',
    async (req, res) => {
      const query = z.object({ contact: z.string().optional(), limit: z.coerce.number().int().min(1).max(500).default(100) }).parse(req.query);
      const contactKey = query.contact ? (phoneFromClient(query.contact) ?? query.contact) : undefined;
      res.json({ calls: await listInteractions(deps.db, { tenantId: tenantOf(res), contactKey, limit: query.limit }) });
    },
  );
  return router;
}
