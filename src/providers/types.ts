import type { Provider } from '../domain/records';
import type { ProviderName } from '../domain/events';

/** What zapflow asks a provider to send. One shape for every provider. */
export type OutboundMessage =
  | { type: 'text'; text: string; previewUrl?: boolean }
  | {
      type: 'media';
      mediaType: 'image' | 'video' | 'document' | 'audio';
      url: string;
      caption?: string;
      fileName?: string;
      mimeType?: string;
    }
  | {
      type: 'buttons';
      text: string;
      title?: string;
      footer?: string;
      buttons: Array<{ id: string; title: string }>;
    }
  | {
      type: 'list';
      text: string;
      buttonText: string;
      title?: string;
      footer?: string;
      sections: Array<{ title: string; rows: Array<{ id: string; title: string; description?: string }> }>;
    }
  | {
      type: 'template';
      name: string;
      language: string;
      /** Body variables, in order ({{1}}, {{2}} …). */
      variables?: string[];
      /** Raw Meta components, when the caller needs headers or button payloads. */
      components?: unknown[];
    };

/** The channel data a provider client needs: never the whole DB row. */
export interface ChannelTarget {
  id: string;
  provider: ProviderName;
  externalId: string;
  baseUrl?: string | null;
  credentials: ChannelCredentials;
}

export interface ChannelCredentials {
  /** Evolution: instance token or global key (header `apikey`). */
  apiKey?: string;
  /** Meta / LancePilot: bearer token. */
  accessToken?: string;
  /** Meta: app secret for X-Hub-Signature-256. */
  appSecret?: string;
  /** Meta: verify token for the GET handshake. */
  verifyToken?: string;
  /** Evolution / LancePilot: secret expected on webhook posts. */
  webhookSecret?: string;
  /** LancePilot: workspace id used in send paths. */
  workspaceId?: string;
}

export interface SendResult {
  providerMessageId: string;
  /** Provider's normalised recipient (Meta `wa_id`, Evolution remoteJid digits). */
  recipient?: string;
}

export interface ProviderClient {
  send(channel: ChannelTarget, to: string, message: OutboundMessage, opts: { idempotencyKey: string }): Promise<SendResult>;
  /** Shows "typing…" where the provider supports it; a no-op elsewhere. */
  presence(channel: ChannelTarget, to: string, presence: 'composing' | 'recording' | 'paused', durationMs: number): Promise<void>;
  /** Connection state of the number/instance, e.g. `open`, `close`, `connecting`. */
  connectionState(channel: ChannelTarget): Promise<{ state: string }>;
  /** Asks for a QR (or a pairing code for `number`) when not connected; the state when already connected. */
  connect?(channel: ChannelTarget, opts?: { number?: string }): Promise<ConnectResult>;
  restart?(channel: ChannelTarget): Promise<void>;
  logout?(channel: ChannelTarget): Promise<void>;
}

/** A QR to scan: `base64` is a `data:image/png;base64,…` URL, `code` the raw QR text (for terminals). */
export interface QrCode {
  base64?: string;
  code?: string;
  pairingCode?: string | null;
}

export interface ConnectResult {
  /** The provider's own state word (see domain/channelState.ts for zapflow's). */
  state: string;
  qr?: QrCode;
}

/** One client per provider: what the delivery calls for a channel of that provider. */
export type ProviderRegistry = Record<Provider, ProviderClient>;
