/**
 * Evolution API v2 webhooks → normalised events (see providers.md §1).
 *
 * Pure: no I/O. Schemas are lenient (unknown keys pass through, enum fields may be strings
 * or numbers, binary fields are never declared); a body that lacks what we need (e.g.
 * `data.key.id`) throws the ZodError, with the full path from the body's root.
 */
import { z } from 'zod';
import type {
  ContactIdentity,
  DeliveryStatus,
  MessageAuthor,
  MessageEvent,
  NormalisedEvent,
  ParsedWebhook,
} from '../../domain/events';
import { digitsOf } from '../../domain/phone';
import { capTexts, checkTimestamp } from './limits';

// ─── event names ─────────────────────────────────────────────────────────────────────────

/** Event names as they appear in `event`. Names whose UPPER_SNAKE constant or by-events
 *  suffix cannot be derived mechanically (`group-participants.update`,
 *  `typebot.change-status`) are looked up here. */
const KNOWN_EVENTS = [
  'application.startup',
  'call',
  'chats.delete',
  'chats.set',
  'chats.update',
  'chats.upsert',
  'connection.update',
  'contacts.set',
  'contacts.update',
  'contacts.upsert',
  'group-participants.update',
  'groups.update',
  'groups.upsert',
  'instance.create',
  'instance.delete',
  'labels.association',
  'labels.edit',
  'logout.instance',
  'messages.delete',
  'messages.edited',
  'messages.set',
  'messages.update',
  'messages.upsert',
  'presence.update',
  'qrcode.updated',
  'remove.instance',
  'send.message',
  'send.message.update',
  'status.instance',
  'typebot.change-status',
  'typebot.start',
] as const;

/** Comparison key shared by all spellings: lower case, separators dropped. */
const squash = (name: string): string => name.toLowerCase().replace(/[._\-\s/]+/g, '');
const EVENT_BY_SQUASHED = new Map<string, string>(KNOWN_EVENTS.map((e) => [squash(e), e]));
/** Extra spelling used by Evolution's config for `groups.update`. */
EVENT_BY_SQUASHED.set(squash('GROUP_UPDATE'), 'groups.update');

/**
 * Canonical dotted lower-case event name from any spelling Evolution uses:
 * `messages.upsert`, `MESSAGES_UPSERT`, `messages-upsert`. Unknown names are lower-cased
 * with `_`/`-` turned into dots.
 */
export function normaliseEvolutionEventName(name: string): string {
  const trimmed = name.trim();
  const known = EVENT_BY_SQUASHED.get(squash(trimmed));
  if (known) return known;
  return trimmed.toLowerCase().replace(/[_-]+/g, '.');
}

/**
 * By-events URL suffix (`messages-upsert`, `/send-message`, `group-participants-update`)
 * → event name (`messages.upsert`). Returns null for an empty or non-slug suffix.
 */
export function eventFromPathSuffix(suffix: string): string | null {
  const slug = suffix.trim().replace(/^\/+|\/+$/g, '');
  if (!slug || !/^[A-Za-z0-9._-]+$/.test(slug)) return null;
  return normaliseEvolutionEventName(slug);
}

// ─── schemas ─────────────────────────────────────────────────────────────────────────────

const optStr = z.string().nullish();
/** Protobuf enums arrive as names or numbers depending on the version. */
const enumLike = z.union([z.string(), z.number()]).nullish();
const boolLike = z.union([z.boolean(), z.enum(['true', 'false'])]).nullish();
const numLike = z.union([z.number(), z.string()]).nullish();
/** Unix seconds as a number, a numeric string, or a protobuf Long `{low, high}`. */
const timestampSchema = z
  .union([
    z.number(),
    z.string().regex(/^\d+$/, 'expected Unix seconds'),
    z.looseObject({ low: z.number(), high: z.number().nullish(), unsigned: z.boolean().nullish() }),
  ])
  .nullish();

const contextInfoSchema = z
  .looseObject({
    stanzaId: optStr,
    participant: optStr,
    externalAdReply: z.record(z.string(), z.unknown()).nullish(),
  })
  .nullish();

const mediaShape = {
  url: optStr,
  mimetype: optStr,
  caption: optStr,
  contextInfo: contextInfoSchema,
};
const vcardSchema = z.looseObject({ displayName: optStr, vcard: optStr });

