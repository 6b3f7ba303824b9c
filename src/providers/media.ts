/**
 * Media bytes of an inbound message, for transcription or description. Where the provider
 * gives a plain URL (Evolution with S3 storage) it is fetched; Evolution's encrypted `.enc`
 * URLs go through `POST /chat/getBase64FromMediaMessage/{instance}`; Meta's media ids through
 * the Graph API (`GET /{media-id}`, then the returned URL, both with the channel's token; a
 * URL in a Meta webhook is fetched with the token too).
 *
 * A media URL comes from a webhook, so it is not trusted (issue 20, SSRF): every request here
 * goes through `guardedFetch`.
 * - Allowed as they are: the origin (scheme, host, port) of the channel's own provider base
 *   URL, even private or loopback (self-hosted Evolution often is); WhatsApp's and Meta's
 *   media hosts over https (`*.whatsapp.net`, `*.fbcdn.net`, `*.fbsbx.com`,
 *   `graph.facebook.com`); and MEDIA_ALLOWED_ORIGINS.
 * - Any other host is resolved (every address) and refused when one of them is private,
 *   loopback, link-local, unique-local, CGNAT, unspecified, multicast or reserved; the
 *   connection then goes to the address that was checked (no second lookup).
 * - Redirects are followed by hand, at most MAX_REDIRECTS, only to an allowed origin or
 *   within the same origin (checked again); credentials are not carried to another origin.
 * - Bodies stream with a byte cap and the whole exchange has a timeout.
 * A refusal is a `MediaRefused` whose message reads `media refused: <reason>`.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { META_DEFAULT_BASE_URL, META_DEFAULT_GRAPH_VERSION } from './meta';
import type { ChannelTarget } from './types';

export interface InboundMedia {
  kind?: string;
  url?: string;
  mediaId?: string;
  mimeType?: string;
  fileName?: string;
}

/** The media could not be had (an error answer, a timeout, nothing returned). */
export class MediaUnavailable extends Error {
  override name = 'MediaUnavailable';
}

/** zapflow would not fetch it: a host it may not reach, a redirect elsewhere, too large. */
export class MediaRefused extends MediaUnavailable {
  override name = 'MediaRefused';
  constructor(readonly reason: string) {
    super(`media refused: ${reason}`);
  }
}

/** Redirect hops followed at most. */
export const MAX_REDIRECTS = 3;

/** WhatsApp's and Meta's media hosts (https only): exact names, and suffixes. */
const META_HOSTS = new Set(['graph.facebook.com', 'lookaside.fbsbx.com']);
const META_HOST_SUFFIXES = ['.whatsapp.net', '.fbcdn.net', '.fbsbx.com'];

