/**
 * Evolution API v2 client (self-hosted, Baileys). Reference: providers.md §1.1, §1.9, §1.13.
 *
 * - Base URL is the channel's own server (`channel.baseUrl`); there is no public default.
 * - Auth: header `apikey` (global key or the instance token).
 * - Paths use the instance NAME (`channel.externalId`), URL-encoded, never its UUID.
 * - Evolution has no idempotency support: a retried send after a timeout may duplicate the
 *   message. We still pass `x-idempotency-key` (ignored by Evolution) so fakes and logs can
 *   correlate retries.
 */
import { DEFAULT_TIMEOUT_MS, brief, joinUrl, requestJson, retryAfterMs, type HttpMethod, type HttpResponse } from './http';
import { ProviderError } from './errors';
import { type ChannelTarget, type ConnectResult, type OutboundMessage, type ProviderClient, type QrCode, type SendResult } from './types';

export interface EvolutionClientOptions {
  timeoutMs?: number;
  /** Used when a channel has no `baseUrl` (e.g. one shared Evolution server in dev). */
  defaultBaseUrl?: string;
}

export interface EvolutionNumberCheck {
  jid: string;
  exists: boolean;
  number: string;
  name?: string;
  lid?: string;
}

export interface EvolutionClient extends ProviderClient {
  /** `POST /chat/whatsappNumbers/{instance}`: which numbers have WhatsApp. */
  checkNumbers(channel: ChannelTarget, numbers: string[]): Promise<EvolutionNumberCheck[]>;
}

const PROVIDER = 'evolution';

/**
 * zapflow contact key → Evolution `number`: canonical phone digits are sent as digits
 * (Evolution builds the JID and handles the Brazilian ninth digit itself); `lid:<digits>`
 * becomes `<digits>@lid` (accepted by Evolution 2.3.6+). Anything else cannot be addressed.
 */
export function evolutionNumber(to: string): string {
  if (/^\d+$/.test(to)) return to;
  const lid = /^lid:(\d+)$/.exec(to);
  if (lid) return `${lid[1]}@lid`;
  if (/^\+\d+$/.test(to)) return to.slice(1);
  throw new ProviderError(`evolution: cannot address recipient "${to}" (need phone digits or lid:<digits>)`, 'invalid_recipient');
}

/** The request path and JSON body Evolution expects for one outbound message. */
export function evolutionSendRequest(number: string, message: OutboundMessage): { route: string; body: Record<string, unknown> } {
  switch (message.type) {
    case 'text':
      return { route: 'sendText', body: { number, text: message.text, linkPreview: message.previewUrl ?? false } };
    case 'media':
      return {
        route: 'sendMedia',
        body: {
          number,
          mediatype: message.mediaType,
          media: message.url,
          caption: message.caption,
          fileName: message.fileName,
          mimetype: message.mimeType,
        },
      };
    case 'buttons':
      // Evolution renders `*title*\n\ndescription`: the title is mandatory in practice, so
      // without a title the body text becomes the title.
      return {
        route: 'sendButtons',
        body: {
          number,
          title: message.title ?? message.text,
          description: message.title !== undefined ? message.text : undefined,
          footer: message.footer,
          buttons: message.buttons.map((b) => ({ type: 'reply', displayText: b.title, id: b.id })),
        },
      };
    case 'list':
      return {
        route: 'sendList',
        body: {
          number,
          title: message.title ?? message.text,
          description: message.title !== undefined ? message.text : undefined,
          footerText: message.footer ?? '', // required by Evolution's schema
          buttonText: message.buttonText,
          sections: message.sections.map((s) => ({
            title: s.title,
            rows: s.rows.map((r) => ({
              title: r.title,
              // Evolution rejects an empty description; leave it out instead.
              description: r.description ? r.description : undefined,
              rowId: r.id,
            })),
          })),
        },
      };
    case 'template':
      throw new ProviderError(
        `evolution: cannot send Meta template "${message.name}": Baileys instances have no templates; send text instead`,
        'permanent',
      );
  }
}