/** `data.message` after unwrapping: the content keys zapflow reads. Others pass through. */
const baseContentSchema = z.looseObject({
  conversation: optStr,
  extendedTextMessage: z.looseObject({ text: optStr, contextInfo: contextInfoSchema }).nullish(),
  buttonsResponseMessage: z
    .looseObject({
      selectedButtonId: optStr,
      selectedDisplayText: optStr,
      type: enumLike,
      contextInfo: contextInfoSchema,
    })
    .nullish(),
  templateButtonReplyMessage: z
    .looseObject({
      selectedId: optStr,
      selectedDisplayText: optStr,
      selectedIndex: enumLike,
      contextInfo: contextInfoSchema,
    })
    .nullish(),
  listResponseMessage: z
    .looseObject({
      title: optStr,
      description: optStr,
      listType: enumLike,
      singleSelectReply: z.looseObject({ selectedRowId: optStr }).nullish(),
      contextInfo: contextInfoSchema,
    })
    .nullish(),
  interactiveResponseMessage: z
    .looseObject({
      body: z.looseObject({ text: optStr, format: enumLike }).nullish(),
      nativeFlowResponseMessage: z
        .looseObject({ name: optStr, paramsJson: optStr, version: enumLike })
        .nullish(),
      contextInfo: contextInfoSchema,
    })
    .nullish(),
  imageMessage: z.looseObject(mediaShape).nullish(),
  videoMessage: z.looseObject(mediaShape).nullish(),
  audioMessage: z.looseObject({ ...mediaShape, ptt: boolLike }).nullish(),
  documentMessage: z.looseObject({ ...mediaShape, fileName: optStr, title: optStr }).nullish(),
  stickerMessage: z.looseObject(mediaShape).nullish(),
  reactionMessage: z
    .looseObject({
      key: z.looseObject({ id: optStr, remoteJid: optStr, fromMe: boolLike }).nullish(),
      text: optStr,
    })
    .nullish(),
  locationMessage: z
    .looseObject({ degreesLatitude: numLike, degreesLongitude: numLike, name: optStr, address: optStr })
    .nullish(),
  liveLocationMessage: z
    .looseObject({ degreesLatitude: numLike, degreesLongitude: numLike, caption: optStr })
    .nullish(),
  contactMessage: vcardSchema.nullish(),
  contactsArrayMessage: z
    .looseObject({ displayName: optStr, contacts: z.array(vcardSchema).nullish() })
    .nullish(),
  // Outbound content (send.message echoes, messages typed on the phone): text only.
  interactiveMessage: z.looseObject({ body: z.looseObject({ text: optStr }).nullish() }).nullish(),
  buttonsMessage: z.looseObject({ contentText: optStr }).nullish(),
  listMessage: z.looseObject({ description: optStr, title: optStr }).nullish(),
  /** Set by Evolution when S3/MinIO storage is on: a fetchable, decrypted media URL. */
  mediaUrl: optStr,
});
type Content = z.infer<typeof baseContentSchema>;

/** Content wrappers Baileys may leave in place; their `message` is one more content object. */
const WRAPPER_KEYS = [
  'ephemeralMessage',
  'viewOnceMessage',
  'viewOnceMessageV2',
  'viewOnceMessageV2Extension',
  'documentWithCaptionMessage',
] as const;
const wrapperSchema = z.looseObject({ message: baseContentSchema.nullish() }).nullish();
const contentSchema = baseContentSchema.extend(
  Object.fromEntries(WRAPPER_KEYS.map((k) => [k, wrapperSchema])) as Record<
    (typeof WRAPPER_KEYS)[number],
    typeof wrapperSchema
  >,
);

const keySchema = z.looseObject({
  remoteJid: z.string().min(1),
  fromMe: boolLike,
  id: z.string().min(1),
  participant: optStr,
  participantAlt: optStr,
  remoteJidAlt: optStr,
  senderPn: optStr,
  previousRemoteJid: optStr,
  addressingMode: optStr,
});

const messageDataSchema = z.looseObject({
  key: keySchema,
  pushName: optStr,
  status: enumLike,
  message: contentSchema.nullish(),
  contextInfo: contextInfoSchema,
  messageType: optStr,
  messageTimestamp: timestampSchema,
});
type MessageData = z.infer<typeof messageDataSchema>;