/** Address ranges no media URL may reach unless its origin is allowed, by what they are. */
const BLOCKED: Array<{ what: string; subnets: Array<[string, number, 'ipv4' | 'ipv6']> }> = [
  { what: 'unspecified', subnets: [['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']] },
  { what: 'loopback', subnets: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']] },
  { what: 'private', subnets: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4']] },
  { what: 'CGNAT', subnets: [['100.64.0.0', 10, 'ipv4']] },
  { what: 'link-local', subnets: [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']] },
  { what: 'unique-local', subnets: [['fc00::', 7, 'ipv6'], ['fec0::', 10, 'ipv6']] },
  { what: 'multicast', subnets: [['224.0.0.0', 4, 'ipv4'], ['ff00::', 8, 'ipv6']] },
  {
    what: 'reserved',
    subnets: [
      ['192.0.0.0', 24, 'ipv4'],
      ['192.0.2.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      ['240.0.0.0', 4, 'ipv4'],
      ['100::', 64, 'ipv6'],
      ['2001:db8::', 32, 'ipv6'],
    ],
  },
];
const BLOCK_LISTS = BLOCKED.map(({ what, subnets }) => {
  const list = new BlockList();
  for (const [net, prefix, family] of subnets) list.addSubnet(net, prefix, family);
  return { what, list };
});

/** The IPv4 address an IPv6 one carries (NAT64 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::/96). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const groups = expandIpv6(lower);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const [g0, g1, g2, , , , g6, g7] = groups;
  if (g0 === 0x64 && g1 === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) return v4(g6, g7);
  if (g0 === 0x2002) return v4(g1, g2);
  if (groups.slice(0, 6).every((g) => g === 0) && (g6 !== 0 || g7 > 1)) return v4(g6, g7);
  return undefined;
}

type Groups = [number, number, number, number, number, number, number, number];

function expandIpv6(address: string): Groups | undefined {
  if (address.includes('.')) return undefined;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? (groups as Groups) : undefined;
}

/** What kind of address no media URL may reach this is (`loopback`, `private`…), or undefined. */
export function blockedAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { what, list } of BLOCK_LISTS) if (list.check(address, type)) return what;
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return blockedAddress(v4);
  }
  return undefined;
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves a host name to every address (node:dns lookup, as connections would). */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

const systemResolve: ResolveHost = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

export interface MediaFetchPolicy {
  /** Origins fetched without the address check: the channel's provider and MEDIA_ALLOWED_ORIGINS. */
  allowedOrigins: string[];
  /** Largest body read (bytes); more is refused. */
  maxBytes: number;
  /** For the whole exchange, redirects included. */
  timeoutMs: number;
  /** DNS resolution (tests); default node:dns lookup. */
  resolve?: ResolveHost;
}

/** Whether credentials may be sent to `url`: only to an allowed origin. */
function mayCarryCredentials(url: string, policy: MediaFetchPolicy): boolean {
  try {
    return isAllowed(new URL(url), new Set(policy.allowedOrigins.map(originOf).filter((o): o is string => o !== undefined)));
  } catch {
    return false;
  }
}

function isAllowed(url: URL, allowed: ReadonlySet<string>): boolean {
  if (allowed.has(url.origin)) return true;
  if (url.protocol !== 'https:' || url.port !== '') return false;
  const host = url.hostname.toLowerCase();
  return META_HOSTS.has(host) || META_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

const CREDENTIAL_HEADERS = ['authorization', 'apikey', 'cookie', 'proxy-authorization'];

interface GuardedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  data: Buffer;
}

interface GuardedRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/** One request under the policy: see the file's comment. */
export async function guardedFetch(url: string, init: GuardedRequest, policy: MediaFetchPolicy): Promise<GuardedResponse> {
  const allowed = new Set(policy.allowedOrigins.map(originOf).filter((o): o is string => o !== undefined));
  const resolve = policy.resolve ?? systemResolve;
  const deadline = AbortSignal.timeout(policy.timeoutMs);
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new MediaRefused('not a URL');
  }
  let method = init.method ?? 'GET';
  let body = init.body;
  let headers = { ...init.headers };
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new MediaRefused(`${current.protocol} URLs are not fetched`);
    if (current.username || current.password) throw new MediaRefused('URLs with credentials are not fetched');
    const pinned = isAllowed(current, allowed) ? undefined : await checkedAddress(current, resolve);
    const res = await send(current, { method, headers, body }, pinned, deadline, policy);
    const location = res.status >= 300 && res.status < 400 ? res.location : undefined;
    if (location === undefined) return { status: res.status, headers: res.headers, data: res.data };
    if (hop >= MAX_REDIRECTS) throw new MediaRefused(`more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new MediaUnavailable(`media download redirected to an invalid URL`);
    }
    if (next.origin !== current.origin && !isAllowed(next, allowed)) throw new MediaRefused(`redirect from ${current.origin} to ${next.origin}, not an allowed origin`);
    if (next.origin !== current.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())));
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-type'));
    }
    current = next;
  }
}

/** Resolves `url`'s host; refuses it when any address is one no media URL may reach; returns the address to connect to. */
async function checkedAddress(url: URL, resolve: ResolveHost): Promise<LookupAddress> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw new MediaUnavailable(`media host ${host} did not resolve: ${(err as Error).message}`);
    }
  }
  if (addresses.length === 0) throw new MediaUnavailable(`media host ${host} did not resolve`);
  for (const a of addresses) {
    const what = blockedAddress(a.address);
    if (what) throw new MediaRefused(`${url.host} resolves to ${a.address} (${what}), not an allowed origin`);
  }
  return addresses[0];
}

/** Connects to `pinned` (the checked address) instead of looking the name up again. */
function pinnedLookup(pinned: LookupAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
}

function send(
  url: URL,
  init: Required<Pick<GuardedRequest, 'method' | 'headers'>> & { body?: string },
  pinned: LookupAddress | undefined,
  signal: AbortSignal,
  policy: MediaFetchPolicy,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; data: Buffer; location?: string }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new MediaUnavailable(`media download timed out after ${policy.timeoutMs} ms`));
      return;
    }
    const client = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    // No shared agent: a pooled connection is never reused across hosts or checks.
    const req = client.request(url, { method: init.method, headers, signal, agent: false, ...(pinned ? { lookup: pinnedLookup(pinned) } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      const location = status >= 300 && status < 400 && typeof res.headers.location === 'string' ? res.headers.location : undefined;
      if (location !== undefined) {
        res.resume(); // a redirect's body is not read
        resolve({ status, headers: res.headers, data: Buffer.alloc(0), location });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > policy.maxBytes) {
        req.destroy();
        reject(new MediaRefused(`media is ${declared} bytes, above the ${policy.maxBytes}-byte limit`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > policy.maxBytes) {
          req.destroy();
          reject(new MediaRefused(`media is over the ${policy.maxBytes}-byte limit (cut off)`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, headers: res.headers, data: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(transportError(err, policy)));
    });
    req.on('error', (err) => reject(transportError(err, policy)));
    req.end(init.body);
  });
}

function transportError(err: Error, policy: MediaFetchPolicy): Error {
  if (err instanceof MediaUnavailable) return err;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return new MediaUnavailable(`media download timed out after ${policy.timeoutMs} ms`);
  const code = (err as { code?: string }).code;
  return new MediaUnavailable(`media download failed: ${code ?? err.message}`);
}

async function fetchBytes(url: string, init: GuardedRequest, policy: MediaFetchPolicy): Promise<{ data: Buffer; mimeType?: string }> {
  const res = await guardedFetch(url, init, policy);
  if (res.status < 200 || res.status >= 300) throw new MediaUnavailable(`media download answered ${res.status}`);
  const type = res.headers['content-type'];
  return { data: res.data, mimeType: typeof type === 'string' ? type : undefined };
}

async function json(url: string, init: GuardedRequest, policy: MediaFetchPolicy): Promise<Record<string, unknown>> {
  const res = await guardedFetch(url, init, policy);
  if (res.status < 200 || res.status >= 300) throw new MediaUnavailable(`media lookup answered ${res.status}`);
  try {
    const parsed: unknown = JSON.parse(res.data.toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    throw new MediaUnavailable('media lookup answered with something other than JSON');
  }
}

/** A Graph API media lookup is a small JSON document. */
const LOOKUP_MAX_BYTES = 1024 * 1024;

/** The bytes of an inbound message's media, from the channel's provider. */
export async function downloadInboundMedia(
  channel: ChannelTarget,
  params: {
    providerMessageId: string;
    media: InboundMedia;
    timeoutMs: number;
    maxBytes: number;
    /** Origins media may also come from (MEDIA_ALLOWED_ORIGINS). */
    allowedOrigins?: string[];
    /** DNS resolution (tests); default node:dns lookup. */
    resolve?: ResolveHost;
  },
): Promise<{ data: Buffer; mimeType: string }> {
  const { media, timeoutMs, maxBytes } = params;
  const providerBase = channel.baseUrl || (channel.provider === 'meta' ? META_DEFAULT_BASE_URL : undefined);
  const policy: MediaFetchPolicy = {
    allowedOrigins: [...(providerBase ? [providerBase] : []), ...(params.allowedOrigins ?? [])],
    maxBytes,
    timeoutMs,
    resolve: params.resolve,
  };
  const fallbackType = media.mimeType ?? 'application/octet-stream';
  // Meta first: its media URLs (from the Graph API or in newer webhooks) answer only with the token.
  if (channel.provider === 'meta') return fetchMetaMedia(channel, media, policy);
  // Uazapi's webhook URL is WhatsApp's encrypted file: Uazapi decrypts it on /message/download (§3.3).
  if (channel.provider === 'uazapi') return fetchUazapiMedia(channel, params.providerMessageId, policy, fallbackType);
  if (media.url && /^https?:\/\//.test(media.url) && !/\.enc(\?|$)/.test(media.url)) {
    const got = await fetchBytes(media.url, {}, policy);
    return { data: got.data, mimeType: media.mimeType ?? got.mimeType ?? fallbackType };
  }
  const base = (channel.baseUrl ?? '').replace(/\/+$/, '');
  if (channel.provider === 'evolution' && base) {
    const body = await json(
      `${base}/chat/getBase64FromMediaMessage/${encodeURIComponent(channel.externalId)}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: channel.credentials.apiKey ?? '' },
        body: JSON.stringify({ message: { key: { id: params.providerMessageId } }, convertToMp4: false }),
      },
      // The file as base64 in JSON: a third larger, plus the envelope.
      { ...policy, maxBytes: Math.ceil(maxBytes / 3) * 4 + 64 * 1024 },
    );
    const b64 = typeof body.base64 === 'string' ? body.base64.replace(/^data:[^,]*,/, '') : '';
    if (!b64) throw new MediaUnavailable('Evolution returned no media');
    const data = Buffer.from(b64, 'base64');
    if (data.length > maxBytes) throw new MediaRefused(`media is ${data.length} bytes, above the ${maxBytes}-byte limit`);
    return { data, mimeType: (typeof body.mimetype === 'string' ? body.mimetype : undefined) ?? fallbackType };
  }
  throw new MediaUnavailable(`media of ${channel.provider} messages cannot be fetched`);
}

