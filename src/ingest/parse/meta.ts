/**
 * Meta WhatsApp Cloud API webhooks → normalised events (see providers.md §2).
 *
 * Pure: no I/O. One POST may carry several entries × changes × messages/statuses; each
 * becomes one item addressed to `value.metadata.phone_number_id`. Schemas are lenient
 * (unknown keys pass through); missing required fields throw the ZodError with the full
 * path from the body's root (`entry.0.changes.0.value.messages.1.id`).
 */
import { z } from 'zod';
import type {
  ContactIdentity,
  DeliveryStatus,
  MessageEvent,
  NormalisedEvent,
  ParsedWebhook,
  QualityEvent,
  StatusEvent,
} from '../../domain/events';
import { digitsOf } from '../../domain/phone';
import { capTexts, checkTimestamp } from './limits';

// ─── schemas ─────────────────────────────────────────────────────────────────────────────

const optStr = z.string().nullish();
/** Unix seconds, a string in Meta's payloads (numbers accepted too). */
const timestampSchema = z.union([z.string().regex(/^\d+$/, 'expected Unix seconds'), z.number()]);
const numLike = z.union([z.number(), z.string()]).nullish();
const idLike = z.union([z.string(), z.number()]).nullish();

const mediaSchema = z
  .looseObject({
    id: optStr,
    mime_type: optStr,
    sha256: optStr,
    caption: optStr,
    filename: optStr,
    voice: z.boolean().nullish(),
    url: optStr,
  })
  .nullish();

const messageSchema = z.looseObject({
  from: optStr,
  /** Business-scoped user id, when the user hides the number (2026+). */
  from_user_id: optStr,
  id: z.string().min(1),
  timestamp: timestampSchema,
  type: z.string().min(1),
  context: z.looseObject({ from: optStr, id: optStr }).nullish(),
  referral: z.record(z.string(), z.unknown()).nullish(),
  text: z.looseObject({ body: optStr }).nullish(),
  button: z.looseObject({ payload: optStr, text: optStr }).nullish(),
  interactive: z
    .looseObject({
      type: optStr,
      button_reply: z.looseObject({ id: optStr, title: optStr }).nullish(),
      list_reply: z.looseObject({ id: optStr, title: optStr, description: optStr }).nullish(),
      nfm_reply: z.looseObject({ name: optStr, body: optStr, response_json: optStr }).nullish(),
    })
    .nullish(),
  audio: mediaSchema,
  image: mediaSchema,
  video: mediaSchema,
  document: mediaSchema,
  sticker: mediaSchema,
  reaction: z.looseObject({ message_id: optStr, emoji: optStr }).nullish(),
  location: z
    .looseObject({ latitude: numLike, longitude: numLike, name: optStr, address: optStr })
    .nullish(),
  contacts: z
    .array(
      z.looseObject({
        name: z.looseObject({ formatted_name: optStr, first_name: optStr, last_name: optStr }).nullish(),
        phones: z.array(z.looseObject({ phone: optStr, wa_id: optStr })).nullish(),
      }),
    )
    .nullish(),
});
type MetaMessage = z.infer<typeof messageSchema>;

const errorSchema = z.looseObject({
  code: idLike,
  title: optStr,
  message: optStr,
  error_data: z.looseObject({ details: optStr }).nullish(),
});

const statusSchema = z.looseObject({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: timestampSchema,
  recipient_id: optStr,
  recipient_user_id: optStr,
  errors: z.array(errorSchema).nullish(),
});
type MetaStatus = z.infer<typeof statusSchema>;

const contactSchema = z.looseObject({
  wa_id: optStr,
  user_id: optStr,
  profile: z.looseObject({ name: optStr }).nullish(),
});
type MetaContact = z.infer<typeof contactSchema>;

/** `value` of a `messages` change. */
const messagesValueSchema = z.looseObject({
  messaging_product: optStr,
  metadata: z.looseObject({ phone_number_id: z.string().min(1), display_phone_number: optStr }),
  contacts: z.array(contactSchema).nullish(),
  messages: z.array(z.unknown()).nullish(),
  statuses: z.array(z.unknown()).nullish(),
  errors: z.array(z.unknown()).nullish(),
});

