/**
 * LancePilot v3 client. Reference: providers.md §4, which is built from one third-party
 * integration only [3p]: routes and request bodies are likely, response shapes and the
 * error format are NOT confirmed. Everything unconfirmed is marked below.
 *
 * - Base `https://lancepilot.com/api/v3` (a channel's `baseUrl` overrides it), header
 *   `Authorization: Bearer <accessToken>`, `Accept: application/json`.
 * - Workspace = `credentials.workspaceId` ?? `channel.externalId`.
 * - LancePilot fronts the Cloud API; the 24-hour window can be checked with
 *   `canSendFreeMessage` before a free-form send.
 */
import { DEFAULT_TIMEOUT_MS, brief, joinUrl, requestJson, retryAfterMs, type HttpMethod, type HttpResponse } from './http';
import { ProviderError } from './errors';
import { type ChannelTarget, type OutboundMessage, type ProviderClient, type SendResult } from './types';

export interface LancePilotClientOptions {
  timeoutMs?: number;
  /** Default `https://lancepilot.com/api/v3`; a channel's `baseUrl` overrides it. */
  defaultBaseUrl?: string;
}

export interface LancePilotClient extends ProviderClient {
  /** Whether the 24-hour free window is open for `number` (`…/can-send-free-message` → `data.canSend`). */
  canSendFreeMessage(channel: ChannelTarget, number: string): Promise<boolean>;
}

const PROVIDER = 'lancepilot';
export const LANCEPILOT_DEFAULT_BASE_URL = 'https://lancepilot.com/api/v3';

function lancePilotNumber(to: string): string {
  if (/^\d+$/.test(to)) return to;
  if (/^\+\d+$/.test(to)) return to.slice(1);
  throw new ProviderError(`lancepilot: cannot address recipient "${to}" (need phone digits)`, 'invalid_recipient');
}

/**
 * Buttons and lists are not in the confirmed API. They go out as plain text with numbered
 * options appended ("1. Pode ligar"), so a funnel still works when the contact types the
 * number or the option label back.
 */
export function interactiveAsText(message: Extract<OutboundMessage, { type: 'buttons' | 'list' }>): string {
  const lines: string[] = [];
  if (message.title) lines.push(`*${message.title}*`, '');
  lines.push(message.text, '');
  let n = 0;
  if (message.type === 'buttons') {
    for (const b of message.buttons) lines.push(`${++n}. ${b.title}`);
  } else {
    const titled = message.sections.length > 1;
    for (const s of message.sections) {
      if (titled && s.title) lines.push(`_${s.title}_`);
      for (const r of s.rows) lines.push(`${++n}. ${r.title}${r.description ? ` (${r.description})` : ''}`);
    }
  }
  if (message.footer) lines.push('', message.footer);
  return lines.join('\n');
}

/** Route (relative to `/workspaces/{ws}/contacts/number/{number}`) and JSON body for one message. */
export function lancePilotSendRequest(message: OutboundMessage): { route: string; body: Record<string, unknown> } {
  switch (message.type) {
    case 'text':
      return { route: 'messages/text', body: { text: { body: message.text } } };
    case 'media':
      if (message.mediaType !== 'image') {
        throw new ProviderError(
          `lancepilot: sending ${message.mediaType} is not supported (only image is in the confirmed API)`,
          'permanent',
        );
      }
      return { route: 'messages/image', body: { file: message.url, ...(message.caption !== undefined ? { caption: message.caption } : {}) } };
    case 'buttons':
    case 'list':
      return { route: 'messages/text', body: { text: { body: interactiveAsText(message) } } };
    case 'template': {
      // LancePilot addresses templates by numeric id (GET /workspaces/{ws}/templates).
      // The template_data shape is unconfirmed [3p]: we send the body variables in order,
      // plus raw components when the caller gives them.
      if (!/^\d+$/.test(message.name)) {
        throw new ProviderError(
          `lancepilot: template "${message.name}" must be referenced by its numeric LancePilot template id`,
          'permanent',
        );
      }
      const templateData: Record<string, unknown> = { variables: message.variables ?? [] };
      if (message.components !== undefined) templateData.components = message.components;
      return { route: 'template-messages', body: { template_id: Number(message.name), template_data: templateData } };
    }
  }
}

