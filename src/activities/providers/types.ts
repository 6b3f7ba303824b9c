import type { ProviderName } from '../../domain/events';

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

export type ProviderErrorKind =
  | 'retryable' // timeouts, 5xx, network: try again with backoff
  | 'rate_limited' // 429 / throughput codes: try again after retryAfterMs
  | 'invalid_recipient' // not on WhatsApp / undeliverable
  | 'window_closed' // Meta 24-hour window (131047): a template is required
  | 'auth' // bad credentials: retrying cannot help
  | 'permanent'; // any other 4xx that cannot succeed as sent

/** Raised by provider clients; activities translate it into Temporal failures. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly details: { status?: number; code?: string; retryAfterMs?: number; body?: unknown } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'retryable' || this.kind === 'rate_limited';
  }
}

export interface ProviderClient {
  send(channel: ChannelTarget, to: string, message: OutboundMessage, opts: { idempotencyKey: string }): Promise<SendResult>;
  /** Shows "typing…" where the provider supports it; a no-op elsewhere. */
  presence(channel: ChannelTarget, to: string, presence: 'composing' | 'recording' | 'paused', durationMs: number): Promise<void>;
  /** Connection state of the number/instance, e.g. `open`, `close`, `connecting`. */
  connectionState(channel: ChannelTarget): Promise<{ state: string }>;
}