/** Uazapi: `POST /message/download {id, return_base64}` with the instance token → `{base64Data, mimetype}`. */
async function fetchUazapiMedia(channel: ChannelTarget, providerMessageId: string, policy: MediaFetchPolicy, fallbackType: string): Promise<{ data: Buffer; mimeType: string }> {
  const base = (channel.baseUrl ?? '').replace(/\/+$/, '');
  if (!base) throw new MediaUnavailable('the Uazapi channel has no server URL');
  const body = await json(
    `${base}/message/download`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', token: channel.credentials.apiKey ?? '' },
      // The original format (OGG for voice notes, not Uazapi's default MP3), inline rather than a public link.
      body: JSON.stringify({ id: providerMessageId, return_base64: true, return_link: false, generate_mp3: false }),
    },
    { ...policy, maxBytes: Math.ceil(policy.maxBytes / 3) * 4 + 64 * 1024 },
  );
  const b64 = typeof body.base64Data === 'string' ? body.base64Data.replace(/^data:[^,]*,/, '') : '';
  if (!b64) throw new MediaUnavailable('Uazapi returned no media');
  const data = Buffer.from(b64, 'base64');
  if (data.length > policy.maxBytes) throw new MediaRefused(`media is ${data.length} bytes, above the ${policy.maxBytes}-byte limit`);
  return { data, mimeType: (typeof body.mimetype === 'string' && body.mimetype !== '' ? body.mimetype : undefined) ?? fallbackType };
}

