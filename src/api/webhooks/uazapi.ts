/**
 * Uazapi webhooks (`/webhooks/uazapi`, and `/webhooks/uazapi/<event>[/<type>]` when the
 * webhook has `addUrlEvents`/`addUrlTypesMessages` on). Uazapi signs nothing; every body
 * carries the instance `token` (providers.md §3.2), which is the channel's webhook secret
 * (src/services/channels.ts). The token both authenticates and routes: the channel is found by
 * its SHA-256 through an indexed column (unknown tokens remembered for CHANNEL_MISS_CACHE, so
 * a forged flood costs one query per token per that time) and compared in constant time,
 * before the body is parsed into events. A secret of the channel's own may also come as a
 * header or `?token=` (a webhook URL can carry one). The token is not stored with the event.
 */
import { Router } from 'express';
import type { Config } from '../../config';
import { channelForPresentedSecret, presentedCredentials } from '../../ingest/auth';
import { describeParseError, parseUazapi } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

/** Longer than any token Uazapi issues (a UUID): a longer one is not looked up. */
const MAX_TOKEN_CHARS = 200;

export function uazapiWebhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  const { config, ingest } = deps;

  router.post(['/webhooks/uazapi', '/webhooks/uazapi/:event', '/webhooks/uazapi/:event/:messageType'], async (req, res, next) => {
    try {
      const raw = rawBody(req);
      const body = parseJsonBody(raw) as Record<string, unknown> | null;
      const presented = presentedCredentials(req);
      const bodyToken = typeof body?.token === 'string' ? body.token.trim() : '';
      const tokens = [...(bodyToken ? [bodyToken] : []), ...presented.tokens].filter((t) => t !== '' && t.length <= MAX_TOKEN_CHARS);
      const candidates = tokens.length > 0 ? await ingest.directory.byCredential('uazapi', 'webhookSecret', tokens, { missTtlMs: config.CHANNEL_MISS_CACHE }) : [];
      const routed = channelForPresentedSecret(candidates, { tokens });
      if (!routed || !body || typeof body !== 'object' || Array.isArray(body)) throw unauthorized('missing or wrong Uazapi instance token');

      const rawText = bodyToken ? JSON.stringify({ ...body, token: '[removed]' }) : raw.toString('utf8');
      let parsed;
      try {
        parsed = parseUazapi(body);
      } catch (err) {
        const outcome = await ingest.accept({
          provider: 'uazapi',
          rawBody: rawText,
          eventType: typeof body.EventType === 'string' ? body.EventType : null,
          items: [],
          parseError: describeParseError(err),
          requestChannel: routed,
        });
        acknowledge(res, outcome);
        return;
      }
      // The token is the authority: every item belongs to its channel.
      const items = parsed.items.map((item) => ({ routed, channelKey: routed.channel.externalId, event: item.event }));
      const outcome = await ingest.accept({ provider: 'uazapi', rawBody: rawText, eventType: parsed.eventType, items, requestChannel: routed });
      acknowledge(res, outcome);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
