/**
 * Uazapi (uazapiGO v2) client. Reference: providers.md §3.1, §3.4 (uazapi's OpenAPI spec).
 *
 * - Base URL is the customer's own server, `https://<subdomain>.uazapi.com` (`channel.baseUrl`).
 * - Auth: header `token: <instance token>` (`credentials.apiKey`); the token also names the
 *   instance, so paths carry no instance name.
 * - Sends: `/send/text`, `/send/media`, `/send/menu` (buttons and lists); the answer is the
 *   stored message, whose `messageid` is WhatsApp's id (what receipts name).
 * - Uazapi has no idempotency support. Our key goes out as `track_id` (echoed in webhooks), so
 *   an echo of a retried send can be told apart.
 * - Uazapi replaces `{{name}}`-style placeholders in texts with the chat's lead fields: a
 *   literal `{{` in our text is broken with a zero-width space so it reaches the contact as written.
 */
import { DEFAULT_TIMEOUT_MS, brief, joinUrl, requestJson, retryAfterMs, type HttpMethod, type HttpResponse } from './http';
import { ProviderError } from './errors';
import { type ChannelTarget, type ConnectResult, type OutboundMessage, type ProviderClient, type SendResult } from './types';

export interface UazapiClientOptions {
  timeoutMs?: number;
  /** Used when a channel has no `baseUrl`. */
  defaultBaseUrl?: string;
}

export interface UazapiClient extends ProviderClient {
  connect(channel: ChannelTarget, opts?: { number?: string }): Promise<ConnectResult>;
  logout(channel: ChannelTarget): Promise<void>;
}

const PROVIDER = 'uazapi';
/** Marks our sends in Uazapi's `track_source` (echoed in webhooks). */
export const UAZAPI_TRACK_SOURCE = 'zapflow';
/** Uazapi's longest presence (5 minutes). */
const MAX_PRESENCE_MS = 300_000;

/**
 * zapflow contact key → Uazapi `number`: phone digits as they are; `lid:<digits>` as
 * `<digits>@lid` (Uazapi is whatsmeow-based and takes JIDs; LID sends are [unconfirmed]).
 */
export function uazapiNumber(to: string): string {
  if (/^\d+$/.test(to)) return to;
  if (/^\+\d+$/.test(to)) return to.slice(1);
  const lid = /^lid:(\d+)$/.exec(to);
  if (lid) return `${lid[1]}@lid`;
  throw new ProviderError(`uazapi: cannot address recipient "${to}" (need phone digits or lid:<digits>)`, 'invalid_recipient');
}

