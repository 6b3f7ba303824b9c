/**
 * LancePilot webhooks. The format is undocumented, so: the per-channel token (header,
 * `?token=` or bearer) both authenticates and routes the post, the raw body is always
 * stored, and fields are read through the channel's mapping (settings.lancepilotMapping,
 * defaults in src/ingest/parse/lancepilot.ts): a captured real sample is supported by
 * configuration, not a release. The channel is found by the SHA-256 of the presented token
 * through an indexed column (one query for all presented tokens; unknown ones remembered
 * for CHANNEL_MISS_CACHE), and the hashes are compared in constant time.
 */
import { Router } from 'express';
import type { Config } from '../../config';
import { channelForPresentedSecret, presentedCredentials } from '../../ingest/auth';
import { describeParseError, lancePilotMappingSchema, parseLancePilot } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

export function lancePilotWebhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  const { config, ingest } = deps;

  router.post(['/webhooks/lancepilot', '/webhooks/lancepilot/:account'], async (req, res, next) => {
    try {
      const presented = presentedCredentials(req);
      const account = typeof req.params.account === 'string' ? req.params.account : undefined;
      const candidates =
        presented.tokens.length > 0
          ? await ingest.directory.byCredential('lancepilot', 'webhookSecret', presented.tokens, { missTtlMs: config.CHANNEL_MISS_CACHE })
          : [];
      const routed = channelForPresentedSecret(candidates, presented, (c) => !account || c.channel.externalId === account);
      if (!routed) throw unauthorized('missing or wrong LancePilot webhook token');
      const raw = rawBody(req);
      const body = parseJsonBody(raw);
      const rawText = raw.toString('utf8');
      let parsed;
      try {
        const mapping = lancePilotMappingSchema.partial().parse(routed.channel.settings.lancepilotMapping ?? {});
        parsed = parseLancePilot(body, mapping);
      } catch (err) {
        const outcome = await ingest.accept({
          provider: 'lancepilot',
          rawBody: rawText,
          eventType: null,
          items: [],
          parseError: describeParseError(err),
          requestChannel: routed,
        });
        acknowledge(res, outcome);
        return;
      }
      // The token is the authority: every item belongs to its channel.
      const items = parsed.items.map((item) => ({ routed: routed, channelKey: routed.channel.externalId, event: item.event }));
      const outcome = await ingest.accept({ provider: 'lancepilot', rawBody: rawText, eventType: parsed.eventType, items, requestChannel: routed });
      acknowledge(res, outcome);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