export const envelopeSchema = z.looseObject({
  object: z.string().min(1),
  entry: z.array(
    z.looseObject({
      id: idLike,
      changes: z.array(z.looseObject({ field: z.string().min(1), value: z.unknown() })),
    }),
  ),
});

// ─── helpers ─────────────────────────────────────────────────────────────────────────────

/** Parse `value` found at `prefix` in the body; issues keep their path from the body root. */
function parseAt<S extends z.ZodType>(schema: S, value: unknown, prefix: PropertyKey[]): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new z.ZodError(result.error.issues.map((i) => ({ ...i, path: [...prefix, ...i.path] })));
}

/** Drop keys whose value is undefined or null (events are stored as JSON). */
function clean<T extends object>(obj: T): T {
  for (const k of Object.keys(obj) as Array<keyof T>) {
    if (obj[k] === undefined || obj[k] === null) delete obj[k];
  }
  return obj;
}

const nonEmpty = (s: string | null | undefined): string | undefined =>
  typeof s === 'string' && s.trim() !== '' ? s : undefined;

const secondsToMs = (ts: string | number): number => Math.round(Number(ts) * 1000);

function toNumber(v: number | string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The `contacts[]` entry for a message: matched by wa_id / user_id, else the only one. */
function contactFor(msg: MetaMessage, contacts: MetaContact[]): MetaContact | undefined {
  const match = contacts.find(
    (c) => (msg.from && c.wa_id === msg.from) || (msg.from_user_id && c.user_id === msg.from_user_id),
  );
  if (match) return match;
  return contacts.length === 1 ? contacts[0] : undefined;
}

const MEDIA_TYPES = ['audio', 'image', 'video', 'document', 'sticker'] as const;

type ContentFields = Pick<MessageEvent, 'type' | 'text' | 'button' | 'media' | 'reaction' | 'location' | 'contacts'>;

/** Message content by `type` (§2.4). */
function readContent(msg: MetaMessage): ContentFields {
  switch (msg.type) {
    case 'text': {
      const text = nonEmpty(msg.text?.body);
      return text ? { type: 'text', text } : { type: 'unsupported' };
    }
    case 'button': {
      // Template quick-reply: `payload` is what the sender attached (or the label).
      const text = nonEmpty(msg.button?.text);
      return {
        type: 'template_button_reply',
        text,
        button: clean({ id: nonEmpty(msg.button?.payload), text }),
      };
    }
    case 'interactive': {
      const i = msg.interactive;
      if (i?.type === 'button_reply' || (!i?.type && i?.button_reply)) {
        const text = nonEmpty(i.button_reply?.title);
        return { type: 'interactive_reply', text, button: clean({ id: nonEmpty(i.button_reply?.id), text }) };
      }
      if (i?.type === 'list_reply' || (!i?.type && i?.list_reply)) {
        const text = nonEmpty(i.list_reply?.title);
        return { type: 'list_reply', text, button: clean({ id: nonEmpty(i.list_reply?.id), text }) };
      }
      if (i?.type === 'nfm_reply' || (!i?.type && i?.nfm_reply)) {
        // WhatsApp Flow completion: the flow name is the id; the answers stay in the raw body.
        const text = nonEmpty(i.nfm_reply?.body);
        return { type: 'interactive_reply', text, button: clean({ id: nonEmpty(i.nfm_reply?.name), text }) };
      }
      return { type: 'unsupported' };
    }
    case 'audio':
    case 'image':
    case 'video':
    case 'document':
    case 'sticker': {
      const kind = MEDIA_TYPES.find((t) => t === msg.type)!;
      const m = msg[kind];
      const caption = nonEmpty(m?.caption);
      return {
        type: 'media',
        text: caption,
        media: clean({
          kind,
          mimeType: nonEmpty(m?.mime_type),
          caption,
          mediaId: nonEmpty(m?.id),
          url: nonEmpty(m?.url),
          voice: kind === 'audio' ? m?.voice === true : undefined,
          fileName: nonEmpty(m?.filename),
        }),
      };
    }
    case 'reaction': {
      const messageId = nonEmpty(msg.reaction?.message_id);
      if (!messageId) return { type: 'unsupported' };
      // No emoji: the reaction was removed.
      return { type: 'reaction', reaction: clean({ messageId, emoji: nonEmpty(msg.reaction?.emoji) }) };
    }
    case 'location': {
      const latitude = toNumber(msg.location?.latitude);
      const longitude = toNumber(msg.location?.longitude);
      if (latitude === undefined || longitude === undefined) return { type: 'unsupported' };
      return {
        type: 'location',
        location: clean({
          latitude,
          longitude,
          name: nonEmpty(msg.location?.name),
          address: nonEmpty(msg.location?.address),
        }),
      };
    }
    case 'contacts':
      return {
        type: 'contact',
        contacts: (msg.contacts ?? []).map((c) => {
          const name =
            nonEmpty(c.name?.formatted_name) ??
            (nonEmpty([c.name?.first_name, c.name?.last_name].filter(Boolean).join(' ')) || undefined);
          const phones = (c.phones ?? [])
            .map((p) => nonEmpty(p.wa_id) ?? (p.phone ? digitsOf(p.phone) : ''))
            .filter((p) => p !== '');
          return clean({ name, phones });
        }),
      };
    default:
      // order, system, unsupported, request_welcome, … : kept raw, not interpreted.
      return { type: 'unsupported' };
  }
}

/** `at`: the message's path in the body, for errors; `now`: time of receipt. */
function messageEvent(msg: MetaMessage, contacts: MetaContact[], at: PropertyKey[], now: number): MessageEvent {
  const c = contactFor(msg, contacts);
  const contact: ContactIdentity = clean({
    phone: nonEmpty(msg.from) ?? nonEmpty(c?.wa_id),
    userId: nonEmpty(msg.from_user_id) ?? nonEmpty(c?.user_id),
    name: nonEmpty(c?.profile?.name),
  });
  return capTexts(clean({
    kind: 'message' as const,
    providerMessageId: msg.id,
    direction: 'inbound' as const,
    author: 'contact' as const,
    chatType: 'direct' as const,
    contact,
    timestamp: checkTimestamp(secondsToMs(msg.timestamp), [...at, 'timestamp'], now),
    ...clean(readContent(msg)),
    replyTo: nonEmpty(msg.context?.id),
    referral: msg.referral ?? undefined,
  }));
}

const STATUSES: Record<string, DeliveryStatus> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  played: 'played',
  failed: 'failed',
};

