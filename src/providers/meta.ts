/**
 * Meta WhatsApp Cloud API client. Reference: providers.md §2.7 (send bodies), §2.8 (error
 * codes), §2.9 (throughput and pair rate).
 *
 * - `POST {base}/{version}/{phone_number_id}/messages`, `Authorization: Bearer <token>`.
 * - `to` always carries `+` and the country code (without `+` Meta prefixes the business
 *   number's own country code).
 * - Errors are classified by `error.code`, not by HTTP status.
 * - The Cloud API has no idempotency key: `x-idempotency-key` is sent for fakes/logs only.
 */
import { DEFAULT_TIMEOUT_MS, brief, joinUrl, requestJson, retryAfterMs, type HttpMethod, type HttpResponse } from './http';
import { ProviderError, type ProviderErrorKind } from './errors';
import type { ChannelTarget, OutboundMessage, ProviderClient, SendResult } from './types';

export interface MetaClientOptions {
  timeoutMs?: number;
  /** Graph API version, default `v21.0`. */
  graphVersion?: string;
  /** Default `https://graph.facebook.com`; a channel's `baseUrl` overrides it. */
  defaultBaseUrl?: string;
}

export interface MetaClient extends ProviderClient {
  connectionState(channel: ChannelTarget): Promise<{ state: string; status?: string; qualityRating?: string }>;
}

const PROVIDER = 'meta';
export const META_DEFAULT_BASE_URL = 'https://graph.facebook.com';
export const META_DEFAULT_GRAPH_VERSION = 'v21.0';

/** zapflow contact key → Meta `to` (`+<digits>`). LIDs are a Baileys concept and unusable here. */
export function metaRecipient(to: string): string {
  if (/^\d+$/.test(to)) return `+${to}`;
  if (/^\+\d+$/.test(to)) return to;
  throw new ProviderError(`meta: cannot address recipient "${to}" (need phone digits)`, 'invalid_recipient');
}

/** The exact JSON body of `POST /{phone_number_id}/messages` for one outbound message. */
export function metaMessageBody(to: string, message: OutboundMessage): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to };
  switch (message.type) {
    case 'text':
      return { ...base, type: 'text', text: { preview_url: message.previewUrl ?? false, body: message.text } };
    case 'media': {
      const kind = message.mediaType;
      const media: Record<string, unknown> = { link: message.url };
      // audio takes neither caption nor filename; only documents take a filename.
      if (message.caption !== undefined && kind !== 'audio') media.caption = message.caption;
      if (message.fileName !== undefined && kind === 'document') media.filename = message.fileName;
      return { ...base, type: kind, [kind]: media };
    }
    case 'buttons':
      return {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'button',
          ...(message.title !== undefined ? { header: { type: 'text', text: message.title } } : {}),
          body: { text: message.text },
          ...(message.footer !== undefined ? { footer: { text: message.footer } } : {}),
          action: { buttons: message.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
        },
      };
    case 'list':
      return {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'list',
          ...(message.title !== undefined ? { header: { type: 'text', text: message.title } } : {}),
          body: { text: message.text },
          ...(message.footer !== undefined ? { footer: { text: message.footer } } : {}),
          action: {
            button: message.buttonText,
            sections: message.sections.map((s) => ({
              title: s.title,
              rows: s.rows.map((r) => ({
                id: r.id,
                title: r.title,
                ...(r.description !== undefined ? { description: r.description } : {}),
              })),
            })),
          },
        },
      };
    case 'template': {
      let components: unknown[] | undefined;
      if (message.components !== undefined) components = message.components;
      else if (message.variables && message.variables.length > 0) {
        components = [{ type: 'body', parameters: message.variables.map((text) => ({ type: 'text', text })) }];
      }
      // §2.7's template example carries no recipient_type.
      return {
        messaging_product: 'whatsapp',
        to,
        type: 'template',
        template: {
          name: message.name,
          language: { code: message.language },
          ...(components !== undefined ? { components } : {}),
        },
      };
    }
  }
}

