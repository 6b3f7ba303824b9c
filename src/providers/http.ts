/**
 * Shared HTTP helper for the provider clients: global fetch (undici, keep-alive pooled)
 * with a hard timeout, JSON in and out, and transport failures mapped to ProviderError.
 *
 * Only transport problems (DNS, refused/reset connections, timeouts) throw here; every HTTP
 * answer, 4xx/5xx included, is returned so each client can classify it by its own rules.
 *
 * Bodies are read as a stream and cut off at `maxBodyBytes` (default MEDIA_MAX_BYTES, 16 MB):
 * a provider answering with an endless body cannot fill the worker's memory. A cut body is
 * returned with `truncated: true` and its status (not thrown: a 2xx to a send means it may
 * have gone out, and the client must not retry it as if nothing happened).
 */
import { loadConfig } from '../config';
import { ProviderError } from './errors';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestJsonOptions {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  /** Serialised with JSON.stringify (and `content-type: application/json` added) unless a string. */
  body?: unknown;
  /** Hard limit for the whole exchange, body included. */
  timeoutMs: number;
  /** Used in error messages, e.g. "evolution". */
  provider?: string;
  /** Largest body read; default MEDIA_MAX_BYTES. */
  maxBodyBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Parsed JSON when the body is JSON, else the raw text ('' when empty). */
  body: unknown;
  /** Response headers, names lower-cased. */
  headers: Record<string, string>;
  /** The body was over the byte cap: reading stopped there, and `body` is the start of its text only. */
  truncated?: true;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

/** MEDIA_MAX_BYTES's own default, when the configuration cannot be read. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Characters of a cut body kept for error messages. */
const TRUNCATED_PREVIEW_CHARS = 1_000;

let configuredMaxBodyBytes: number | undefined;
/** MEDIA_MAX_BYTES from the environment, read once. */
function defaultMaxBodyBytes(): number {
  if (configuredMaxBodyBytes === undefined) {
    try {
      configuredMaxBodyBytes = loadConfig().MEDIA_MAX_BYTES;
    } catch {
      configuredMaxBodyBytes = DEFAULT_MAX_BODY_BYTES;
    }
  }
  return configuredMaxBodyBytes;
}

export async function requestJson(opts: RequestJsonOptions): Promise<HttpResponse> {
  const provider = opts.provider ?? 'provider';
  const headers: Record<string, string> = { ...opts.headers };
  if (!hasHeader(headers, 'accept')) headers['accept'] = 'application/json';
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
  }

  let res: Response;
  let read: { text: string; truncated: boolean };
  try {
    res = await fetch(opts.url, {
      method: opts.method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    read = await readCapped(res, opts.maxBodyBytes ?? defaultMaxBodyBytes());
  } catch (err) {
    throw transportError(provider, opts.method, opts.url, opts.timeoutMs, err);
  }

  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    out[name] = value;
  });
  if (read.truncated) return { status: res.status, body: read.text.slice(0, TRUNCATED_PREVIEW_CHARS), headers: out, truncated: true };
  return { status: res.status, body: parseBody(read.text), headers: out };
}

/** The body as text, reading at most `maxBytes` (the rest is not downloaded). */
async function readCapped(res: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const declared = Number(res.headers.get('content-length'));
  if (!res.body) return { text: '', truncated: false };
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel();
    return { text: '', truncated: true };
  }
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      const room = value.byteLength - (size - maxBytes);
      text += decoder.decode(value.subarray(0, Math.max(0, room)), { stream: true });
      await reader.cancel();
      return { text, truncated: true };
    }
    text += decoder.decode(value, { stream: true });
  }
  return { text: text + decoder.decode(), truncated: false };
}

function parseBody(text: string): unknown {
  if (text.length === 0) return '';
  // Sniff instead of trusting content-type: some providers send JSON as text/html.
  const first = text.trimStart().charAt(0);
  if (first === '{' || first === '[') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function transportError(provider: string, method: string, url: string, timeoutMs: number, err: unknown): ProviderError {
  const host = hostOf(url);
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new ProviderError(`${provider} ${method} ${host}: timeout after ${timeoutMs} ms`, 'retryable', {
      code: 'timeout',
    });
  }
  // undici reports "fetch failed" and puts the real reason (ECONNREFUSED, ECONNRESET, …) in `cause`.
  const cause = e?.cause;
  const reason = [cause?.code, cause?.message ?? e?.message].filter(Boolean).join(' ') || String(err);
  return new ProviderError(`${provider} ${method} ${host}: network error: ${reason}`, 'retryable', {
    code: cause?.code ?? 'network',
  });
}

/**
 * `Retry-After` header → milliseconds from now. Accepts delta-seconds (`"120"`, `"1.5"`) or
 * an HTTP date. Returns undefined when absent or unparsable; never negative.
 */
export function retryAfterMs(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Joins a base URL and a path without doubling or dropping slashes. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Short, log-safe rendering of an unknown value for error messages. */
export function brief(value: unknown, max = 500): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else {
    try {
      s = JSON.stringify(value);
    } catch {
      s = String(value);
    }
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
