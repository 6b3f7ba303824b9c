/**
 * LancePilot webhooks. The format is undocumented, so: the per-channel token (header,
 * `?token=` or bearer) both authenticates and routes the post, the raw body is always
 * stored, and fields are read through the channel's mapping (settings.lancepilotMapping,
 * defaults in src/ingest/parse/lancepilot.ts): a captured real sample is supported by
 * configuration, not a release.
 */
import { Router } from 'express';
import { presentedCredentials } from '../../ingest/auth';
import type { RoutedChannel } from '../../ingest/channelDirectory';
import { describeParseError, lancePilotMappingSchema, parseLancePilot } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

export function lancePilotWebhookRouter(deps: { ingest: Ingest }): Router {
  const router = Router();
  const { ingest } = deps;

  router.post(['/webhooks/lancepilot', '/webhooks/lancepilot/:account'], async (req, res, next) => {
    try {
      const presented = presentedCredentials(req);
      let routed: RoutedChannel | undefined;
      for (const token of presented.tokens) {
        routed = await ingest.directory.byCredential('lancepilot', 'webhookSecret', token);
        if (routed) break;
      }
      const account = typeof req.params.account === 'string' ? req.params.account : undefined;
      if (!routed || (account && routed.channel.externalId !== account)) {
        throw unauthorized('missing or wrong LancePilot webhook token');
      }
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