export function createMetaClient(opts: MetaClientOptions = {}): MetaClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const version = opts.graphVersion ?? META_DEFAULT_GRAPH_VERSION;

  async function call(
    channel: ChannelTarget,
    method: HttpMethod,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResponse> {
    const token = channel.credentials.accessToken;
    if (!token) throw new ProviderError(`meta: channel ${channel.id} has no accessToken`, 'auth');
    const base = channel.baseUrl || opts.defaultBaseUrl || META_DEFAULT_BASE_URL;
    const url = joinUrl(base, `${version}/${encodeURIComponent(channel.externalId)}${path}`);
    const res = await requestJson({
      provider: PROVIDER,
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...headers },
      body,
      timeoutMs,
    });
    if (res.status >= 200 && res.status < 300) return res;
    throw classifyMetaError(res);
  }

  return {
    async send(channel, to, message, { idempotencyKey }): Promise<SendResult> {
      const body = metaMessageBody(metaRecipient(to), message);
      const res = await call(channel, 'POST', '/messages', body, { 'x-idempotency-key': idempotencyKey });
      const b = res.body as { messages?: Array<{ id?: unknown }>; contacts?: Array<{ wa_id?: unknown }> } | null;
      const id = b?.messages?.[0]?.id;
      if (typeof id !== 'string' || id === '') {
        throw new ProviderError(`meta: send answered ${res.status} without messages[0].id: ${brief(res.body)}`, 'permanent', {
          status: res.status,
          body: res.body,
        });
      }
      const waId = b?.contacts?.[0]?.wa_id;
      return { providerMessageId: id, recipient: typeof waId === 'string' ? waId : undefined };
    },

    // The Cloud API has no stand-alone "typing…" call (its typing indicator needs an inbound
    // message id and also marks it read), so presence is a no-op.
    async presence() {},

    async connectionState(channel) {
      const res = await call(channel, 'GET', '?fields=status,quality_rating');
      const b = res.body as { status?: unknown; quality_rating?: unknown } | null;
      return {
        state: 'open',
        status: typeof b?.status === 'string' ? b.status : undefined,
        qualityRating: typeof b?.quality_rating === 'string' ? b.quality_rating : undefined,
      };
    },
  };
}

const RATE_LIMIT_DEFAULT_MS: Record<number, number> = {
  130429: 1_000, // number throughput (80 mps default)
  131056: 6_000, // pair rate: ~1 message / 6 s to the same user
  4: 60_000, // app API-call rate limit (hourly window): back off hard
  80007: 60_000, // WABA API-call rate limit
};
const RETRYABLE_CODES = new Set([131000, 131016, 2, 131057, 1]);
const AUTH_CODES = new Set([0, 190]);
const PERMANENT_CODES = new Set([131050, 131049, 131048, 368, 100, 131008, 131009, 131051]);

export function metaErrorKind(code: number | undefined, httpStatus: number): ProviderErrorKind {
  if (code !== undefined) {
    if (code === 131047) return 'window_closed';
    if (code === 131026) return 'invalid_recipient';
    if (code in RATE_LIMIT_DEFAULT_MS) return 'rate_limited';
    if (RETRYABLE_CODES.has(code)) return 'retryable';
    if (AUTH_CODES.has(code)) return 'auth';
    if (PERMANENT_CODES.has(code) || (code >= 132000 && code < 133000)) return 'permanent';
  }
  if (httpStatus === 429) return 'rate_limited';
  if (httpStatus >= 500) return 'retryable';
  if (code === undefined && httpStatus === 401) return 'auth';
  if (httpStatus === 408) return 'retryable';
  return 'permanent';
}

/** Meta's envelope: `{error: {message, type, code, error_subcode?, error_data: {details}, fbtrace_id}}`. */
export function classifyMetaError(res: HttpResponse): ProviderError {
  const err = (res.body as { error?: Record<string, unknown> } | null)?.error;
  const rawCode = err?.code;
  const code = typeof rawCode === 'number' ? rawCode : typeof rawCode === 'string' && /^\d+$/.test(rawCode) ? Number(rawCode) : undefined;
  const kind = metaErrorKind(code, res.status);
  const message = typeof err?.message === 'string' ? err.message : typeof res.body === 'string' ? brief(res.body, 300) : '';
  const detailsText = (err?.error_data as { details?: unknown } | undefined)?.details;
  const parts = [`meta: HTTP ${res.status}`, code !== undefined ? `code ${code}` : undefined].filter(Boolean).join(' ');
  const text = `${parts}: ${message || 'no error message'}${typeof detailsText === 'string' ? ` (${detailsText})` : ''}`;
  let retry: number | undefined;
  if (kind === 'rate_limited') {
    retry = retryAfterMs(res.headers['retry-after']) ?? (code !== undefined ? RATE_LIMIT_DEFAULT_MS[code] : undefined) ?? 1_000;
  }
  return new ProviderError(text, kind, {
    status: res.status,
    code: code !== undefined ? String(code) : undefined,
    retryAfterMs: retry,
    body: res.body,
  });
}