export function createEvolutionClient(opts: EvolutionClientOptions = {}): EvolutionClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function call(
    channel: ChannelTarget,
    method: HttpMethod,
    path: string,
    body?: unknown,
    extra: { timeoutMs?: number; headers?: Record<string, string>; query?: string } = {},
  ): Promise<HttpResponse> {
    const base = channel.baseUrl || opts.defaultBaseUrl;
    if (!base) {
      throw new ProviderError(
        `evolution: channel ${channel.id} has no baseUrl (Evolution is self-hosted: set the server URL on the channel)`,
        'permanent',
      );
    }
    const apiKey = channel.credentials.apiKey;
    if (!apiKey) throw new ProviderError(`evolution: channel ${channel.id} has no apiKey`, 'auth');
    const url = joinUrl(base, `${path}/${encodeURIComponent(channel.externalId)}${extra.query ?? ''}`);
    const res = await requestJson({
      provider: PROVIDER,
      method,
      url,
      headers: { apikey: apiKey, ...extra.headers },
      body,
      timeoutMs: extra.timeoutMs ?? timeoutMs,
    });
    if (res.status >= 200 && res.status < 300) return res;
    throw classifyEvolutionError(res, channel.externalId, `${method} ${path}`);
  }

  const client: EvolutionClient = {
    async send(channel, to, message, { idempotencyKey }): Promise<SendResult> {
      const number = evolutionNumber(to);
      const { route, body } = evolutionSendRequest(number, message);
      const res = await call(channel, 'POST', `/message/${route}`, body, {
        headers: { 'x-idempotency-key': idempotencyKey },
      });
      const key = (res.body as { key?: { id?: unknown; remoteJid?: unknown } } | null)?.key;
      if (!key || typeof key.id !== 'string' || key.id === '') {
        // 2xx without an id: the message probably went out, so retrying could duplicate it.
        throw new ProviderError(`evolution: ${route} answered ${res.status} without key.id: ${brief(res.body)}`, 'permanent', {
          status: res.status,
          body: res.body,
        });
      }
      const remoteJid = typeof key.remoteJid === 'string' ? key.remoteJid : undefined;
      return {
        providerMessageId: key.id,
        recipient: remoteJid ? remoteJid.split('@')[0]?.split(':')[0] : undefined,
      };
    },

    async presence(channel, to, presence, durationMs) {
      const number = evolutionNumber(to);
      const delay = Math.max(0, Math.round(durationMs));
      // Evolution holds the request open for `delay` ms while showing the presence.
      await call(channel, 'POST', '/chat/sendPresence', { number, presence, delay }, { timeoutMs: timeoutMs + delay });
    },

    async connectionState(channel) {
      const res = await call(channel, 'GET', '/instance/connectionState');
      const b = res.body as { instance?: { state?: unknown }; state?: unknown } | null;
      const state = b?.instance?.state ?? b?.state;
      if (typeof state !== 'string') {
        throw new ProviderError(`evolution: connectionState answered without a state: ${brief(res.body)}`, 'retryable', {
          status: res.status,
          body: res.body,
        });
      }
      return { state };
    },

    async connect(channel, connectOpts = {}) {
      const query = connectOpts.number ? `?number=${encodeURIComponent(connectOpts.number.replace(/\D/g, ''))}` : '';
      const res = await call(channel, 'GET', '/instance/connect', undefined, { query });
      return connectResultOf(res.body);
    },

    async restart(channel) {
      await call(channel, 'POST', '/instance/restart');
    },

    async logout(channel) {
      try {
        await call(channel, 'DELETE', '/instance/logout');
      } catch (err) {
        // Already logged out (Evolution answers 400 when the instance is closed): the goal is met.
        if (err instanceof ProviderError && err.details.status === 400) return;
        throw err;
      }
    },

    async checkNumbers(channel, numbers) {
      const res = await call(channel, 'POST', '/chat/whatsappNumbers', {
        numbers: numbers.map((n) => (/^lid:\d+$/.test(n) ? evolutionNumber(n) : n.replace(/^\+/, ''))),
      });
      if (!Array.isArray(res.body)) {
        throw new ProviderError(`evolution: whatsappNumbers answered ${brief(res.body)}`, 'retryable', {
          status: res.status,
          body: res.body,
        });
      }
      return res.body as EvolutionNumberCheck[];
    },
  };
  return client;
}

