/**
 * Shared HTTP helper for the provider clients: global fetch (undici, keep-alive pooled)
 * with a hard timeout, JSON in and out, and transport failures mapped to ProviderError.
 *
 * Only transport problems (DNS, refused/reset connections, timeouts) throw here; every HTTP
 * answer, 4xx/5xx included, is returned so each client can classify it by its own rules.
 */
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
}

export interface HttpResponse {
  status: number;
  /** Parsed JSON when the body is JSON, else the raw text ('' when empty). */
  body: unknown;
  /** Response headers, names lower-cased. */
  headers: Record<string, string>;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

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
  let text: string;
  try {
    res = await fetch(opts.url, {
      method: opts.method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    throw transportError(provider, opts.method, opts.url, opts.timeoutMs, err);
  }

  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    out[name] = value;
  });
  return { status: res.status, body: parseBody(text), headers: out };
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
