/**
 * /api/whatsapp/*: send now, schedule, cancel, reschedule, and what became of a message
 * (tenant-scoped). Handlers parse, delegate to src/services/sending, respond.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { clientPhoneSchema } from '../domain/phone';
import type { Logger } from '../log';
import type { OutboundMessage } from '../providers/types';
import {
  cancelSchedule,
  getMessageDetails,
  getScheduleDetails,
  rescheduleSchedule,
  scheduleMessage,
  sendMessage,
  type SendingServiceDeps,
} from '../services/sending';
import { tenantOf } from './auth';
import { ApiError } from './errors';

// ─── schemas ───

const buttonSchema = z.object({
  id: z.string().trim().min(1).max(256, 'must be at most 256 characters').optional(),
  title: z.string({ message: 'is required' }).trim().min(1, 'is required').max(20, 'must be at most 20 characters'),
});

const mediaSchema = z.object({
  type: z.enum(['image', 'video', 'document', 'audio']),
  url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
  fileName: z.string().max(240).optional(),
  mimeType: z.string().max(100).optional(),
});

const listSchema = z
  .object({
    buttonText: z.string().trim().min(1, 'is required').max(20, 'must be at most 20 characters'),
    sections: z
      .array(
        z.object({
          title: z.string().trim().min(1, 'is required').max(24, 'must be at most 24 characters'),
          rows: z
            .array(
              z.object({
                id: z.string().trim().min(1, 'is required').max(200, 'must be at most 200 characters'),
                title: z.string().trim().min(1, 'is required').max(24, 'must be at most 24 characters'),
                description: z.string().max(72, 'must be at most 72 characters').optional(),
              }),
            )
            .min(1, 'needs at least one row'),
        }),
      )
      .min(1, 'needs at least one section')
      .max(10, 'at most 10 sections'),
  })
  .superRefine((list, ctx) => {
    const rows = list.sections.reduce((n, s) => n + s.rows.length, 0);
    if (rows > 10) ctx.addIssue({ code: 'custom', path: ['sections'], message: `at most 10 rows in total (got ${rows})` });
  });

const templateSchema = z.object({
  name: z.string({ message: 'is required' }).trim().min(1, 'is required').max(512),
  language: z.string().trim().min(2).max(15).default('pt_BR'),
  variables: z.array(z.string()).max(100).optional(),
  components: z.array(z.record(z.string(), z.unknown())).optional(),
});

const MESSAGE_MAX = 4096;
const CAPTION_MAX = 1024;

/** What to send: text (`message`), or media / reply buttons / a list with `message` as body, or a Meta template. */
const contentSchema = z.object({
  instanceName: z.string({ message: 'is required' }).trim().min(1, 'is required'),
  phoneNumber: clientPhoneSchema,
  message: z.string().max(MESSAGE_MAX, `must be at most ${MESSAGE_MAX} characters`).optional(),
  title: z.string().max(60, 'must be at most 60 characters').optional(),
  footer: z.string().max(60, 'must be at most 60 characters').optional(),
  media: mediaSchema.optional(),
  buttons: z.array(buttonSchema).min(1, 'needs at least one button').max(3, 'at most 3 reply buttons').optional(),
  list: listSchema.optional(),
  template: templateSchema.optional(),
});
type Content = z.infer<typeof contentSchema>;
/** The content fields alone: what a message is, without whom it goes to. */
type MessageContent = Omit<Content, 'instanceName' | 'phoneNumber'>;

function checkContent(c: MessageContent, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const kinds = (['media', 'buttons', 'list', 'template'] as const).filter((k) => c[k] !== undefined);
  if (kinds.length > 1) {
    issue(kinds[1], `cannot be combined with ${kinds[0]}: send one kind of content per message`);
    return;
  }
  const text = c.message?.trim() ?? '';
  if (c.template) {
    if (c.message !== undefined) issue('message', 'must be absent when a template is sent');
    return;
  }
  if (c.media) {
    if (text.length > CAPTION_MAX) issue('message', `must be at most ${CAPTION_MAX} characters as a media caption`);
    return;
  }
  if (!text) issue('message', 'is required (or send media or a template)');
  if (c.buttons) {
    const titles = c.buttons.map((b) => b.title.toLowerCase());
    if (new Set(titles).size !== titles.length) issue('buttons', 'button titles must be unique');
    const ids = c.buttons.map((b, i) => b.id ?? `btn_${i + 1}`);
    if (new Set(ids).size !== ids.length) issue('buttons', 'button ids must be unique');
  }
}

function toOutbound(c: MessageContent): OutboundMessage {
  if (c.template) {
    const { name, language, variables, components } = c.template;
    return { type: 'template', name, language, ...(variables ? { variables } : {}), ...(components ? { components } : {}) };
  }
  if (c.media) {
    return {
      type: 'media',
      mediaType: c.media.type,
      url: c.media.url,
      ...(c.message?.trim() ? { caption: c.message } : {}),
      ...(c.media.fileName ? { fileName: c.media.fileName } : {}),
      ...(c.media.mimeType ? { mimeType: c.media.mimeType } : {}),
    };
  }
  const extra = { ...(c.title ? { title: c.title } : {}), ...(c.footer ? { footer: c.footer } : {}) };
  if (c.buttons) {
    return { type: 'buttons', text: c.message!, ...extra, buttons: c.buttons.map((b, i) => ({ id: b.id ?? `btn_${i + 1}`, title: b.title })) };
  }
  if (c.list) {
    return {
      type: 'list',
      text: c.message!,
      ...extra,
      buttonText: c.list.buttonText,
      sections: c.list.sections.map((s) => ({
        title: s.title,
        rows: s.rows.map((r) => ({ id: r.id, title: r.title, ...(r.description ? { description: r.description } : {}) })),
      })),
    };
  }
  return { type: 'text', text: c.message! };
}