const updateItemSchema = z
  .looseObject({
    keyId: optStr,
    key: z.looseObject({ id: optStr, remoteJid: optStr, fromMe: boolLike }).nullish(),
    remoteJid: optStr,
    fromMe: boolLike,
    participant: optStr,
    status: enumLike,
    /** Raw Baileys shape (`{key, update: {status}}`) seen on some builds. */
    update: z.looseObject({ status: enumLike }).nullish(),
  })
  .superRefine((item, ctx) => {
    if (!item.keyId && !item.key?.id) {
      ctx.addIssue({ code: 'custom', path: ['keyId'], message: 'keyId (the WhatsApp key.id) is required' });
    }
  });
type UpdateItem = z.infer<typeof updateItemSchema>;

const connectionDataSchema = z.looseObject({
  state: z.string().min(1),
  statusReason: numLike,
  wuid: optStr,
  profileName: optStr,
});

const qrDataSchema = z.looseObject({
  qrcode: z
    .looseObject({ code: optStr, base64: optStr, pairingCode: optStr, instance: optStr })
    .nullish(),
  code: optStr,
  base64: optStr,
  pairingCode: optStr,
  message: optStr,
  statusCode: numLike,
});

export const envelopeSchema = z.looseObject({
  event: z.string().min(1),
  instance: z.string().min(1),
  data: z.unknown(),
  date_time: optStr,
  sender: optStr,
});
type Envelope = z.infer<typeof envelopeSchema>;

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

function toBool(v: boolean | 'true' | 'false' | null | undefined): boolean {
  return v === true || v === 'true';
}

function toNumber(v: number | string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Unix seconds (number, numeric string or protobuf Long) → epoch ms. */
function secondsToMs(ts: z.infer<typeof timestampSchema>): number | undefined {
  if (ts === null || ts === undefined) return undefined;
  if (typeof ts === 'number') return Number.isFinite(ts) && ts > 0 ? Math.round(ts * 1000) : undefined;
  if (typeof ts === 'string') return toNumber(ts) ? Number(ts) * 1000 : undefined;
  const seconds = (ts.low >>> 0) + (ts.high ?? 0) * 2 ** 32;
  return seconds > 0 ? seconds * 1000 : undefined;
}

const isPhoneJid = (jid: string | null | undefined): jid is string =>
  typeof jid === 'string' && jid.endsWith('@s.whatsapp.net');
const isLidJid = (jid: string | null | undefined): jid is string =>
  typeof jid === 'string' && jid.endsWith('@lid');

/**
 * Contact identity from JID candidates (§1.10): the phone is the first candidate that is a
 * phone JID; the LID (digits) is kept whenever one of them is a `@lid`, even when the phone
 * is known, so the two can be linked later.
 */
function identityFrom(candidates: Array<string | null | undefined>): ContactIdentity {
  const phoneJid = candidates.find(isPhoneJid);
  const lidJid = candidates.find(isLidJid);
  return clean({
    phone: phoneJid ? digitsOf(phoneJid) || undefined : undefined,
    lid: lidJid ? digitsOf(lidJid) || undefined : undefined,
  });
}

/** pushName is a name only when it is not a placeholder: Evolution writes the author's
 *  number when the name is missing, and "Você" (or our own profile name) for fromMe. */
function contactName(pushName: string | null | undefined): string | undefined {
  const name = nonEmpty(pushName)?.trim();
  if (!name) return undefined;
  if (/^[+\d\s()-]+$/.test(name) || name.includes('@')) return undefined;
  return name;
}

/** Strip Baileys wrappers (`ephemeralMessage.message`, `viewOnceMessage.message`, …). */
function unwrap(message: z.infer<typeof contentSchema> | null | undefined): Content {
  let content: Record<string, unknown> = message ?? {};
  let depth = 0;
  for (; depth < 4; depth++) {
    const wrapperKey = WRAPPER_KEYS.find((k) => content[k] && typeof content[k] === 'object');
    if (!wrapperKey) break;
    const inner = (content[wrapperKey] as { message?: unknown }).message;
    if (!inner || typeof inner !== 'object') break;
    content = inner as Record<string, unknown>;
  }
  // The envelope schema checked the content and one wrapper level; deeper ones
  // (ephemeralMessage → viewOnceMessage → …) are checked here, leniently.
  if (depth <= 1) return content;
  const checked = baseContentSchema.safeParse(content);
  return checked.success ? checked.data : {};
}

/** Phones in a vCard: the `waid=` parameter when present, else the digits of the TEL value. */
function vcardPhones(vcard: string | null | undefined): string[] {
  if (!vcard) return [];
  const phones: string[] = [];
  for (const line of vcard.split(/\r?\n/)) {
    if (!/^(item\d+\.)?TEL/i.test(line)) continue;
    const waid = /waid=(\d+)/i.exec(line)?.[1];
    const value = line.slice(line.indexOf(':') + 1);
    const digits = waid ?? value.replace(/\D+/g, '');
    if (digits) phones.push(digits);
  }
  return phones;
}

/** `{"id": "…"}` (or Evolution's own `{"display_text", "id"}`) inside a JSON string. */
function idFromParamsJson(paramsJson: string | null | undefined): string | undefined {
  if (!paramsJson) return undefined;
  try {
    const parsed: unknown = JSON.parse(paramsJson);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const id = (parsed as Record<string, unknown>).id;
      if (typeof id === 'string' && id !== '') return id;
      if (typeof id === 'number') return String(id);
    }
  } catch {
    // Not JSON: no id, the label still identifies the button.
  }
  return undefined;
}

