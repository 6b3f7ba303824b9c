/**
 * Uazapi (uazapiGO v2) webhooks → normalised events (see providers.md §3.2, §3.3).
 *
 * One POST is one event, named by `EventType`: `messages` (one message), `messages_update`
 * (a receipt naming one or more message ids), `connection` (the instance's state, with a QR
 * while connecting); anything else is kept as unknown. The channel key is `instanceName`
 * (the route authenticates and routes by the body's instance `token`).
 *
 * Pure: no I/O. Schemas are lenient (unknown keys pass through, booleans may be strings,
 * times numbers or strings); a body that lacks what we need (`message.messageid`,
 * `instance.status`) throws the ZodError with the full path from the body's root.
 */
import { z } from 'zod';
import type { ContactIdentity, DeliveryStatus, InboundType, MessageAuthor, MessageEvent, NormalisedEvent, ParsedWebhook } from '../../domain/events';
import { digitsOf } from '../../domain/phone';
import { capTexts, checkTimestamp, EARLIEST_TIMESTAMP_MS, MAX_FUTURE_MS } from './limits';

/** Message ids one receipt may name (a read receipt covers every unread message of a chat). */
export const MAX_RECEIPT_IDS = 1_000;

const optStr = z.string().nullish();
/** Uazapi writes booleans as `true` or, in receipts, as the strings `"True"`/`"False"`. */
const boolLike = z.union([z.boolean(), z.string()]).nullish();
const numLike = z.union([z.number(), z.string()]).nullish();

/** `message.content`: a string for plain texts, else the WhatsApp message object (Go field names). */
const contentSchema = z
  .union([
    z.string(),
    z.looseObject({
      text: optStr,
      caption: optStr,
      URL: optStr,
      mimetype: optStr,
      fileName: optStr,
      PTT: boolLike,
      title: optStr,
      selectedDisplayText: optStr,
      displayName: optStr,
      vcard: optStr,
      degreesLatitude: numLike,
      degreesLongitude: numLike,
      name: optStr,
      address: optStr,
    }),
  ])
  .nullish();
type Content = z.infer<typeof contentSchema>;

const messageSchema = z.looseObject({
  id: optStr,
  messageid: optStr,
  chatid: optStr,
  chatlid: optStr,
  sender: optStr,
  sender_pn: optStr,
  sender_lid: optStr,
  senderName: optStr,
  fromMe: boolLike,
  wasSentByApi: boolLike,
  isGroup: boolLike,
  messageType: optStr,
  type: optStr,
  mediaType: optStr,
  text: optStr,
  content: contentSchema,
  quoted: optStr,
  reaction: optStr,
  buttonOrListid: optStr,
  vote: optStr,
  edited: optStr,
  messageTimestamp: numLike,
  track_source: optStr,
  track_id: optStr,
});
type UazapiMessage = z.infer<typeof messageSchema>;

const receiptSchema = z.looseObject({
  MessageIDs: z.array(z.string().min(1)).max(MAX_RECEIPT_IDS, `a receipt may name at most ${MAX_RECEIPT_IDS} messages`),
  Chat: optStr,
  Sender: optStr,
  IsFromMe: boolLike,
  Timestamp: numLike,
  Type: optStr,
});

const instanceSchema = z.looseObject({
  status: z.string().min(1),
  name: optStr,
  qrcode: optStr,
  paircode: optStr,
  profileName: optStr,
  lastDisconnect: optStr,
  lastDisconnectReason: optStr,
});

export const envelopeSchema = z.looseObject({
  EventType: z.string().min(1),
  instanceName: optStr,
  owner: optStr,
  token: optStr,
  type: optStr,
  state: optStr,
});

// ─── helpers ─────────────────────────────────────────────────────────────────────────────

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

const nonEmpty = (s: string | null | undefined): string | undefined => (typeof s === 'string' && s.trim() !== '' ? s : undefined);
const toBool = (v: boolean | string | null | undefined): boolean => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
function toNumber(v: number | string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}
/** Epoch ms from Uazapi's times: messages in ms, receipts in seconds; told apart by size. */
function epochMs(v: number | string | null | undefined): number | undefined {
  const n = toNumber(v);
  if (n === undefined || n <= 0) return undefined;
  return n < 1e11 ? Math.round(n * 1000) : Math.round(n);
}

const isPhoneJid = (jid: string | null | undefined): jid is string => typeof jid === 'string' && jid.endsWith('@s.whatsapp.net');
const isLidJid = (jid: string | null | undefined): jid is string => typeof jid === 'string' && jid.endsWith('@lid');

function identityFrom(candidates: Array<string | null | undefined>): ContactIdentity {
  const phoneJid = candidates.find(isPhoneJid);
  const lidJid = candidates.find(isLidJid);
  return clean({
    phone: phoneJid ? digitsOf(phoneJid) || undefined : undefined,
    lid: lidJid ? digitsOf(lidJid) || undefined : undefined,
  });
}

/** A name only when it is one: not a number, not a JID. */
function contactName(name: string | null | undefined): string | undefined {
  const value = nonEmpty(name)?.trim();
  if (!value || /^[+\d\s()-]+$/.test(value) || value.includes('@')) return undefined;
  return value;
}