export const sendMessageBodySchema = contentSchema.superRefine(checkContent).transform((c) => ({
  instanceName: c.instanceName,
  phoneNumber: c.phoneNumber,
  message: toOutbound(c),
}));
export type SendMessageBody = z.input<typeof sendMessageBodySchema>;

/**
 * A message's content under the send API's rules, without a recipient (campaigns): `message`
 * as the text (or caption, or body of buttons and lists), `title`, `footer`, `media`,
 * `buttons`, `list` or `template`.
 */
export const messageContentSchema = contentSchema.omit({ instanceName: true, phoneNumber: true }).superRefine(checkContent).transform(toOutbound);

const ISO_WITH_OFFSET = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * An ISO 8601 date-time with an offset (`Z` or `±hh:mm`) → epoch ms. A time without offset
 * is refused: whose local time would it be? (Future/limit rules are checked by the service.)
 */
export const scheduledForSchema = z.string({ message: 'is required: an ISO 8601 date-time with offset' }).transform((value, ctx) => {
  const m = ISO_WITH_OFFSET.exec(value.trim());
  const offset = m?.[2]?.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = m ? Date.parse(`${m[1]}${offset}`) : NaN;
  // Date.parse rolls 2030-02-30 over to March 2: a day the month does not have is refused.
  const [y, mo, d] = (m?.[1] ?? '').slice(0, 10).split('-').map(Number);
  const realDay = m !== null && new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d;
  if (Number.isNaN(ms) || !realDay) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date-time with offset, e.g. 2025-03-10T14:30:00-03:00' });
    return z.NEVER;
  }
  return ms;
});

export const scheduleMessageBodySchema = contentSchema
  .extend({ scheduledFor: scheduledForSchema })
  .superRefine(checkContent)
  .transform((c) => ({ instanceName: c.instanceName, phoneNumber: c.phoneNumber, message: toOutbound(c), scheduledFor: c.scheduledFor }));
export type ScheduleMessageBody = z.input<typeof scheduleMessageBodySchema>;

export const rescheduleBodySchema = z.object({ scheduledFor: scheduledForSchema });
export type RescheduleBody = z.input<typeof rescheduleBodySchema>;

const idempotencyKeySchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .optional();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ─── router ───

export function idempotencyKeyOf(req: Request): string | undefined {
  const parsed = idempotencyKeySchema.safeParse(req.header('idempotency-key'));
  if (!parsed.success) {
    const message = parsed.error.issues[0].message;
    throw new ApiError('validation_failed', `Idempotency-Key: ${message}`, [{ path: 'Idempotency-Key', message }]);
  }
  return parsed.data;
}

/** A path id that is not a uuid names nothing: 404, like an id of another tenant. */
function idOf(req: Request, what: string): string {
  const id = String(req.params.id ?? '');
  if (!UUID.test(id)) throw new ApiError('not_found', `${what} ${id} not found`);
  return id;
}

export function sendingRouter(deps: { config: Config; db: Db; temporal: Client; log: Logger }): Router {
  const router = Router();
  const service: SendingServiceDeps = { db: deps.db, temporal: deps.temporal, config: deps.config, log: deps.log.child({ component: 'sending' }) };

  router.post(
    '/whatsapp/send-message',
    async (req, res) => {
      const input = sendMessageBodySchema.parse(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const answer = await sendMessage(service, { tenantId: tenantOf(res), input, idempotencyKey });
      res.status(answer.statusCode).json(answer.body);
    },
  );

  router.post(
    '/whatsapp/schedule-message',
    async (req, res) => {
      const { scheduledFor, ...input } = scheduleMessageBodySchema.parse(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const answer = await scheduleMessage(service, { tenantId: tenantOf(res), input, scheduledFor, idempotencyKey });
      res.status(answer.statusCode).json(answer.body);
    },
  );

  router.get(
    '/whatsapp/messages/:id',
    async (req, res) => {
      const message = await getMessageDetails(deps.db, { tenantId: tenantOf(res), messageId: idOf(req, 'message') });
      res.json({ success: true, message });
    },
  );

  router.get(
    '/whatsapp/schedules/:id',
    async (req, res) => {
      const schedule = await getScheduleDetails(deps.db, { tenantId: tenantOf(res), scheduleId: idOf(req, 'schedule') });
      res.json({ success: true, schedule });
    },
  );

  router.delete(
    '/whatsapp/schedules/:id',
    async (req, res) => {
      const schedule = await cancelSchedule(service, { tenantId: tenantOf(res), scheduleId: idOf(req, 'schedule') });
      res.json({ success: true, schedule });
    },
  );

  router.patch(
    '/whatsapp/schedules/:id',
    async (req, res) => {
      const scheduleId = idOf(req, 'schedule');
      const { scheduledFor } = rescheduleBodySchema.parse(req.body);
      const schedule = await rescheduleSchedule(service, { tenantId: tenantOf(res), scheduleId, scheduledFor });
      res.json({ success: true, schedule });
    },
  );

  return router;
}
