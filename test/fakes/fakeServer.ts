/**
 * Generic loopback HTTP fake (node:http, 127.0.0.1, ephemeral port).
 *
 * Records every request, answers from registered routes, and lets a test script failures
 * ahead of the routes. Built to stay cheap under benchmark load: no per-request logging, no
 * URL object unless there is a query string, one linear scan over a handful of routes.
 *
 *   const fake = new FakeServer({ strict: true });
 *   fake.route('POST', '/message/sendText/:instance', (req, p) => ({ status: 201, body: {...} }));
 *   const base = await fake.start();
 *   fake.failNext(2, { status: 500, body: { error: 'boom' } });
 *   await fake.waitFor((r) => r.path.endsWith('/sendText/x'));
 *   expect(fake.unexpected).toEqual([]);
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, as sent (not URL-decoded). */
  path: string;
  query: Record<string, string>;
  /** Node's header object: names lower-cased. */
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when not JSON, or undefined when empty. */
  body: unknown;
  rawBody: string;
  /** Epoch milliseconds when the request line arrived. */
  receivedAt: number;
}

export interface FakeResponse {
  status?: number;
  /** Objects are sent as JSON; strings as-is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (simulate a slow provider / client timeout). */
  delayMs?: number;
  /** Destroy the connection without answering (client sees a network error). */
  destroy?: boolean;
}

export type RouteParams = Record<string, string>;
export type FakeHandler = (req: RecordedRequest, params: RouteParams) => FakeResponse | Promise<FakeResponse>;
export type RequestMatcher =
  | ((req: RecordedRequest) => boolean)
  | { method?: string; path?: string | RegExp };

export interface FakeServerOptions {
  /** Unmatched requests answer 404 and land in `unexpected` (otherwise: 200 `{}`). */
  strict?: boolean;
  /** Keep at most this many requests in `requests` (oldest dropped). Default unlimited. */
  maxRecorded?: number;
  /** Added to every answer. */
  latencyMs?: number;
  /** Listen backlog (pending connections). Default Node's 511; benchmarks bursting thousands of connections raise it. */
  backlog?: number;
}

interface Route {
  method: string;
  regex: RegExp;
  names: string[];
  handler: FakeHandler;
}

interface Override {
  match: (req: RecordedRequest) => boolean;
  respond: FakeResponse | FakeHandler;
  remaining: number;
}