/**
 * Meta: the media id gives a short-lived URL (`GET /{version}/{media-id}`); that URL, like a
 * URL carried in the webhook itself, serves the bytes only with the channel's bearer token.
 */
async function fetchMetaMedia(channel: ChannelTarget, media: InboundMedia, policy: MediaFetchPolicy): Promise<{ data: Buffer; mimeType: string }> {
  const auth = { authorization: `Bearer ${channel.credentials.accessToken ?? ''}` };
  let url = media.url;
  let mimeType = media.mimeType;
  if (media.mediaId) {
    const graph = (channel.baseUrl ?? META_DEFAULT_BASE_URL).replace(/\/+$/, '');
    const info = await json(`${graph}/${META_DEFAULT_GRAPH_VERSION}/${encodeURIComponent(media.mediaId)}`, { headers: auth }, { ...policy, maxBytes: Math.min(policy.maxBytes, LOOKUP_MAX_BYTES) });
    if (typeof info.url !== 'string') throw new MediaUnavailable('Meta returned no media URL');
    url = info.url;
    if (typeof info.mime_type === 'string') mimeType = info.mime_type;
  }
  if (!url || !/^https?:\/\//.test(url)) throw new MediaUnavailable('Meta message has neither a media id nor a media URL');
  // The token goes only to an allowed origin (Meta's hosts, the channel's Graph URL).
  const got = await fetchBytes(url, { headers: mayCarryCredentials(url, policy) ? auth : {} }, policy);
  return { data: got.data, mimeType: mimeType ?? got.mimeType ?? 'application/octet-stream' };
}