function statusEvent(s: MetaStatus, at: PropertyKey[], now: number): StatusEvent | NormalisedEvent {
  const status = STATUSES[s.status.toLowerCase()];
  // e.g. the retired `deleted` status: not a delivery tick.
  if (!status) return { kind: 'unknown', eventType: `statuses.${s.status}` };
  const err = s.errors?.[0];
  return clean({
    kind: 'status' as const,
    providerMessageId: s.id,
    status,
    timestamp: checkTimestamp(secondsToMs(s.timestamp), [...at, 'timestamp'], now),
    recipient: nonEmpty(s.recipient_id) ?? nonEmpty(s.recipient_user_id),
    error: err
      ? clean({
          code: err.code === null || err.code === undefined ? undefined : String(err.code),
          title: nonEmpty(err.title),
          message: nonEmpty(err.message),
          details: nonEmpty(err.error_data?.details),
        })
      : undefined,
  });
}

/** Quality ratings Meta's `event` implies (FLAGGED: the number's quality is low). */
const RATING_OF_EVENT: Record<string, string> = { FLAGGED: 'RED', UNFLAGGED: 'GREEN' };

/** A quality or account change about one number (defensive: every field optional; the route finds the number). */
export function qualityEvent(field: 'phone_number_quality_update' | 'account_update', raw: unknown): QualityEvent {
  const value = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 100) : typeof v === 'number' ? String(v) : undefined);
  const event = str(value.event)?.toUpperCase();
  const phone = str(value.display_phone_number) ?? str(value.phone_number);
  const rating = str(value.quality_rating)?.toUpperCase() ?? (event ? RATING_OF_EVENT[event] : undefined);
  return clean({
    kind: 'quality' as const,
    field,
    displayPhoneNumber: phone?.replace(/\D/g, '') || undefined,
    event,
    qualityRating: rating,
    currentLimit: str(value.current_limit) ?? str(value.max_daily_conversations_per_business),
    oldLimit: str(value.old_limit),
  });
}