interface Waiter {
  predicate: (req: RecordedRequest) => boolean;
  resolve: (req: RecordedRequest) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class FakeServer {
  readonly requests: RecordedRequest[] = [];
  readonly unexpected: RecordedRequest[] = [];
  strict: boolean;
  latencyMs: number;
  private readonly maxRecorded: number;
  private readonly backlog: number | undefined;
  private readonly routes: Route[] = [];
  private overrides: Override[] = [];
  private waiters: Waiter[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: http.Server | undefined;
  private baseUrl: string | undefined;

  constructor(opts: FakeServerOptions = {}) {
    this.strict = opts.strict ?? false;
    this.latencyMs = opts.latencyMs ?? 0;
    this.maxRecorded = opts.maxRecorded ?? Infinity;
    this.backlog = opts.backlog;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`. Throws before `start()`. */
  get url(): string {
    if (!this.baseUrl) throw new Error('FakeServer not started');
    return this.baseUrl;
  }

  /** Registers a route. `pattern` segments starting with `:` are parameters (URL-decoded). */
  route(method: string, pattern: string, handler: FakeHandler): this {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          names.push(seg.slice(1));
          return '([^/]+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method: method.toUpperCase(), regex: new RegExp(`^${source}/?$`), names, handler });
    return this;
  }

  /**
   * Answers matching requests with `respond` (a fixed response or a handler) ahead of the
   * routes, `times` times (default: until removed). Overrides are consulted in the order
   * they were added. Returns a function that removes the override.
   */
  respondWith(matcher: RequestMatcher | undefined, respond: FakeResponse | FakeHandler, opts: { times?: number } = {}): () => void {
    const o: Override = { match: toPredicate(matcher), respond, remaining: opts.times ?? Infinity };
    this.overrides.push(o);
    return () => {
      this.overrides = this.overrides.filter((x) => x !== o);
    };
  }

  /** The next `n` matching requests (default: any request) get `response`. */
  failNext(n: number, response: FakeResponse, matcher?: RequestMatcher): () => void {
    return this.respondWith(matcher, response, { times: n });
  }

  /** Resolves with the first request (already received or future) matching `predicate`. */
  waitFor(predicate: (req: RecordedRequest) => boolean = () => true, timeoutMs = 5_000): Promise<RecordedRequest> {
    const found = this.requests.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<RecordedRequest>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          const seen = this.requests.slice(-5).map((r) => `${r.method} ${r.path}`);
          reject(new Error(`FakeServer.waitFor: no matching request within ${timeoutMs} ms (last seen: ${seen.join(', ') || 'none'})`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Forgets recorded requests and scripted overrides; routes stay. */
  reset(): void {
    this.requests.length = 0;
    this.unexpected.length = 0;
    this.overrides = [];
  }

  /** Starts listening on 127.0.0.1 (`port` 0 = ephemeral; pass a port to restart on it). */
  async start(port = 0): Promise<string> {
    if (this.server) return this.url;
    const server = http.createServer((req, res) => this.handle(req, res));
    // Longer than undici's 4 s idle timeout, so the client never reuses a socket we just closed.
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 61_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', backlog: this.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  /** Stops listening, drops open connections and pending delayed answers. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('FakeServer closed'));
    }
    this.waiters = [];
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const receivedAt = Date.now();
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const query: Record<string, string> = {};
      if (q !== -1) for (const [k, v] of new URLSearchParams(url.slice(q + 1))) query[k] = v;
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path,
        query,
        headers: req.headers,
        body: parseBody(raw),
        rawBody: raw,
        receivedAt,
      };
      this.record(recorded);
      this.dispatch(recorded, res);
    });
  }

  private record(r: RecordedRequest): void {
    this.requests.push(r);
    if (this.requests.length > this.maxRecorded) {
      // Drop in chunks so the cost stays amortised O(1).
      const excess = this.requests.length - this.maxRecorded;
      if (excess >= Math.max(1, Math.floor(this.maxRecorded / 10))) this.requests.splice(0, excess);
    }
    if (this.waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.predicate(r)) {
          clearTimeout(w.timer);
          w.resolve(r);
        } else still.push(w);
      }
      this.waiters = still;
    }
  }

  private dispatch(r: RecordedRequest, res: http.ServerResponse): void {
    let params: RouteParams = {};
    let handler: FakeHandler | undefined;
    for (const route of this.routes) {
      if (route.method !== r.method) continue;
      const m = route.regex.exec(r.path);
      if (!m) continue;
      params = {};
      route.names.forEach((name, i) => {
        params[name] = safeDecode(m[i + 1] ?? '');
      });
      handler = route.handler;
      break;
    }

    let respond: FakeResponse | FakeHandler | undefined;
    if (this.overrides.length > 0) {
      const o = this.overrides.find((x) => x.remaining > 0 && x.match(r));
      if (o) {
        respond = o.respond;
        o.remaining -= 1;
        if (o.remaining <= 0) this.overrides = this.overrides.filter((x) => x !== o);
      }
    }
    if (!respond) respond = handler;
    if (!respond) {
      if (this.strict) {
        this.unexpected.push(r);
        respond = { status: 404, body: { error: 'FakeServer: no route', method: r.method, path: r.path } };
      } else respond = { status: 200, body: {} };
    }

    let out: FakeResponse | Promise<FakeResponse>;
    try {
      out = typeof respond === 'function' ? respond(r, params) : respond;
    } catch (err) {
      out = { status: 500, body: { error: `FakeServer handler threw: ${(err as Error).message}` } };
    }
    // Thenable check rather than instanceof: handlers may come from another realm (jest vm).
    if (typeof (out as Promise<FakeResponse>).then === 'function') {
      (out as Promise<FakeResponse>).then(
        (v) => this.send(res, v),
        (err: Error) => this.send(res, { status: 500, body: { error: `FakeServer handler threw: ${err.message}` } }),
      );
    } else this.send(res, out as FakeResponse);
  }

  private send(res: http.ServerResponse, out: FakeResponse): void {
    const delay = (out.delayMs ?? 0) + this.latencyMs;
    if (delay > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.write(res, out);
      }, delay);
      this.timers.add(t);
      return;
    }
    this.write(res, out);
  }

  private write(res: http.ServerResponse, out: FakeResponse): void {
    if (res.destroyed || res.writableEnded) return;
    if (out.destroy) {
      res.socket?.destroy();
      return;
    }
    let payload: string | Buffer = '';
    const headers: Record<string, string | number> = { ...out.headers };
    if (out.body !== undefined) {
      if (typeof out.body === 'string' || Buffer.isBuffer(out.body)) payload = out.body;
      else {
        payload = JSON.stringify(out.body);
        if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json; charset=utf-8';
      }
    }
    headers['content-length'] = Buffer.byteLength(payload);
    res.writeHead(out.status ?? 200, headers);
    res.end(payload);
  }
}

function toPredicate(matcher: RequestMatcher | undefined): (req: RecordedRequest) => boolean {
  if (!matcher) return () => true;
  if (typeof matcher === 'function') return matcher;
  const { method, path } = matcher;
  const m = method?.toUpperCase();
  return (req) => {
    if (m && req.method !== m) return false;
    if (path === undefined) return true;
    return typeof path === 'string' ? req.path === path : path.test(req.path);
  };
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

/** Small helpers shared by the provider fakes. */
export function bearerToken(req: RecordedRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m?.[1];
}

export function headerValue(req: RecordedRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
