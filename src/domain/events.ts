/**
 * Normalised events: what every provider's webhook is parsed into.
 * Plain types only (no runtime code) so workflows can import them freely.
 */
export type ProviderName = 'evolution' | 'meta' | 'lancepilot' | 'uazapi' | 'sandbox';

export type InboundType =
  | 'text'
  | 'button_reply' // legacy buttons (Evolution buttonsResponseMessage)
  | 'template_button_reply' // Meta `button`, Evolution templateButtonReplyMessage
  | 'list_reply'
  | 'interactive_reply' // Meta interactive button_reply, Evolution interactiveResponseMessage
  | 'media'
  | 'reaction'
  | 'location'
  | 'contact'
  | 'unsupported';

/** Who wrote a message. `human`: typed on the business phone; `api`: echo of an API send. */
export type MessageAuthor = 'contact' | 'human' | 'api';

export interface ContactIdentity {
  /** Digits of the phone as the provider gave it (no canonicalisation yet). */
  phone?: string;
  /** WhatsApp LID (digits before `@lid`) when the provider hides the phone. */
  lid?: string;
  /** Meta business-scoped user id (BSUID) when the user hides the number. */
  userId?: string;
  name?: string;
}

export interface MessageEvent {
  kind: 'message';
  providerMessageId: string;
  direction: 'inbound' | 'outbound';
  author: MessageAuthor;
  chatType: 'direct' | 'group' | 'broadcast';
  /** The other party of a 1:1 chat; in a group, the author. */
  contact: ContactIdentity;
  /** Group JID for group messages. */
  groupId?: string;
  /** Provider's message time, epoch milliseconds. */
  timestamp: number;
  type: InboundType;
  /** Text body, media caption, or the button/list label. */
  text?: string;
  /**
   * Set when the text, caption or a button field was longer than WhatsApp's own limit
   * (65,536 characters) and was cut there by the parser.
   */
  truncated?: true;
  /** Reply payload/id and display text: funnels match on both. */
  button?: { id?: string; text?: string };
  media?: {
    kind: 'image' | 'video' | 'audio' | 'document' | 'sticker';
    mimeType?: string;
    caption?: string;
    mediaId?: string;
    url?: string;
    voice?: boolean;
    fileName?: string;
  };
  reaction?: { messageId: string; emoji?: string };
  location?: { latitude: number; longitude: number; name?: string; address?: string };
  contacts?: Array<{ name?: string; phones: string[] }>;
  /** Id of the quoted / context message. */
  replyTo?: string;
  /** Click-to-WhatsApp ad referral and similar extras. */
  referral?: Record<string, unknown>;
}

export type DeliveryStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'played' | 'failed';

export interface StatusEvent {
  kind: 'status';
  providerMessageId: string;
  status: DeliveryStatus;
  timestamp: number;
  recipient?: string;
  error?: { code?: string; title?: string; message?: string; details?: string };
}

export interface ConnectionEvent {
  kind: 'connection';
  /** The provider's own word (Evolution `open`/`close`, Uazapi `connected`/`disconnected`…): see domain/channelState.ts. */
  state: string;
  /** Disconnect code (Baileys/whatsmeow: 401 logged out, 403 banned…). */
  statusReason?: number;
  /** The provider's disconnect reason in words (Uazapi `lastDisconnectReason`). */
  reason?: string;
  wuid?: string;
  profileName?: string;
}

export interface QrCodeEvent {
  kind: 'qrcode';
  code?: string;
  base64?: string;
  pairingCode?: string | null;
  error?: string;
}

/**
 * Meta's `phone_number_quality_update` (quality rating and messaging-limit changes) and
 * `account_update` (restrictions, bans) about one business number. These name the number by
 * its display digits, not its phone_number_id.
 */
export interface QualityEvent {
  kind: 'quality';
  field: 'phone_number_quality_update' | 'account_update';
  /** Digits of the business number (`display_phone_number`, `phone_number`). */
  displayPhoneNumber?: string;
  /** Meta's `event`: FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, ACCOUNT_VIOLATION, DISABLED_UPDATE… */
  event?: string;
  /** GREEN, YELLOW, RED when the payload says (FLAGGED means RED, UNFLAGGED GREEN). */
  qualityRating?: string;
  currentLimit?: string;
  oldLimit?: string;
}

export interface UnknownEvent {
  kind: 'unknown';
  eventType: string;
}

export type NormalisedEvent = MessageEvent | StatusEvent | ConnectionEvent | QrCodeEvent | QualityEvent | UnknownEvent;

/** One parsed POST: an event type label and its events, each addressed to a channel key
 *  (Evolution instance name, Meta phone_number_id, LancePilot account). */
export interface ParsedWebhook {
  eventType: string;
  items: Array<{ channelKey: string | null; event: NormalisedEvent }>;
}
