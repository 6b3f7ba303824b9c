/**
 * Media bytes of an inbound message, for transcription or description. Where the provider
 * gives a plain URL (Evolution with S3 storage) it is fetched; Evolution's encrypted `.enc`
 * URLs go through `POST /chat/getBase64FromMediaMessage/{instance}`; Meta's media ids through
 * the Graph API (`GET /{media-id}`, then the returned URL, both with the channel's token; a
 * URL in a Meta webhook is fetched with the token too).
 */
import { META_DEFAULT_BASE_URL, META_DEFAULT_GRAPH_VERSION } from './meta';
import type { ChannelTarget } from './types';

export interface InboundMedia {
  kind?: string;
  url?: string;
  mediaId?: string;
  mimeType?: string;
  fileName?: string;
}

export class MediaUnavailable extends Error {
  override name = 'MediaUnavailable';
}

async function fetchBytes(url: string, init: RequestInit, timeoutMs: number, maxBytes: number): Promise<{ data: Buffer; mimeType?: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new MediaUnavailable(`media download answered ${res.status}`);
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > maxBytes) throw new MediaUnavailable(`media is ${length} bytes, above the ${maxBytes} limit`);
  const data = Buffer.from(await res.arrayBuffer());
  if (data.length > maxBytes) throw new MediaUnavailable(`media is ${data.length} bytes, above the ${maxBytes} limit`);
  return { data, mimeType: res.headers.get('content-type') ?? undefined };
}

async function json(url: string, init: RequestInit, timeoutMs: number): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new MediaUnavailable(`media lookup answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** The bytes of an inbound message's media, from the channel's provider. */
export async function downloadInboundMedia(
  channel: ChannelTarget,
  params: { providerMessageId: string; media: InboundMedia; timeoutMs: number; maxBytes: number },
): Promise<{ data: Buffer; mimeType: string }> {
  const { media, timeoutMs, maxBytes } = params;
  const fallbackType = media.mimeType ?? 'application/octet-stream';
  // Meta first: its media URLs (from the Graph API or in newer webhooks) answer only with the token.
  if (channel.provider === 'meta') return fetchMetaMedia(channel, media, timeoutMs, maxBytes);
  if (media.url && /^https?:\/\//.test(media.url) && !/\.enc(\?|$)/.test(media.url)) {
    const got = await fetchBytes(media.url, {}, timeoutMs, maxBytes);
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
      timeoutMs,
    );
    const b64 = typeof body.base64 === 'string' ? body.base64.replace(/^data:[^,]*,/, '') : '';
    if (!b64) throw new MediaUnavailable('Evolution returned no media');
    const data = Buffer.from(b64, 'base64');
    if (data.length > maxBytes) throw new MediaUnavailable(`media is ${data.length} bytes, above the ${maxBytes} limit`);
    return { data, mimeType: (typeof body.mimetype === 'string' ? body.mimetype : undefined) ?? fallbackType };
  }
  throw new MediaUnavailable(`media of ${channel.provider} messages cannot be fetched`);
}

/**
 * Meta: the media id gives a short-lived URL (`GET /{version}/{media-id}`); that URL, like a
 * URL carried in the webhook itself, serves the bytes only with the channel's bearer token.
 */
async function fetchMetaMedia(channel: ChannelTarget, media: InboundMedia, timeoutMs: number, maxBytes: number): Promise<{ data: Buffer; mimeType: string }> {
  const auth = { authorization: `Bearer ${channel.credentials.accessToken ?? ''}` };
  let url = media.url;
  let mimeType = media.mimeType;
  if (media.mediaId) {
    const graph = (channel.baseUrl ?? META_DEFAULT_BASE_URL).replace(/\/+$/, '');
    const info = await json(`${graph}/${META_DEFAULT_GRAPH_VERSION}/${encodeURIComponent(media.mediaId)}`, { headers: auth }, timeoutMs);
    if (typeof info.url !== 'string') throw new MediaUnavailable('Meta returned no media URL');
    url = info.url;
    if (typeof info.mime_type === 'string') mimeType = info.mime_type;
  }
  if (!url || !/^https?:\/\//.test(url)) throw new MediaUnavailable('Meta message has neither a media id nor a media URL');
  const got = await fetchBytes(url, { headers: auth }, timeoutMs, maxBytes);
  return { data: got.data, mimeType: mimeType ?? got.mimeType ?? 'application/octet-stream' };
}