type ContentFields = Pick<
  MessageEvent,
  'type' | 'text' | 'button' | 'media' | 'reaction' | 'location' | 'contacts'
> & { contextInfo?: z.infer<typeof contextInfoSchema> };

const MEDIA_KINDS = [
  ['imageMessage', 'image'],
  ['videoMessage', 'video'],
  ['audioMessage', 'audio'],
  ['documentMessage', 'document'],
  ['stickerMessage', 'sticker'],
] as const;

/** Message content → type and type-specific fields (§1.5). */
function readContent(c: Content): ContentFields {
  if (nonEmpty(c.conversation) !== undefined) return { type: 'text', text: c.conversation! };
  if (c.extendedTextMessage) {
    const text = nonEmpty(c.extendedTextMessage.text);
    return { type: text ? 'text' : 'unsupported', text, contextInfo: c.extendedTextMessage.contextInfo };
  }
  if (c.buttonsResponseMessage) {
    const b = c.buttonsResponseMessage;
    const text = nonEmpty(b.selectedDisplayText);
    return {
      type: 'button_reply',
      text,
      button: clean({ id: nonEmpty(b.selectedButtonId), text }),
      contextInfo: b.contextInfo,
    };
  }
  if (c.templateButtonReplyMessage) {
    const b = c.templateButtonReplyMessage;
    const text = nonEmpty(b.selectedDisplayText);
    return {
      type: 'template_button_reply',
      text,
      button: clean({ id: nonEmpty(b.selectedId), text }),
      contextInfo: b.contextInfo,
    };
  }
  if (c.listResponseMessage) {
    const l = c.listResponseMessage;
    const text = nonEmpty(l.title);
    return {
      type: 'list_reply',
      text,
      button: clean({ id: nonEmpty(l.singleSelectReply?.selectedRowId), text }),
      contextInfo: l.contextInfo,
    };
  }
  if (c.interactiveResponseMessage) {
    const r = c.interactiveResponseMessage;
    const text = nonEmpty(r.body?.text);
    return {
      type: 'interactive_reply',
      text,
      button: clean({ id: idFromParamsJson(r.nativeFlowResponseMessage?.paramsJson), text }),
      contextInfo: r.contextInfo,
    };
  }
  for (const [key, kind] of MEDIA_KINDS) {
    const m = c[key];
    if (!m) continue;
    const caption = nonEmpty(m.caption);
    const doc = key === 'documentMessage' ? c.documentMessage : undefined;
    const audio = key === 'audioMessage' ? c.audioMessage : undefined;
    return {
      type: 'media',
      text: caption,
      media: clean({
        kind,
        mimeType: nonEmpty(m.mimetype),
        caption,
        url: nonEmpty(c.mediaUrl) ?? nonEmpty(m.url),
        voice: audio ? toBool(audio.ptt) : undefined,
        fileName: nonEmpty(doc?.fileName) ?? nonEmpty(doc?.title),
      }),
      contextInfo: m.contextInfo,
    };
  }
  if (c.reactionMessage) {
    const messageId = nonEmpty(c.reactionMessage.key?.id);
    if (!messageId) return { type: 'unsupported' };
    // An empty `text` is the removal of a reaction.
    return { type: 'reaction', reaction: clean({ messageId, emoji: nonEmpty(c.reactionMessage.text) }) };
  }
  const loc = c.locationMessage ?? c.liveLocationMessage;
  if (loc) {
    const latitude = toNumber(loc.degreesLatitude);
    const longitude = toNumber(loc.degreesLongitude);
    if (latitude === undefined || longitude === undefined) return { type: 'unsupported' };
    const name = c.locationMessage ? nonEmpty(c.locationMessage.name) : nonEmpty(c.liveLocationMessage?.caption);
    const address = c.locationMessage ? nonEmpty(c.locationMessage.address) : undefined;
    return { type: 'location', location: clean({ latitude, longitude, name, address }) };
  }
  if (c.contactMessage || c.contactsArrayMessage) {
    const cards = c.contactMessage ? [c.contactMessage] : (c.contactsArrayMessage?.contacts ?? []);
    return {
      type: 'contact',
      contacts: cards.map((card) => clean({ name: nonEmpty(card.displayName), phones: vcardPhones(card.vcard) })),
    };
  }
  const outboundText =
    nonEmpty(c.interactiveMessage?.body?.text) ??
    nonEmpty(c.buttonsMessage?.contentText) ??
    nonEmpty(c.listMessage?.description) ??
    nonEmpty(c.listMessage?.title);
  return { type: 'unsupported', text: outboundText };
}