// ─── entry point ─────────────────────────────────────────────────────────────────────────

export interface MetaParseOptions {
  /** Time the webhook was received (epoch ms): message times more than a day after it are refused. */
  receivedAt?: number;
}

/**
 * Parse one Meta webhook POST.
 *
 * `eventType` is the distinct `changes[].field` values in order of appearance joined with
 * `,` (`"messages"`, `"messages,account_update"`), or the envelope's `object` when the
 * POST carries no change at all.
 *
 * Items: one per message and per status of every `messages` change (channel key
 * `value.metadata.phone_number_id`); one `UnknownEvent` per change of any other field
 * (eventType = the field, channel key = `value.metadata.phone_number_id` when present,
 * else null), and one `UnknownEvent` (`messages`) for a `messages` change with neither
 * messages nor statuses (e.g. only `errors`).
 *
 * Texts longer than WhatsApp's 65,536 characters are cut there (`truncated: true`).
 * @throws ZodError when the envelope or a message/status lacks a required field, or its
 *   time is out of range (before 2009, or more than a day after receipt).
 */
export function parseMeta(body: unknown, options: MetaParseOptions = {}): ParsedWebhook {
  const env = parseAt(envelopeSchema, body, []);
  const now = options.receivedAt ?? Date.now();
  const fields: string[] = [];
  const items: ParsedWebhook['items'] = [];

  env.entry.forEach((entry, ei) => {
    entry.changes.forEach((change, ci) => {
      if (!fields.includes(change.field)) fields.push(change.field);
      const at: PropertyKey[] = ['entry', ei, 'changes', ci, 'value'];
      if (change.field === 'phone_number_quality_update' || change.field === 'account_update') {
        const meta = (change.value as { metadata?: { phone_number_id?: unknown } } | null)?.metadata;
        const channelKey = typeof meta?.phone_number_id === 'string' ? meta.phone_number_id : null;
        items.push({ channelKey, event: qualityEvent(change.field, change.value) });
        return;
      }
      if (change.field !== 'messages') {
        const meta = (change.value as { metadata?: { phone_number_id?: unknown } } | null)?.metadata;
        const channelKey = typeof meta?.phone_number_id === 'string' ? meta.phone_number_id : null;
        items.push({ channelKey, event: { kind: 'unknown', eventType: change.field } });
        return;
      }
      const value = parseAt(messagesValueSchema, change.value, at);
      const channelKey = value.metadata.phone_number_id;
      const contacts = (value.contacts ?? []);
      const messages = (value.messages ?? []).map((m, i) => parseAt(messageSchema, m, [...at, 'messages', i]));
      const statuses = (value.statuses ?? []).map((s, i) => parseAt(statusSchema, s, [...at, 'statuses', i]));
      messages.forEach((m, i) => items.push({ channelKey, event: messageEvent(m, contacts, [...at, 'messages', i], now) }));
      statuses.forEach((s, i) => items.push({ channelKey, event: statusEvent(s, [...at, 'statuses', i], now) }));
      if (messages.length === 0 && statuses.length === 0) {
        items.push({ channelKey, event: { kind: 'unknown', eventType: 'messages' } });
      }
    });
  });

  return { eventType: fields.length > 0 ? fields.join(',') : env.object, items };
}
