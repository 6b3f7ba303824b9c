/**
 * LancePilot webhooks → normalised events (see providers.md §4).
 *
 * LancePilot's webhook format is undocumented, so the fields are read through a
 * configurable mapping of dotted JSON paths (`data.messages.0.from`; numeric segments index
 * arrays). Each field takes one path or a list of candidate paths, tried in order; the
 * first that yields a non-empty string or a finite number wins. The defaults cover a
 * Meta-Cloud-like body (a single Cloud API message/status object, or one wrapped in
 * `data`) and a flat body such as
 * `{"event": "message.received", "account": "…", "data": {"id", "from", "text", …}}`.
 * A full Meta envelope (`object: "whatsapp_business_account"`, at the root or in `data`)
 * or a bare Cloud API `value` (`messaging_product: "whatsapp"` with messages/statuses) is
 * handed to `parseMeta`.
 *
 * Pure: no I/O.
 */
import { z } from 'zod';
import type { ContactIdentity, DeliveryStatus, InboundType, MessageEvent, NormalisedEvent, ParsedWebhook } from '../../domain/events';
import { digitsOf } from '../../domain/phone';
import { capTexts, checkTimestamp } from './limits';
import { parseMeta } from './meta';

// ─── mapping ─────────────────────────────────────────────────────────────────────────────

/** One dotted path, or candidate paths tried in order (an empty list disables the field). */
const pathsSchema = z.union([z.string().min(1), z.array(z.string().min(1))]);

export const lancePilotMappingSchema = z.object({
  /** Event name; matched against `messageEvents` / `statusEvents` ignoring case and `._-`. */
  eventType: pathsSchema,
  /** Provider message id of an inbound message. */
  messageId: pathsSchema,
  /** Contact's phone (digits, `+55…`, or a JID); a BSUID (`BR.123…`) becomes `userId`. */
  from: pathsSchema,
  name: pathsSchema,
  text: pathsSchema,
  buttonId: pathsSchema,
  buttonText: pathsSchema,
  timestamp: pathsSchema,
  /** `auto`: ISO strings are parsed, numbers below 1e11 are seconds, larger ones ms. */
  timestampUnit: z.enum(['auto', 'seconds', 'ms', 'iso']),
  /** Delivery status value (`sent`, `delivered`, `read`, `played`, `failed`, …). */
  status: pathsSchema,
  /** Id of the message a status refers to (the id returned by the send call). */
  statusMessageId: pathsSchema,
  /** Channel key; when nothing matches the channel is the one of the URL token. */
  account: pathsSchema,
  messageEvents: z.array(z.string()),
  statusEvents: z.array(z.string()),
});
export type LancePilotMapping = z.infer<typeof lancePilotMappingSchema>;

/** Roots where a Cloud-API-like or flat message object may sit, most specific first. */
const MESSAGE_ROOTS = ['data.messages.0', 'data.message', 'data', 'value.messages.0', 'messages.0', 'message', ''];
const under = (roots: string[], suffixes: string[]): string[] =>
  roots.flatMap((root) => suffixes.map((s) => (root ? `${root}.${s}` : s)));

export const defaultLancePilotMapping: LancePilotMapping = {
  eventType: ['event', 'event_type', 'eventType', 'webhook_event', 'topic', 'field', 'type'],
  messageId: under(MESSAGE_ROOTS, ['id', 'message_id', 'messageId', 'wamid']),
  from: under(MESSAGE_ROOTS, [
    'from',
    'sender.phone',
    'contact.phone',
    'contact.wa_id',
    'contact.number',
    'phone',
    'number',
    'wa_id',
    'sender',
  ]),
  name: [
    'data.contacts.0.profile.name',
    'value.contacts.0.profile.name',
    'contacts.0.profile.name',
    ...under(MESSAGE_ROOTS, ['contact.name', 'contact.profile.name', 'profile.name', 'sender.name', 'pushName', 'sender_name', 'name']),
  ],
  text: under(MESSAGE_ROOTS, ['text.body', 'text', 'body', 'caption', 'image.caption', 'video.caption', 'document.caption']).concat([
    'data.message',
    'message',
  ]),
  buttonId: under(MESSAGE_ROOTS, ['button.payload', 'button.id', 'interactive.button_reply.id', 'interactive.list_reply.id', 'button_id', 'buttonId']),
  buttonText: under(MESSAGE_ROOTS, [
    'button.text',
    'button.title',
    'interactive.button_reply.title',
    'interactive.list_reply.title',
    'button_text',
    'buttonText',
  ]),
  timestamp: [
    ...under(['data.statuses.0', 'value.statuses.0', 'statuses.0', ...MESSAGE_ROOTS], ['timestamp']),
    ...under(['data', ''], ['created_at', 'createdAt', 'sent_at', 'date', 'time']),
  ],
  timestampUnit: 'auto',
  status: [
    'data.statuses.0.status',
    'value.statuses.0.status',
    'statuses.0.status',
    'data.status.status',
    'data.status',
    'data.message.status',
    'status.status',
    'status',
  ],
  statusMessageId: [
    'data.statuses.0.id',
    'value.statuses.0.id',
    'statuses.0.id',
    'data.status.id',
    'data.message_id',
    'data.messageId',
    'data.wamid',
    'data.message.id',
    'data.id',
    'status.id',
    'message_id',
    'messageId',
    'wamid',
    'message.id',
    'id',
  ],
  account: [
    'account',
    'account_id',
    'accountId',
    'workspace',
    'workspace_id',
    'workspaceId',
    'data.account',
    'data.account_id',
    'data.workspace_id',
    'data.metadata.phone_number_id',
    'value.metadata.phone_number_id',
    'metadata.phone_number_id',
    'phone_number_id',
  ],
  messageEvents: [
    'message',
    'messages',
    'message.received',
    'messages.received',
    'message.inbound',
    'message.incoming',
    'inbound.message',
    'incoming.message',
    'message.new',
    'new.message',
    'message.created',
  ],
  statusEvents: [
    'status',
    'statuses',
    'message.status',
    'message.status.updated',
    'message.updated',
    'message.sent',
    'message.delivered',
    'message.read',
    'message.played',
    'message.failed',
  ],
};

