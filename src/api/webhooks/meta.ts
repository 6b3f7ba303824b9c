/**
 * Meta WhatsApp Cloud API webhooks: the GET verification handshake, and POSTs signed with
 * X-Hub-Signature-256 over the raw bytes. One POST may carry several entries, numbers,
 * messages and statuses; each item is filed under its phone_number_id's channel, and only
 * when the signature was made with that channel's app secret (or the global one).
 */
import { Router } from 'express';
import type { Config } from '../../config';
import type { RoutedChannel } from '../../ingest/channelDirectory';
import { describeParseError, parseMeta } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { safeEqual, verifyMetaSignature } from '../../ingest/verify';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

/** phone_number_ids named in the envelope, read defensively before full parsing. */
function channelKeys(body: unknown): string[] {
  const keys = new Set<string>();
  const entries = (body as { entry?: unknown })?.entry;
  if (!Array.isArray(entries)) return [];
  for (const entry of entries) {
    const changes = (entry as { changes?: unknown })?.changes;
    if (!Array.isArray(changes)) continue;
    for (const change of changes) {
      const id = (change as { value?: { metadata?: { phone_number_id?: unknown } } })?.value?.metadata?.phone_number_id;
      if (typeof id === 'string' && id) keys.add(id);
    }
  }
  return [...keys];
}

/** The Meta channel whose app secret signed the body, when the body names no number. */
async function findSigner(ingest: Ingest, raw: Buffer, signature: string): Promise<RoutedChannel | undefined> {
  for (const candidate of await ingest.directory.listByProvider('meta')) {
    const secret = candidate.channel.credentials.appSecret;
    if (secret && verifyMetaSignature(raw, signature, [secret])) return candidate;
  }
  return undefined;
}

export function metaWebhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  const { config, ingest } = deps;

  router.get('/webhooks/meta', async (req, res, next) => {
    try {
      const mode = req.query['hub.mode'];
      const token = req.query['hub.verify_token'];
      const challenge = req.query['hub.challenge'];
      let ok = mode === 'subscribe' && typeof token === 'string' && token !== '' && typeof challenge === 'string';
      if (ok) {
        const global = config.META_VERIFY_TOKEN && safeEqual(token as string, config.META_VERIFY_TOKEN);
        ok = Boolean(global) || Boolean(await ingest.directory.byCredential('meta', 'verifyToken', token as string));
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
      const raw = rawBody(req);
      const signature = req.header('x-hub-signature-256');
      if (!signature) throw unauthorized('missing X-Hub-Signature-256');
      const body = parseJsonBody(raw);

      const globalOk = config.META_APP_SECRET ? verifyMetaSignature(raw, signature, [config.META_APP_SECRET]) : false;
      // Each item goes to its phone_number_id's channel only when the body was signed with
      // that channel's app secret or the global one; anything else is unroutable.
      const routes = new Map<string, RoutedChannel | null>();
      let ownSecretOk = false;
      for (const key of channelKeys(body)) {
        const routed = await ingest.directory.byExternalId('meta', key);
        const own = routed?.channel.credentials.appSecret;
        const ok = own ? verifyMetaSignature(raw, signature, [own]) : false;
        ownSecretOk ||= ok;
        routes.set(key, routed && (ok || globalOk) ? routed : null);
      }
      // Fields without a number (account_update, template status…): authentic when signed by
      // the global secret or any channel's app secret; filed under that channel's tenant.
      let signer: RoutedChannel | undefined;
      if (routes.size === 0 && !globalOk) {
        signer = await findSigner(ingest, raw, signature);
        ownSecretOk = Boolean(signer);
      }
      if (!globalOk && !ownSecretOk) throw unauthorized('invalid X-Hub-Signature-256');

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
