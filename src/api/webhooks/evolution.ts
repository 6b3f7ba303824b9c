/**
 * Evolution API webhooks: the global webhook (`/webhooks/evolution`) and "webhook by
 * events" mode (`/webhooks/evolution/messages-upsert`…). The channel is the payload's
 * `instance`. Evolution does not sign bodies: the channel's webhook secret must come as a
 * header, `?token=` or a `jwt_key` bearer, or the body's `apikey` must be the instance
 * token; the global secret (EVOLUTION_WEBHOOK_SECRET) is accepted for every instance.
 */
import { openCredentials } from '../../db/credentials';
import { Router } from 'express';
import type { Config } from '../../config';
import { matchesAnySecret, presentedCredentials } from '../../ingest/auth';
import { describeParseError, eventFromPathSuffix, parseEvolution } from '../../ingest/parse';
import type { Ingest } from '../../ingest/service';
import { safeEqual } from '../../ingest/verify';
import { acknowledge, parseJsonBody, rawBody, unauthorized } from './common';

export function evolutionWebhookRouter(deps: { config: Config; ingest: Ingest }): Router {
  const router = Router();
  const { config, ingest } = deps;

  router.post(['/webhooks/evolution', '/webhooks/evolution/:event'], async (req, res, next) => {
    try {
      const raw = rawBody(req);
      const body = parseJsonBody(raw) as Record<string, unknown>;
      const instance = typeof body?.instance === 'string' ? body.instance : undefined;
      const routed = instance ? await ingest.directory.byExternalId('evolution', instance, { missTtlMs: config.CHANNEL_MISS_CACHE }) : undefined;
      const presented = presentedCredentials(req);
      const bodyApiKey = typeof body?.apikey === 'string' ? body.apikey : undefined;
      const credentials = routed ? openCredentials(routed.channel.credentials) : undefined;
      const instanceToken = credentials?.apiKey;
      const channelOk =
        !!credentials &&
        (matchesAnySecret(presented, [credentials.webhookSecret]) || (!!bodyApiKey && !!instanceToken && safeEqual(bodyApiKey, instanceToken)));
      const globalOk = matchesAnySecret(presented, [config.EVOLUTION_WEBHOOK_SECRET]);
      if (!channelOk && !globalOk) throw unauthorized('missing or wrong webhook secret for this instance');

      // By-events mode: the event name is in the path; the body normally has it too.
      const suffix = typeof req.params.event === 'string' ? req.params.event : undefined;
      if (suffix && typeof body.event !== 'string') {
        const fromPath = eventFromPathSuffix(suffix);
        if (fromPath) body.event = fromPath;
      }
      // Evolution puts the instance's API key in every body: it is not stored with the event.
      const rawText = typeof body.apikey === 'string' && body.apikey !== '' ? JSON.stringify({ ...body, apikey: '[removed]' }) : raw.toString('utf8');
      let parsed;
      try {
        parsed = parseEvolution(body);
      } catch (err) {
        const outcome = await ingest.accept({
          provider: 'evolution',
          rawBody: rawText,
          eventType: typeof body.event === 'string' ? body.event : null,
          items: [],
          parseError: describeParseError(err),
          requestChannel: routed ?? null,
        });
        acknowledge(res, outcome);
        return;
      }
      const items = parsed.items.map((item) => ({
        routed: routed && item.channelKey === routed.channel.externalId ? routed : null,
        channelKey: item.channelKey,
        event: item.event,
      }));
      const outcome = await ingest.accept({ provider: 'evolution', rawBody: rawText, eventType: parsed.eventType, items });
      acknowledge(res, outcome);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