/**
 * The send response shape is unconfirmed, so the id is looked for in the likely places.
 * When none is there, the message was still accepted (2xx): we return `lp:<idempotencyKey>`
 * so the send is recorded (statuses will not match it until the real shape is known).
 */
export function lancePilotMessageId(body: unknown, idempotencyKey: string): string {
  const b = (body ?? {}) as {
    id?: unknown;
    data?: { id?: unknown; message_id?: unknown };
    messages?: Array<{ id?: unknown }>;
  };
  const candidates = [b.data?.id, b.id, b.data?.message_id, Array.isArray(b.messages) ? b.messages[0]?.id : undefined];
  for (const c of candidates) {
    if (typeof c === 'string' && c !== '') return c;
    if (typeof c === 'number') return String(c);
  }
  return `lp:${idempotencyKey}`;
}

export function createLancePilotClient(opts: LancePilotClientOptions = {}): LancePilotClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function call(channel: ChannelTarget, method: HttpMethod, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const token = channel.credentials.accessToken;
    if (!token) throw new ProviderError(`lancepilot: channel ${channel.id} has no accessToken`, 'auth');
    const base = channel.baseUrl || opts.defaultBaseUrl || LANCEPILOT_DEFAULT_BASE_URL;
    const res = await requestJson({
      provider: PROVIDER,
      method,
      url: joinUrl(base, path),
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...headers },
      body,
      timeoutMs,
    });
    if (res.status >= 200 && res.status < 300) return res;
    throw classifyLancePilotError(res, `${method} ${path.split('?')[0]}`);
  }

  function contactPath(channel: ChannelTarget, number: string): string {
    const ws = channel.credentials.workspaceId ?? channel.externalId;
    return `/workspaces/${encodeURIComponent(ws)}/contacts/number/${encodeURIComponent(number)}`;
  }

  return {
    async send(channel, to, message, { idempotencyKey }): Promise<SendResult> {
      const number = lancePilotNumber(to);
      const { route, body } = lancePilotSendRequest(message);
      const res = await call(channel, 'POST', `${contactPath(channel, number)}/${route}`, body, {
        'x-idempotency-key': idempotencyKey,
      });
      return { providerMessageId: lancePilotMessageId(res.body, idempotencyKey), recipient: number };
    },

    async presence() {},

    async connectionState(channel) {
      await call(channel, 'GET', '/workspaces?per_page=1');
      return { state: 'open' };
    },

    async canSendFreeMessage(channel, number) {
      const res = await call(channel, 'GET', `${contactPath(channel, lancePilotNumber(number))}/can-send-free-message`);
      const data = (res.body as { data?: { canSend?: unknown } } | null)?.data;
      return data?.canSend === true;
    },
  };
}

/** Error format unconfirmed: classified by HTTP status; the message is taken from `message`/`error`. */
export function classifyLancePilotError(res: HttpResponse, what: string): ProviderError {
  const b = res.body as { message?: unknown; error?: unknown; errors?: unknown } | string | null;
  let text: string;
  if (typeof b === 'string') text = brief(b, 300);
  else {
    const m = b?.message ?? b?.error;
    text = typeof m === 'string' ? m : m !== undefined ? brief(m, 300) : '';
    if (b?.errors !== undefined) text += ` ${brief(b.errors, 300)}`;
  }
  const msg = `lancepilot ${what}: HTTP ${res.status}: ${text.trim() || 'no error message'}`;
  const details = { status: res.status, body: res.body };
  if (res.status === 401 || res.status === 403) return new ProviderError(msg, 'auth', details);
  if (res.status === 429) {
    return new ProviderError(msg, 'rate_limited', { ...details, retryAfterMs: retryAfterMs(res.headers['retry-after']) ?? 1_000 });
  }
  if (res.status === 408 || res.status >= 500) return new ProviderError(msg, 'retryable', details);
  return new ProviderError(msg, 'permanent', details);
}