// ─── event builders ──────────────────────────────────────────────────────────────────────

/** `at`: where `d` sits in the body (`['data']` or `['data', i]`), for error paths; `now`: time of receipt. */
function messageEvent(d: MessageData, env: Envelope, origin: 'upsert' | 'send', at: PropertyKey[], now: number): MessageEvent {
  const key = d.key;
  const fromMe = origin === 'send' || toBool(key.fromMe);
  const direction: MessageEvent['direction'] = fromMe ? 'outbound' : 'inbound';
  const author: MessageAuthor = origin === 'send' ? 'api' : fromMe ? 'human' : 'contact';

  let chatType: MessageEvent['chatType'] = 'direct';
  let groupId: string | undefined;
  let contact: ContactIdentity;
  if (key.remoteJid.endsWith('@g.us')) {
    chatType = 'group';
    groupId = key.remoteJid;
    contact = identityFrom([key.participant, key.participantAlt, key.senderPn]);
  } else if (key.remoteJid === 'status@broadcast' || key.remoteJid.endsWith('@broadcast')) {
    chatType = 'broadcast';
    contact = identityFrom([key.participant, key.participantAlt, key.senderPn]);
  } else {
    contact = identityFrom([
      key.remoteJid,
      key.remoteJidAlt,
      key.senderPn,
      key.participantAlt,
      key.previousRemoteJid,
    ]);
  }
  // pushName names the author: the contact on inbound, us on fromMe / API sends.
  if (!fromMe) {
    const name = contactName(d.pushName);
    if (name) contact.name = name;
  }

  const content = readContent(unwrap(d.message));
  const { contextInfo: innerContext, ...fields } = content;
  const replyTo = nonEmpty(d.contextInfo?.stanzaId) ?? nonEmpty(innerContext?.stanzaId);
  const adReply = d.contextInfo?.externalAdReply ?? innerContext?.externalAdReply;

  // Out-of-range times (before WhatsApp existed, or days ahead) are refused with their path.
  const fromMessage = secondsToMs(d.messageTimestamp);
  const fromEnvelope = fromMessage === undefined && env.date_time ? Date.parse(env.date_time) : NaN;
  const timestamp =
    fromMessage !== undefined
      ? checkTimestamp(fromMessage, [...at, 'messageTimestamp'], now)
      : Number.isFinite(fromEnvelope)
        ? checkTimestamp(fromEnvelope, ['date_time'], now)
        : NaN;

  return capTexts(clean({
    kind: 'message' as const,
    providerMessageId: key.id,
    direction,
    author,
    chatType,
    contact,
    groupId,
    // Last resort (no messageTimestamp, no date_time): time of parsing.
    timestamp: Number.isFinite(timestamp) ? timestamp : Date.now(),
    ...clean(fields),
    replyTo,
    referral: adReply && Object.keys(adReply).length > 0 ? adReply : undefined,
  }));
}

/** Baileys status names and numbers (§1.7). */
const STATUS_BY_NAME: Record<string, DeliveryStatus> = {
  ERROR: 'failed',
  PENDING: 'pending',
  SERVER_ACK: 'sent',
  DELIVERY_ACK: 'delivered',
  READ: 'read',
  PLAYED: 'played',
};
const STATUS_BY_NUMBER: DeliveryStatus[] = ['failed', 'pending', 'sent', 'delivered', 'read', 'played'];