const MEDIA_KINDS: Array<[string, NonNullable<MessageEvent['media']>['kind']]> = [
  ['image', 'image'],
  ['video', 'video'],
  ['audio', 'audio'],
  ['ptt', 'audio'],
  ['document', 'document'],
  ['sticker', 'sticker'],
];

type ContentFields = Pick<MessageEvent, 'type' | 'text' | 'button' | 'media' | 'reaction' | 'location' | 'contacts'>;

/** `messageType` (Go protobuf names), `mediaType` and the reply fields → type and its fields. */
function readContent(m: UazapiMessage): ContentFields {
  const content: Content = m.content;
  const obj = typeof content === 'object' && content !== null ? content : undefined;
  const messageType = (m.messageType ?? '').toLowerCase();
  const text = nonEmpty(m.text) ?? (typeof content === 'string' ? nonEmpty(content) : nonEmpty(obj?.text));
  const replyId = nonEmpty(m.buttonOrListid);
  const label = nonEmpty(m.vote) ?? text ?? nonEmpty(obj?.selectedDisplayText) ?? nonEmpty(obj?.title);
  const reply = (type: InboundType): ContentFields => ({ type, text: label, button: clean({ id: replyId, text: label }) });

  if (messageType === 'listresponsemessage' || m.mediaType === 'list_response') return reply('list_reply');
  if (messageType === 'buttonsresponsemessage') return reply('button_reply');
  if (messageType === 'templatebuttonreplymessage') return reply('template_button_reply');
  if (messageType === 'interactiveresponsemessage') return reply('interactive_reply');
  if (replyId) return reply('button_reply');

  if (messageType === 'reactionmessage' || m.type === 'reaction') {
    const messageId = nonEmpty(m.reaction);
    // An empty emoji is the removal of a reaction.
    return messageId ? { type: 'reaction', reaction: clean({ messageId, emoji: text }) } : { type: 'unsupported' };
  }
  const mediaKey = (nonEmpty(m.mediaType) ?? messageType.replace(/message$/, '')).toLowerCase();
  const kind = MEDIA_KINDS.find(([k]) => k === mediaKey)?.[1];
  if (kind) {
    const caption = nonEmpty(obj?.caption) ?? text;
    return {
      type: 'media',
      text: caption,
      media: clean({
        kind,
        mimeType: nonEmpty(obj?.mimetype),
        caption,
        // WhatsApp's encrypted URL: the file itself comes from Uazapi's /message/download.
        url: nonEmpty(obj?.URL),
        voice: kind === 'audio' ? mediaKey === 'ptt' || toBool(obj?.PTT) : undefined,
        fileName: nonEmpty(obj?.fileName),
      }),
    };
  }
  if (messageType === 'locationmessage' || messageType === 'livelocationmessage') {
    const latitude = toNumber(obj?.degreesLatitude);
    const longitude = toNumber(obj?.degreesLongitude);
    if (latitude === undefined || longitude === undefined) return { type: 'unsupported' };
    return { type: 'location', location: clean({ latitude, longitude, name: nonEmpty(obj?.name), address: nonEmpty(obj?.address) }) };
  }
  if (messageType === 'contactmessage') {
    const phones = [...(obj?.vcard ?? '').matchAll(/waid=(\d+)/gi)].map((x) => x[1]);
    return { type: 'contact', contacts: [clean({ name: nonEmpty(obj?.displayName), phones })] };
  }
  if (text && (messageType === 'conversation' || messageType === 'extendedtextmessage' || m.type === 'text' || messageType === '')) {
    return { type: 'text', text };
  }
  return { type: 'unsupported', text };
}

function messageEvent(m: UazapiMessage, now: number): NormalisedEvent {
  // An edit repeats an earlier message under a new id: not a new message to act on.
  if (nonEmpty(m.edited)) return { kind: 'unknown', eventType: 'messages.edited' };
  const providerMessageId = nonEmpty(m.messageid) ?? nonEmpty(m.id?.split(':').pop());
  if (!providerMessageId) {
    throw new z.ZodError([{ code: 'custom', path: ['message', 'messageid'], message: 'message.messageid (the WhatsApp message id) is required', input: undefined }]);
  }
  const fromMe = toBool(m.fromMe);
  const byApi = toBool(m.wasSentByApi);
  const direction: MessageEvent['direction'] = fromMe || byApi ? 'outbound' : 'inbound';
  const author: MessageAuthor = byApi ? 'api' : fromMe ? 'human' : 'contact';

  const chatid = nonEmpty(m.chatid) ?? '';
  let chatType: MessageEvent['chatType'] = 'direct';
  let groupId: string | undefined;
  let contact: ContactIdentity;
  if (chatid.endsWith('@g.us') || toBool(m.isGroup)) {
    chatType = 'group';
    groupId = chatid || undefined;
    contact = identityFrom([m.sender_pn, m.sender, m.sender_lid]);
  } else if (chatid.endsWith('@broadcast')) {
    chatType = 'broadcast';
    contact = identityFrom([m.sender_pn, m.sender, m.sender_lid]);
  } else {
    // The chat is the other party; on our own messages `sender*` is us, so only the chat counts.
    contact = identityFrom(fromMe || byApi ? [chatid, m.chatlid] : [chatid, m.sender_pn, m.chatlid, m.sender_lid, m.sender]);
  }
  if (direction === 'inbound') {
    const name = contactName(m.senderName);
    if (name) contact.name = name;
  }

  const ms = epochMs(m.messageTimestamp);
  const timestamp = ms !== undefined ? checkTimestamp(ms, ['message', 'messageTimestamp'], now) : now;
  return capTexts(
    clean({
      kind: 'message' as const,
      providerMessageId,
      direction,
      author,
      chatType,
      contact,
      groupId,
      timestamp,
      ...clean(readContent(m)),
      replyTo: nonEmpty(m.quoted),
    }),
  );
}

