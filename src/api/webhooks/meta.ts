/**
 * Meta WhatsApp Cloud API webhooks: the GET verification handshake, and POSTs signed with
 * X-Hub-Signature-256 over the raw bytes. One POST may carry several entries, numbers,
 * messages and statuses; each item is filed under its phone_number_id's channel, and only
 * when the signature was made with that channel's app secret (or the global one).
 *
 * What a post costs before it is known to be Meta's is bounded: a malformed signature header
 * is refused before the body is read; the global secret (META_APP_SECRET) is one HMAC before
 * parsing; at most WEBHOOK_MAX_ITEMS changes are read (413 above); every number is resolved
 * in one query (misses remembered for CHANNEL_MISS_CACHE); each distinct app secret is one
 * HMAC, and a body naming numbers of more than MAX_SIGNING_APPS apps is refused.
 */
import { openCredentials } from '../../db/credentials';
import { Router, type RequestHandler } from 'express';
import type { Config } from '../../config';
import type { RoutedChannel } from '../../ingest/channelDirectory';
import { hashesEqual } from '../../ingest/auth';
import { credentialHash } from '../../ingest/channelDirectory';
import { describeParseError, parseMeta } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { metaSecretsThatSigned, metaSignatureDigest, safeEqual } from '../../ingest/verify';
import { ApiError } from '../errors';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

/** A legitimate body is signed by one app; its numbers belong to that app. More distinct app secrets than this: 401. */
export const MAX_SIGNING_APPS = 16;
/**
 * A body naming no number (account_update, template status…) is checked against every Meta
 * channel's app secret (once per distinct secret): only when it is at most this large.
 */
export const NUMBERLESS_MAX_BYTES = 64 * 1024;

const SIGNATURE_HEADER = 'x-hub-signature-256';

/** Before the body is read: a POST without a well-formed `sha256=<64 hex>` signature is 401. */
export const metaSignatureHeaderGate: RequestHandler = (req, _res, next) => {
  if (!metaSignatureDigest(req.header(SIGNATURE_HEADER))) {
    next(unauthorized('missing or malformed X-Hub-Signature-256 (expected sha256=<64 hex digits>)'));
    return;
  }
  next();
};

/**
 * phone_number_ids named in the envelope, read defensively before full parsing; 413 when the
 * body has more entries or changes than `maxItems` (Meta batches up to 1,000 changes).
 */
function channelKeys(body: unknown, maxItems: number): string[] {
  const keys = new Set<string>();
  const entries = (body as { entry?: unknown })?.entry;
  if (!Array.isArray(entries)) return [];
  const tooMany = () => new ApiError('payload_too_large', `a webhook body may carry at most ${maxItems} changes (WEBHOOK_MAX_ITEMS)`);
  if (entries.length > maxItems) throw tooMany();
  let changesSeen = 0;
  for (const entry of entries) {
    const changes = (entry as { changes?: unknown })?.changes;
    if (!Array.isArray(changes)) continue;
    changesSeen += changes.length;
    if (changesSeen > maxItems) throw tooMany();
    for (const change of changes) {
      const id = (change as { value?: { metadata?: { phone_number_id?: unknown } } })?.value?.metadata?.phone_number_id;
      if (typeof id === 'string' && id) keys.add(id);
    }
  }
  return [...keys];
}

function appSecretOf(routed: RoutedChannel | undefined): string | undefined {
  const secret = routed ? openCredentials(routed.channel.credentials).appSecret : undefined;
  return typeof secret === 'string' && secret !== '' ? secret : undefined;
}

/** The Meta channel whose app secret signed the body, when the body names no number: one HMAC per distinct secret. */
async function findSigner(deps: { config: Config; ingest: Ingest }, raw: Buffer, digest: Buffer): Promise<RoutedChannel | undefined> {
  if (raw.length > NUMBERLESS_MAX_BYTES) return undefined;
  const bySecret = new Map<string, RoutedChannel>();
  for (const candidate of await deps.ingest.directory.listByProvider('meta', { missTtlMs: deps.config.CHANNEL_MISS_CACHE })) {
    const secret = appSecretOf(candidate);
    if (secret && !bySecret.has(secret)) bySecret.set(secret, candidate);
  }
  const signed = metaSecretsThatSigned(raw, digest, bySecret.keys());
  for (const [secret, candidate] of bySecret) if (signed.has(secret)) return candidate;
  return undefined;
}