/** Standalone form of `client.checkNumbers`. */
export function checkNumbers(
  channel: ChannelTarget,
  numbers: string[],
  opts?: EvolutionClientOptions,
): Promise<EvolutionNumberCheck[]> {
  return createEvolutionClient(opts).checkNumbers(channel, numbers);
}

/** Evolution's error envelope: `{status, error, response: {message: string | unknown[]}}`. */
export function classifyEvolutionError(res: HttpResponse, instance: string, what: string): ProviderError {
  const body = res.body as { error?: unknown; message?: unknown; response?: { message?: unknown } } | string | null;
  const raw = typeof body === 'object' && body !== null ? (body.response?.message ?? body.message ?? body.error) : body;
  const text = evolutionMessageText(raw) || `HTTP ${res.status}`;
  const msg = `evolution ${what} (instance "${instance}"): HTTP ${res.status}: ${text}`;
  const details = { status: res.status, body: res.body };

  if (res.status === 400 && notOnWhatsApp(raw)) {
    return new ProviderError(`evolution: number not on WhatsApp: ${text}`, 'invalid_recipient', { ...details, code: 'exists_false' });
  }
  if (res.status === 400 && /connection closed/i.test(text)) {
    // The instance is disconnected from WhatsApp: nothing to retry until it reconnects.
    return new ProviderError(msg, 'permanent', { ...details, code: 'connection_closed' });
  }
  if (res.status === 401 || res.status === 403) return new ProviderError(msg, 'auth', details);
  if (res.status === 404) return new ProviderError(msg, 'permanent', { ...details, code: 'instance_not_found' });
  if (res.status === 408) return new ProviderError(msg, 'retryable', details);
  if (res.status === 429) {
    return new ProviderError(msg, 'rate_limited', { ...details, retryAfterMs: retryAfterMs(res.headers['retry-after']) ?? 1000 });
  }
  if (res.status >= 500) return new ProviderError(msg, 'retryable', details);
  return new ProviderError(msg, 'permanent', details);
}

function notOnWhatsApp(raw: unknown): boolean {
  const items = Array.isArray(raw) ? raw : [raw];
  return items.some((m) => typeof m === 'object' && m !== null && (m as { exists?: unknown }).exists === false);
}

function evolutionMessageText(raw: unknown): string {
  if (raw == null) return '';
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return raw.map((m) => (typeof m === 'string' ? m : brief(m, 200))).join('; ');
  return brief(raw);
}

/**
 * `/instance/connect`'s answer: a QR (`{pairingCode, code, base64, count}`) while not
 * connected, or the connectionState object (`{instance: {state}}`) when already open.
 */
export function connectResultOf(body: unknown): ConnectResult {
  const b = (typeof body === 'object' && body !== null ? body : {}) as {
    instance?: { state?: unknown };
    state?: unknown;
    code?: unknown;
    base64?: unknown;
    pairingCode?: unknown;
    qrcode?: { code?: unknown; base64?: unknown; pairingCode?: unknown };
  };
  const state = typeof b.instance?.state === 'string' ? b.instance.state : typeof b.state === 'string' ? b.state : undefined;
  const qr = qrOf(b.qrcode ?? b);
  if (qr) return { state: state ?? 'connecting', qr };
  if (state) return { state };
  throw new ProviderError(`evolution: connect answered neither a QR nor a state: ${brief(body)}`, 'retryable', { body });
}