/** Receipt words (`Type`, or the envelope's `state`) → delivery status; undefined: not a tick we keep. */
export function uazapiStatus(word: string | null | undefined): DeliveryStatus | undefined {
  switch ((word ?? '').trim().toLowerCase()) {
    case 'sent':
    case 'server':
      return 'sent';
    case 'delivered':
    case 'delivery':
      return 'delivered';
    case 'read':
      return 'read';
    case 'played':
      return 'played';
    case 'failed':
    case 'error':
    case 'servererror':
    case 'server-error':
      return 'failed';
    default:
      // ReadSelf (we read their message elsewhere), Retry, Sender, Inactive: not ours to record.
      return undefined;
  }
}

// ─── entry point ─────────────────────────────────────────────────────────────────────────

export interface UazapiParseOptions {
  /** Time the webhook was received (epoch ms). */
  receivedAt?: number;
}

/**
 * Parse one Uazapi webhook POST. `eventType` is `EventType` as sent; every item's channel
 * key is `instanceName`. Texts longer than WhatsApp's 65,536 characters are cut there.
 * @throws ZodError when the envelope or an event's required fields are missing/invalid, or a
 *   message's time is out of range (before 2009, or more than a day after receipt).
 */
export function parseUazapi(body: unknown, options: UazapiParseOptions = {}): ParsedWebhook {
  const env = parseAt(envelopeSchema, body, []);
  const raw = body as Record<string, unknown>;
  const eventType = env.EventType;
  const channelKey = nonEmpty(env.instanceName) ?? null;
  const receivedAt = options.receivedAt ?? Date.now();
  const items = (events: NormalisedEvent[]): ParsedWebhook => ({ eventType, items: events.map((event) => ({ channelKey, event })) });

  switch (eventType) {
    case 'messages':
      return items([messageEvent(parseAt(messageSchema, raw.message, ['message']), receivedAt)]);
    case 'messages_update': {
      const receipt = parseAt(receiptSchema, raw.event, ['event']);
      const status = uazapiStatus(receipt.Type) ?? uazapiStatus(env.state);
      if (!status) return items([{ kind: 'unknown', eventType: `messages_update.${receipt.Type ?? env.state ?? env.type ?? ''}` }]);
      const at = epochMs(receipt.Timestamp);
      // A receipt's time when it is one WhatsApp could have sent; else the time we received it.
      const timestamp = at !== undefined && at >= EARLIEST_TIMESTAMP_MS && at <= receivedAt + MAX_FUTURE_MS ? at : receivedAt;
      const recipient = isPhoneJid(receipt.Chat) ? digitsOf(receipt.Chat) : undefined;
      return items([...new Set(receipt.MessageIDs)].map((id) => clean({ kind: 'status' as const, providerMessageId: id, status, timestamp, recipient })));
    }
    case 'connection': {
      const instance = parseAt(instanceSchema, raw.instance, ['instance']);
      const reason = nonEmpty(instance.lastDisconnectReason);
      // `401: logged out from another device`; whatsmeow's LoggedOut event is that 401.
      const code = reason ? /^(\d{3})\b/.exec(reason.trim())?.[1] : undefined;
      const statusReason = code ? Number(code) : env.type === 'LoggedOut' && instance.status === 'disconnected' ? 401 : undefined;
      const events: NormalisedEvent[] = [
        clean({
          kind: 'connection' as const,
          state: instance.status,
          statusReason,
          reason: reason ?? nonEmpty(env.type),
          wuid: nonEmpty(env.owner),
          profileName: nonEmpty(instance.profileName),
        }),
      ];
      const qrcode = nonEmpty(instance.qrcode);
      const paircode = nonEmpty(instance.paircode);
      if (instance.status === 'connecting' && (qrcode || paircode)) {
        events.push(
          clean({
            kind: 'qrcode' as const,
            base64: qrcode ? (qrcode.startsWith('data:') ? qrcode : `data:image/png;base64,${qrcode}`) : undefined,
            pairingCode: paircode ?? null,
          }),
        );
      }
      return items(events);
    }
    default:
      return items([{ kind: 'unknown', eventType }]);
  }
}