// ─── helpers ─────────────────────────────────────────────────────────────────────────────

/** Value at a dotted path (`a.b.0.c`); `''` is the root. Never throws. */
export function readPath(obj: unknown, path: string): unknown {
  if (path === '') return obj;
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else {
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return cur;
}

const asList = (paths: string | string[]): string[] => (typeof paths === 'string' ? [paths] : paths);

/** First candidate holding a non-empty string or a finite number, as a string. */
function pick(body: unknown, paths: string | string[]): { value: string; path: string } | undefined {
  for (const path of asList(paths)) {
    const v = readPath(body, path);
    if (typeof v === 'string' && v.trim() !== '') return { value: v, path };
    if (typeof v === 'number' && Number.isFinite(v)) return { value: String(v), path };
  }
  return undefined;
}

/** A ZodError for a missing mapped field, pointing at the first candidate path whose
 *  parent exists in the body (else the first candidate). */
function missing(field: string, paths: string | string[], body: unknown): z.ZodError {
  const list = asList(paths);
  const parentExists = (p: string) => {
    const parent = p.split('.').slice(0, -1).join('.');
    const v = readPath(body, parent);
    return v !== null && typeof v === 'object';
  };
  const best = list.find(parentExists) ?? list[0] ?? field;
  const path = best.split('.').map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
  return new z.ZodError([
    {
      code: 'custom',
      path,
      message:
        list.length === 0
          ? `${field} not mapped (no path configured)`
          : `${field} not found (tried ${list.slice(0, 3).join(', ')}${list.length > 3 ? `, … ${list.length} paths` : ''})`,
      input: undefined,
    },
  ]);
}

/** Run `parse` on a nested body; issues get `prefix` so paths stay relative to the POST. */
function delegate(prefix: PropertyKey[], strip: number, parse: () => ParsedWebhook): ParsedWebhook {
  try {
    return parse();
  } catch (err) {
    if (err instanceof z.ZodError) {
      throw new z.ZodError(err.issues.map((i) => ({ ...i, path: [...prefix, ...i.path.slice(strip)] })));
    }
    throw err;
  }
}

const squash = (name: string): string => name.toLowerCase().replace(/[._\-\s/]+/g, '');

const STATUSES: Record<string, DeliveryStatus> = {
  pending: 'pending',
  queued: 'pending',
  enqueued: 'pending',
  accepted: 'pending',
  sent: 'sent',
  serverack: 'sent',
  delivered: 'delivered',
  deliveryack: 'delivered',
  read: 'read',
  seen: 'read',
  played: 'played',
  failed: 'failed',
  error: 'failed',
  undelivered: 'failed',
  rejected: 'failed',
};
const toStatus = (raw: string | undefined): DeliveryStatus | undefined =>
  raw === undefined ? undefined : STATUSES[squash(raw)];

function toMs(raw: string, unit: LancePilotMapping['timestampUnit']): number | undefined {
  const numeric = /^\d+(\.\d+)?$/.test(raw.trim());
  let ms: number;
  if (unit === 'iso' || (unit === 'auto' && !numeric)) ms = Date.parse(raw);
  else if (unit === 'ms') ms = Number(raw);
  else if (unit === 'seconds') ms = Number(raw) * 1000;
  else ms = Number(raw) < 1e11 ? Number(raw) * 1000 : Number(raw);
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

function identity(from: string): ContactIdentity {
  // Business-scoped user id (Cloud API, 2026+): `BR.1587668549511396`.
  if (/^[A-Z]{2}\.[A-Za-z0-9]+$/.test(from.trim())) return { userId: from.trim() };
  return { phone: digitsOf(from) };
}

/** The reply type implied by the path the button id/label was found at. */
function buttonType(path: string): InboundType {
  if (path.includes('list_reply')) return 'list_reply';
  if (/(^|\.)button\.(payload|text)$/.test(path)) return 'template_button_reply';
  return 'interactive_reply';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const metaValueShape = (v: unknown): boolean =>
  isObject(v) && v.messaging_product === 'whatsapp' && (Array.isArray(v.messages) || Array.isArray(v.statuses));

// ─── entry point ─────────────────────────────────────────────────────────────────────────

export interface LancePilotParseOptions {
  /** Time the webhook was received (epoch ms): the event time when the body has none. */
  receivedAt?: number;
}

/**
 * Parse one LancePilot webhook POST through `mapping` (merged over the defaults).
 *
 * Classification: the event name (mapping `eventType`) in `statusEvents` → status, in
 * `messageEvents` → message; otherwise a body with a recognised status value and a
 * message id is a status, one with a message id and a sender is a message, anything else
 * an `UnknownEvent`. A status event without a status field takes it from the event name's
 * last segment (`message.delivered` → delivered). `eventType` of the result is the event
 * name, or `message`/`status`/`unknown` when the body has none.
 * Texts longer than WhatsApp's 65,536 characters are cut there (`truncated: true`).
 * @throws ZodError for a non-object body, an invalid mapping, a message/status event
 *   without its id (path = the field's first candidate path), or a time out of range
 *   (before 2009, or more than a day after receipt; path = where it was found).
 */
export function parseLancePilot(
  body: unknown,
  mapping: Partial<LancePilotMapping> = {},
  options: LancePilotParseOptions = {},
): ParsedWebhook {
  const root = z.record(z.string(), z.unknown()).parse(body);
  const metaOptions = options.receivedAt !== undefined ? { receivedAt: options.receivedAt } : {};

  if (root.object === 'whatsapp_business_account') return parseMeta(root, metaOptions);
  if (isObject(root.data) && root.data.object === 'whatsapp_business_account') {
    return delegate(['data'], 0, () => parseMeta(root.data, metaOptions));
  }
  if (metaValueShape(root)) {
    const wrapped = { object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: root }] }] };
    return delegate([], 5, () => parseMeta(wrapped, metaOptions));
  }

  const m = lancePilotMappingSchema.parse({ ...defaultLancePilotMapping, ...mapping });
  const receivedAt = options.receivedAt ?? Date.now();
  const eventName = pick(root, m.eventType)?.value;
  const channelKey = pick(root, m.account)?.value ?? null;
  const isIn = (list: string[]) => eventName !== undefined && list.some((e) => squash(e) === squash(eventName));
  /** The mapped time; none (or unreadable): the time of receipt; out of range: refused with its path. */
  const timestampOf = (): number => {
    const found = pick(root, m.timestamp);
    const ms = found !== undefined ? toMs(found.value, m.timestampUnit) : undefined;
    if (ms === undefined || found === undefined) return receivedAt;
    return checkTimestamp(ms, found.path.split('.').map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg)), receivedAt);
  };
  const result = (kind: string, event: NormalisedEvent): ParsedWebhook => ({
    eventType: eventName ?? kind,
    items: [{ channelKey, event }],
  });

  const rawStatus = pick(root, m.status)?.value;
  const messageId = pick(root, m.messageId);
  const from = pick(root, m.from);
  const explicitStatus = isIn(m.statusEvents);
  const explicitMessage = !explicitStatus && isIn(m.messageEvents);
  const looksLikeStatus = toStatus(rawStatus) !== undefined && pick(root, m.statusMessageId) !== undefined && !from;

  if (explicitStatus || (!explicitMessage && looksLikeStatus)) {
    const statusMessageId = pick(root, m.statusMessageId);
    if (!statusMessageId) throw missing('statusMessageId', m.statusMessageId, root);
    const lastSegment = eventName?.split(/[._-]/).pop();
    const status = toStatus(rawStatus) ?? (rawStatus === undefined ? toStatus(lastSegment) : undefined);
    if (!status) return result('status', { kind: 'unknown', eventType: eventName ?? `status:${rawStatus ?? ''}` });
    return result('status', {
      kind: 'status',
      providerMessageId: statusMessageId.value,
      status,
      timestamp: timestampOf(),
    });
  }

  if (explicitMessage || (messageId && from)) {
    if (!messageId) throw missing('messageId', m.messageId, root);
    if (!from) throw missing('from', m.from, root);
    const buttonId = pick(root, m.buttonId);
    const buttonText = pick(root, m.buttonText);
    const text = pick(root, m.text)?.value ?? buttonText?.value;
    const button = buttonId || buttonText ? { ...(buttonId && { id: buttonId.value }), ...(buttonText && { text: buttonText.value }) } : undefined;
    const type: InboundType = button ? buttonType((buttonId ?? buttonText)!.path) : text ? 'text' : 'unsupported';
    const name = pick(root, m.name)?.value;
    const event: MessageEvent = {
      kind: 'message',
      providerMessageId: messageId.value,
      direction: 'inbound',
      author: 'contact',
      chatType: 'direct',
      contact: { ...identity(from.value), ...(name && { name }) },
      timestamp: timestampOf(),
      type,
      ...(text !== undefined && { text }),
      ...(button && { button }),
    };
    return result('message', capTexts(event));
  }

  return result('unknown', { kind: 'unknown', eventType: eventName ?? 'unknown' });
}