function qrOf(raw: { code?: unknown; base64?: unknown; pairingCode?: unknown }): QrCode | undefined {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const code = text(raw.code);
  const base64 = text(raw.base64);
  if (!code && !base64) return undefined;
  return { code, base64, pairingCode: text(raw.pairingCode) ?? null };
}

// ─── the server's instances (global key) ───

/** zapflow's Evolution server: where `POST /api/channels` creates instances (EVOLUTION_BASE_URL, EVOLUTION_API_KEY). */
export interface EvolutionServer {
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
}

export interface CreatedInstance {
  instanceName: string;
  instanceId?: string;
  /** The instance's own token: sends and state calls use it instead of the global key. */
  token: string;
  qr?: QrCode;
}

/** The events a zapflow instance posts (providers.md §1.2): messages, statuses, echoes, connection and QR. */
export const ZAPFLOW_EVOLUTION_EVENTS = ['MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'SEND_MESSAGE', 'CONNECTION_UPDATE', 'QRCODE_UPDATED'];

async function serverCall(server: EvolutionServer, method: HttpMethod, path: string, body?: unknown): Promise<HttpResponse> {
  return requestJson({
    provider: PROVIDER,
    method,
    url: joinUrl(server.baseUrl, path),
    headers: { apikey: server.apiKey },
    body,
    timeoutMs: server.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}

/**
 * `POST /instance/create` (global key): a Baileys instance that shows a QR, with its webhook
 * pointed at zapflow and the channel's secret sent as a header on every post.
 */
export async function createEvolutionInstance(
  server: EvolutionServer,
  params: { instanceName: string; webhookUrl: string; webhookSecret: string },
): Promise<CreatedInstance> {
  const res = await serverCall(server, 'POST', '/instance/create', {
    instanceName: params.instanceName,
    integration: 'WHATSAPP-BAILEYS',
    qrcode: true,
    webhook: {
      enabled: true,
      url: params.webhookUrl,
      byEvents: false,
      base64: false,
      headers: { 'x-zapflow-secret': params.webhookSecret },
      events: ZAPFLOW_EVOLUTION_EVENTS,
    },
  });
  if (res.status < 200 || res.status >= 300) throw classifyEvolutionError(res, params.instanceName, 'POST /instance/create');
  const b = (res.body ?? {}) as { instance?: { instanceName?: unknown; instanceId?: unknown }; hash?: unknown; qrcode?: { code?: unknown; base64?: unknown; pairingCode?: unknown } };
  // 2.x answers the token as `hash` (a string; some versions nest it as {apikey}).
  const hash = typeof b.hash === 'string' ? b.hash : typeof (b.hash as { apikey?: unknown } | undefined)?.apikey === 'string' ? (b.hash as { apikey: string }).apikey : undefined;
  if (!hash) throw new ProviderError(`evolution: /instance/create answered without the instance token (hash): ${brief(res.body)}`, 'permanent', { status: res.status });
  return {
    instanceName: typeof b.instance?.instanceName === 'string' ? b.instance.instanceName : params.instanceName,
    instanceId: typeof b.instance?.instanceId === 'string' ? b.instance.instanceId : undefined,
    token: hash,
    qr: b.qrcode ? qrOf(b.qrcode) : undefined,
  };
}

/** `DELETE /instance/delete/{instance}` (global key); an instance already gone counts as deleted. */
export async function deleteEvolutionInstance(server: EvolutionServer, instanceName: string): Promise<void> {
  const res = await serverCall(server, 'DELETE', `/instance/delete/${encodeURIComponent(instanceName)}`);
  if (res.status === 404 || (res.status >= 200 && res.status < 300)) return;
  throw classifyEvolutionError(res, instanceName, 'DELETE /instance/delete');
}
