/**
 * Contacts and audiences API (tenant-scoped): contact lists with search, filters and cursor
 * pages; a contact's profile and changes to it; CSV imports and their jobs; opt-outs and
 * re-subscription. Handlers parse, delegate, respond.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { parseDuration } from '../domain/duration';
import { phoneFromClient } from '../domain/phone';
import type { Logger } from '../log';
import { ContactImporter } from '../services/contactImport';
import { ContactsService, parseContactSearch } from '../services/contacts';
import { apiKeyOf, tenantOf } from './auth';
import { ApiError } from './errors';
import { spoolUpload } from './upload';

/** `30d`, `12h` (that long ago) or an ISO 8601 time. */
const sinceSchema = z
  .string()
  .trim()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return undefined;
    const ms = /^\d+(\.\d+)?\s*[a-z]+$/i.test(value) ? parseDuration(value) : null;
    const date = ms !== null ? new Date(Date.now() - ms) : new Date(value);
    const year = date.getUTCFullYear();
    if (Number.isNaN(date.getTime()) || year < 1970 || year > 9999) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration (30d, 12h) or an ISO 8601 time' });
      return z.NEVER;
    }
    return date;
  });

const tagList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((value) => {
    if (value === undefined) return undefined;
    const tags = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean);
    return tags.length ? [...new Set(tags)] : undefined;
  })
  .refine((tags) => tags === undefined || tags.length <= 50, { message: 'at most 50 tags' });

export const contactsQuerySchema = z.object({
  q: z.string().max(100).optional().describe('phone digits (prefix, with or without 55) or words of the name (prefixes; case and accents ignored)'),
  tag: tagList.describe('contacts with any of these tags (repeat the parameter, or comma separated)'),
  optedOut: z.enum(['true', 'false']).optional(),
  activeSince: sinceSchema.describe('last message either way at or after: a duration ago (30d) or an ISO time'),
  inactiveSince: sinceSchema.describe('no message either way since (contacts never active included): a duration ago (30d) or an ISO time'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
});

export const optOutsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const tagArray = z.array(z.string().max(200)).max(200);
export const contactPatchSchema = z
  .object({
    name: z.string().max(1_000).nullable().optional(),
    tags: tagArray.optional().describe('replaces every tag'),
    addTags: tagArray.optional(),
    removeTags: tagArray.optional(),
    variables: z
      .record(z.string().max(200), z.string().max(10_000).nullable())
      .optional()
      .describe('merged into the stored ones; null removes one; keys become template keys ({{data_de_nascimento}})'),
  })
  .strict()
  .refine((b) => !(b.tags && (b.addTags || b.removeTags)), { message: 'give tags (replace) or addTags/removeTags, not both', path: ['tags'] });

const importIdParam = z.object({ id: z.uuid({ message: 'must be an import id (uuid)' }) });

function contactKeyOf(req: Request): string {
  const raw = String(req.params.phone ?? '').trim();
  if (!raw || raw.length > 200 || raw.includes('\u0000')) throw new ApiError('bad_request', 'a contact phone (or contact key) is required in the path');
  return phoneFromClient(raw) ?? raw;
}

export function audienceRouter(deps: { db: Db; config: Config; log: Logger; temporal?: Client; importer?: ContactImporter }): Router {
  const router = Router();
  const contacts = new ContactsService(deps.db, deps.temporal);
  const importer = deps.importer ?? new ContactImporter({ db: deps.db, log: deps.log, config: deps.config });

  router.get('/contacts', async (req, res) => {
    const query = contactsQuerySchema.parse(req.query);
    const filters = {
      ...parseContactSearch(query.q ?? ''),
      tags: query.tag,
      optedOut: query.optedOut === undefined ? undefined : query.optedOut === 'true',
      activeSince: query.activeSince,
      inactiveSince: query.inactiveSince,
    };
    res.json(await contacts.list(tenantOf(res), { filters, cursor: query.cursor, limit: query.limit }));
  });

  router.post('/contacts/import', async (req, res) => {
    const upload = await spoolUpload(req, res, { maxBytes: deps.config.CONTACT_IMPORT_MAX_BYTES, field: 'file' });
    const result = await importer.importFile(tenantOf(res), { path: upload.path, fileName: upload.fileName });
    if (result.job) {
      res.status(202).location(`/api/contacts/imports/${result.import.importId}`).json({ importId: result.import.importId, status: result.import.status });
    } else {
      res.json(result.import);
    }
  });

  router.get('/contacts/imports/:id', async (req, res) => {
    const { id } = importIdParam.parse(req.params);
    res.json(await importer.get(tenantOf(res), id));
  });

  router.get('/contacts/:phone', async (req, res) => {
    res.json(await contacts.get(tenantOf(res), contactKeyOf(req)));
  });

  router.patch('/contacts/:phone', async (req, res) => {
    const body = contactPatchSchema.parse(req.body ?? {});
    res.json(await contacts.update(tenantOf(res), contactKeyOf(req), body));
  });

  router.delete('/contacts/:phone/opt-out', async (req, res) => {
    res.json(await contacts.resubscribe(tenantOf(res), contactKeyOf(req), apiKeyOf(res)));
  });

  router.get('/opt-outs', async (req, res) => {
    const query = optOutsQuerySchema.parse(req.query);
    res.json(await contacts.optOuts(tenantOf(res), query));
  });

  return router;
}