export function metaWebhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  const { config, ingest } = deps;
  const lookup = { missTtlMs: config.CHANNEL_MISS_CACHE };

  router.get('/webhooks/meta', async (req, res, next) => {
    try {
      const mode = req.query['hub.mode'];
      const token = req.query['hub.verify_token'];
      const challenge = req.query['hub.challenge'];
      let ok = mode === 'subscribe' && typeof token === 'string' && token !== '' && typeof challenge === 'string';
      if (ok) {
        const presented = token as string;
        const global = config.META_VERIFY_TOKEN && safeEqual(presented, config.META_VERIFY_TOKEN);
        if (!global) {
          // By the token's hash through an index, compared in constant time.
          const hash = credentialHash(presented);
          const channels = await ingest.directory.byCredential('meta', 'verifyToken', [presented], lookup);
          ok = channels.some((c) => hashesEqual(c.channel.verifyTokenHash, hash));
        }
      }
      if (!ok) {
        res.status(403).type('text/plain').send('verification failed');
        return;
      }
      res.status(200).type('text/plain').send(challenge);
    } catch (err) {
      next(err);
    }
  });

  router.post('/webhooks/meta', async (req, res, next) => {
    try {
      const digest = metaSignatureDigest(req.header(SIGNATURE_HEADER));
      if (!digest) throw unauthorized('missing or malformed X-Hub-Signature-256 (expected sha256=<64 hex digits>)');
      const raw = rawBody(req);
      // The global secret, when set, is one HMAC before anything is parsed.
      const globalOk = config.META_APP_SECRET ? metaSecretsThatSigned(raw, digest, [config.META_APP_SECRET]).size > 0 : false;
      const body = parseJsonBody(raw);
      const keys = channelKeys(body, config.WEBHOOK_MAX_ITEMS);

      // Each item goes to its phone_number_id's channel only when the body was signed with
      // that channel's app secret or the global one; anything else is unroutable.
      const routes = new Map<string, RoutedChannel | null>();
      let signer: RoutedChannel | undefined;
      let authentic = globalOk;
      if (keys.length > 0) {
        const found = await ingest.directory.byExternalIds('meta', keys, lookup);
        let signed = new Set<string>();
        if (!globalOk) {
          const secrets = new Set([...found.values()].map(appSecretOf).filter((s): s is string => s !== undefined));
          if (secrets.size > MAX_SIGNING_APPS) throw unauthorized(`a signed body names numbers of at most ${MAX_SIGNING_APPS} apps`);
          signed = metaSecretsThatSigned(raw, digest, secrets);
          authentic = signed.size > 0;
        }
        for (const key of keys) {
          const routed = found.get(key);
          const own = appSecretOf(routed);
          routes.set(key, routed && (globalOk || (own !== undefined && signed.has(own))) ? routed : null);
        }
      } else if (!globalOk) {
        // Fields without a number (account_update, template status…): authentic when signed by
        // any channel's app secret; filed under that channel's tenant.
        signer = await findSigner(deps, raw, digest);
        authentic = signer !== undefined;
      }
      if (!authentic) throw unauthorized('invalid X-Hub-Signature-256');

      const rawText = raw.toString('utf8');
      let parsed;
      try {
        parsed = parseMeta(body);
      } catch (err) {
        const routedList = [...routes.values()].filter((v): v is RoutedChannel => v !== null);
        const outcome = await ingest.accept({
          provider: 'meta',
          rawBody: rawText,
          eventType: null,
          items: [],
          parseError: describeParseError(err),
          requestChannel: routedList.length === 1 ? routedList[0] : (signer ?? null),
        });
        acknowledge(res, outcome);
        return;
      }
      const items = parsed.items.map((item) => ({
        routed: item.channelKey ? (routes.get(item.channelKey) ?? null) : null,
        channelKey: item.channelKey,
        event: item.event,
      }));
      const outcome = await ingest.accept({ provider: 'meta', rawBody: rawText, eventType: parsed.eventType, items, requestChannel: signer });
      acknowledge(res, outcome);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