/** Delivery status from a name or number; undefined for `DELETED` (Evolution ≤ 2.3.6's
 *  "unmapped" value: poll votes, edits) and anything else that is not a tick. */
export function evolutionStatus(status: string | number | null | undefined): DeliveryStatus | undefined {
  if (status === null || status === undefined) return undefined;
  if (typeof status === 'number' || /^\d+$/.test(status)) return STATUS_BY_NUMBER[Number(status)];
  return STATUS_BY_NAME[status.trim().toUpperCase()];
}

function updateEvent(item: UpdateItem, receivedAt: number): NormalisedEvent {
  const status = evolutionStatus(item.status ?? item.update?.status);
  // Poll votes and edits are not ticks; 2.3.7+ labels them SERVER_ACK, so trust the extras.
  const isExtra = item.pollUpdates !== undefined && item.pollUpdates !== null;
  if (!status || isExtra) return { kind: 'unknown', eventType: 'messages.update' };
  const remoteJid = item.remoteJid ?? item.key?.remoteJid;
  return clean({
    kind: 'status' as const,
    providerMessageId: (item.keyId ?? item.key?.id)!,
    status,
    // Evolution gives no time for a tick and `date_time` is skewed by the server's
    // timezone (§1.3), so the status time is the time we received it.
    timestamp: receivedAt,
    recipient: isPhoneJid(remoteJid) ? digitsOf(remoteJid) : undefined,
  });
}

// ─── entry point ─────────────────────────────────────────────────────────────────────────

export interface EvolutionParseOptions {
  /** Time the webhook was received (epoch ms), used as the time of status ticks. */
  receivedAt?: number;
}

/**
 * Parse one Evolution webhook POST. `eventType` is the canonical dotted event name (also
 * for the UPPER_SNAKE spelling); every item's channel key is the `instance` name.
 * Texts longer than WhatsApp's 65,536 characters are cut there (`truncated: true`).
 * @throws ZodError when the envelope or an event's required fields are missing/invalid, or
 *   a message's time is out of range (before 2009, or more than a day after receipt).
 */
export function parseEvolution(body: unknown, options: EvolutionParseOptions = {}): ParsedWebhook {
  const env = parseAt(envelopeSchema, body, []);
  const eventType = normaliseEvolutionEventName(env.event);
  const channelKey = env.instance;
  const receivedAt = options.receivedAt ?? Date.now();
  const items = (events: NormalisedEvent[]): ParsedWebhook => ({
    eventType,
    items: events.map((event) => ({ channelKey, event })),
  });
  /** Where each element of `data` sits in the body. */
  const pathOf = (i: number): PropertyKey[] => (Array.isArray(env.data) ? ['data', i] : ['data']);
  const list = <T>(schema: z.ZodType<T>): T[] =>
    Array.isArray(env.data)
      ? env.data.map((d, i) => parseAt(schema, d, ['data', i]))
      : [parseAt(schema, env.data, ['data'])];

  switch (eventType) {
    case 'messages.upsert':
      return items(list(messageDataSchema).map((d, i) => messageEvent(d, env, 'upsert', pathOf(i), receivedAt)));
    case 'send.message':
      return items(list(messageDataSchema).map((d, i) => messageEvent(d, env, 'send', pathOf(i), receivedAt)));
    case 'messages.update':
      return items(list(updateItemSchema).map((u) => updateEvent(u, receivedAt)));
    case 'connection.update': {
      const d = parseAt(connectionDataSchema, env.data, ['data']);
      return items([
        clean({
          kind: 'connection' as const,
          state: d.state,
          statusReason: toNumber(d.statusReason),
          wuid: nonEmpty(d.wuid),
          profileName: nonEmpty(d.profileName),
        }),
      ]);
    }
    case 'qrcode.updated': {
      const d = parseAt(qrDataSchema, env.data, ['data']);
      const qr = d.qrcode ?? d;
      if (!nonEmpty(qr.code) && !nonEmpty(qr.base64) && nonEmpty(d.message)) {
        // "QR code limit reached, please login again": followed by connection.update refused.
        return items([{ kind: 'qrcode', error: d.message! }]);
      }
      return items([
        clean({
          kind: 'qrcode' as const,
          code: nonEmpty(qr.code),
          base64: nonEmpty(qr.base64),
          pairingCode: qr.pairingCode ?? undefined,
        }),
      ]);
    }
    default:
      return items([{ kind: 'unknown', eventType }]);
  }
}