/** `{{` would be a Uazapi placeholder: a zero-width space between the braces keeps it literal. */
export function uazapiLiteral(text: string): string {
  return text.replace(/\{\{/g, '{\u200b{');
}

const opt = (text: string | undefined): string | undefined => (text === undefined ? undefined : uazapiLiteral(text));

/**
 * One piece of a `/send/menu` choice: `|` and line breaks separate the parts of a choice, so a
 * label loses them; an id that holds them cannot be sent as it is (the reply would not match).
 */
function choiceLabel(text: string): string {
  return uazapiLiteral(text.replace(/\s*[|\r\n]+\s*/g, ' ').trim());
}
function choiceId(id: string): string {
  if (/[|\r\n]/.test(id)) throw new ProviderError(`uazapi: button/row id "${id}" may not contain "|" or a line break`, 'permanent');
  return id;
}

/** The request path and JSON body Uazapi expects for one outbound message (without tracking fields). */
export function uazapiSendRequest(number: string, message: OutboundMessage): { route: string; body: Record<string, unknown> } {
  switch (message.type) {
    case 'text':
      return { route: '/send/text', body: { number, text: uazapiLiteral(message.text), linkPreview: message.previewUrl ?? false } };
    case 'media':
      return {
        route: '/send/media',
        body: {
          number,
          type: message.mediaType,
          file: message.url,
          text: opt(message.caption),
          docName: message.mediaType === 'document' ? message.fileName : undefined,
        },
      };
    case 'buttons':
      // Menus have no title field: the title goes on top of the text in bold, as WhatsApp shows it.
      return {
        route: '/send/menu',
        body: {
          number,
          type: 'button',
          text: uazapiLiteral(message.title ? `*${message.title}*\n\n${message.text}` : message.text),
          choices: message.buttons.map((b) => `${choiceLabel(b.title)}|${choiceId(b.id)}`),
          footerText: opt(message.footer),
        },
      };
    case 'list':
      return {
        route: '/send/menu',
        body: {
          number,
          type: 'list',
          text: uazapiLiteral(message.title ? `*${message.title}*\n\n${message.text}` : message.text),
          choices: message.sections.flatMap((s) => [
            `[${choiceLabel(s.title)}]`,
            ...s.rows.map((r) => [choiceLabel(r.title), choiceId(r.id), ...(r.description ? [choiceLabel(r.description)] : [])].join('|')),
          ]),
          listButton: choiceLabel(message.buttonText),
          footerText: opt(message.footer),
        },
      };
    case 'template':
      throw new ProviderError(
        `uazapi: cannot send Meta template "${message.name}": Uazapi numbers have no templates; send text instead`,
        'permanent',
      );
  }
}

/** Uazapi's `qrcode` is a data URL already; a bare base64 PNG gets the prefix. */
function qrDataUrl(qrcode: string): string {
  return qrcode.startsWith('data:') ? qrcode : `data:image/png;base64,${qrcode}`;
}

export function createUazapiClient(opts: UazapiClientOptions = {}): UazapiClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function call(channel: ChannelTarget, method: HttpMethod, path: string, body?: unknown): Promise<HttpResponse> {
    const base = channel.baseUrl || opts.defaultBaseUrl;
    if (!base) {
      throw new ProviderError(
        `uazapi: channel ${channel.id} has no baseUrl (set the server URL, https://<subdomain>.uazapi.com, on the channel)`,
        'permanent',
      );
    }
    const token = channel.credentials.apiKey;
    if (!token) throw new ProviderError(`uazapi: channel ${channel.id} has no instance token (apiKey)`, 'auth');
    const res = await requestJson({ provider: PROVIDER, method, url: joinUrl(base, path), headers: { token }, body, timeoutMs });
    if (res.status >= 200 && res.status < 300) return res;
    throw classifyUazapiError(res, channel.externalId, `${method} ${path}`);
  }

  async function instanceStatus(channel: ChannelTarget): Promise<{ state: string; qrcode?: string; paircode?: string }> {
    const res = await call(channel, 'GET', '/instance/status');
    const instance = (res.body as { instance?: { status?: unknown; qrcode?: unknown; paircode?: unknown } } | null)?.instance;
    if (typeof instance?.status !== 'string' || instance.status === '') {
      throw new ProviderError(`uazapi: /instance/status answered without instance.status: ${brief(res.body)}`, 'retryable', {
        status: res.status,
        body: res.body,
      });
    }
    return {
      state: instance.status,
      qrcode: typeof instance.qrcode === 'string' && instance.qrcode !== '' ? instance.qrcode : undefined,
      paircode: typeof instance.paircode === 'string' && instance.paircode !== '' ? instance.paircode : undefined,
    };
  }

  return {
    async send(channel, to, message, { idempotencyKey }): Promise<SendResult> {
      const number = uazapiNumber(to);
      const { route, body } = uazapiSendRequest(number, message);
      const res = await call(channel, 'POST', route, { ...body, track_source: UAZAPI_TRACK_SOURCE, track_id: idempotencyKey });
      const sent = res.body as { messageid?: unknown; chatid?: unknown } | null;
      if (!sent || typeof sent.messageid !== 'string' || sent.messageid === '') {
        // 2xx without an id: the message probably went out, so retrying could duplicate it.
        throw new ProviderError(`uazapi: ${route} answered ${res.status} without messageid: ${brief(res.body)}`, 'permanent', {
          status: res.status,
          body: res.body,
        });
      }
      const chatid = typeof sent.chatid === 'string' ? sent.chatid : '';
      return {
        providerMessageId: sent.messageid,
        recipient: chatid.endsWith('@s.whatsapp.net') ? chatid.split('@')[0]?.split(':')[0] : undefined,
      };
    },

    async presence(channel, to, presence, durationMs) {
      // Uazapi answers at once and keeps the presence up by itself for `delay` ms.
      const delay = Math.min(MAX_PRESENCE_MS, Math.max(0, Math.round(durationMs)));
      await call(channel, 'POST', '/message/presence', { number: uazapiNumber(to), presence, ...(presence === 'paused' ? {} : { delay }) });
    },

    async connectionState(channel) {
      return { state: (await instanceStatus(channel)).state };
    },

    async connect(channel, connectOpts = {}) {
      // Without `phone` Uazapi makes a QR (2 minutes); with it, a pairing code (5 minutes).
      const res = await call(channel, 'POST', '/instance/connect', connectOpts.number ? { phone: uazapiNumber(connectOpts.number) } : {});
      const b = res.body as { connected?: unknown; instance?: { status?: unknown; qrcode?: unknown; paircode?: unknown } } | null;
      const instance = b?.instance;
      const state = typeof instance?.status === 'string' && instance.status !== '' ? instance.status : b?.connected === true ? 'connected' : 'connecting';
      const qrcode = typeof instance?.qrcode === 'string' && instance.qrcode !== '' ? instance.qrcode : undefined;
      const paircode = typeof instance?.paircode === 'string' && instance.paircode !== '' ? instance.paircode : undefined;
      if (state === 'connected' || (!qrcode && !paircode)) return { state };
      return { state, qr: { ...(qrcode ? { base64: qrDataUrl(qrcode) } : {}), pairingCode: paircode ?? null } };
    },

    async logout(channel) {
      await call(channel, 'POST', '/instance/disconnect');
    },
  };
}

/**
 * Uazapi's errors are `{"error": "…"}`: 400 (bad request), 401 (`Invalid token`), 404 (no
 * instance), 429 (limits), 500. The wording of "not on WhatsApp" and "not connected" is
 * [unconfirmed]: matched loosely, and anything else in a 4xx is permanent.
 */
export function classifyUazapiError(res: HttpResponse, instance: string, what: string): ProviderError {
  const body = res.body as { error?: unknown; message?: unknown; response?: unknown } | string | null;
  const raw = typeof body === 'object' && body !== null ? (body.error ?? body.message ?? body.response) : body;
  const text = (typeof raw === 'string' ? raw : raw != null ? brief(raw, 300) : '') || `HTTP ${res.status}`;
  const msg = `uazapi ${what} (instance "${instance}"): HTTP ${res.status}: ${text}`;
  const details = { status: res.status, body: res.body };

  if (res.status === 400 && /not (on|in) whatsapp|not registered|not exists?|does ?n[o']t exist|n[aã]o (possui|existe|tem) whatsapp|invalid (phone|number)/i.test(text)) {
    return new ProviderError(`uazapi: number not on WhatsApp: ${text}`, 'invalid_recipient', { ...details, code: 'not_on_whatsapp' });
  }
  if (res.status === 401 || res.status === 403) return new ProviderError(msg, 'auth', details);
  if (/not connected|disconnected|not logged in|no session/i.test(text) && res.status < 500) {
    // The instance is off WhatsApp: nothing to retry until it reconnects.
    return new ProviderError(msg, 'permanent', { ...details, code: 'connection_closed' });
  }
  if (res.status === 404) return new ProviderError(msg, 'permanent', { ...details, code: 'instance_not_found' });
  if (res.status === 408) return new ProviderError(msg, 'retryable', details);
  if (res.status === 429) {
    return new ProviderError(msg, 'rate_limited', { ...details, retryAfterMs: retryAfterMs(res.headers['retry-after']) ?? 1000 });
  }
  if (res.status >= 500) return new ProviderError(msg, 'retryable', details);
  return new ProviderError(msg, 'permanent', details);
}
