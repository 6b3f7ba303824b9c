/**
 * GET /openapi.json: an OpenAPI 3.1 document generated from the zod schemas the routes
 * validate with, so the document and the validation cannot drift apart.
 */
import { z } from 'zod';
import { funnelSchema } from '../domain/funnel';
import { envelopeSchema as evolutionEnvelope } from '../ingest/parse/evolution';
import { envelopeSchema as uazapiEnvelope } from '../ingest/parse/uazapi';
import { envelopeSchema as metaEnvelope } from '../ingest/parse/meta';
import { createKeyBody, createTenantBody } from './admin';
import { funnelRunsQuerySchema } from './funnels';
import { createCampaignBodySchema, listCampaignsQuerySchema, listRecipientsQuerySchema } from './campaigns';
import { createWarmupBodySchema, listWarmupsQuerySchema } from './warmups';
import { createChannelSchema, statesQuerySchema } from '../services/channelLifecycle';
import { contactPatchSchema, contactsQuerySchema, optOutsQuerySchema } from './audience';
import { funnelMetricsQuerySchema, metricsQuerySchema } from './metrics';
import { rescheduleBodySchema, scheduleMessageBodySchema, sendMessageBodySchema } from './sending';
import { tenantSettingsInput } from '../services/tenantSettings';
import { updateChannelSchema } from '../services/channels';

type Json = Record<string, unknown>;

function schema(s: z.ZodType): Json {
  const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Json;
  delete json.$schema;
  return json;
}

function queryParams(s: z.ZodObject): Json[] {
  const json = schema(s) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, prop]) => ({ name, in: 'query', required: json.required?.includes(name) ?? false, schema: prop }));
}

const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: {},
        requestId: { type: 'string' },
      },
      required: ['code', 'message', 'requestId'],
    },
  },
};

const errors = (...codes: number[]): Json =>
  Object.fromEntries(codes.map((code) => [String(code), { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
const ok = (description: string, body?: Json): Json => ({ description, ...(body ? { content: { 'application/json': { schema: body } } } : {}) });
const jsonBody = (s: z.ZodType): Json => ({ required: true, content: { 'application/json': { schema: schema(s) } } });
const idParam = (name = 'id'): Json => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const tenantScoped = (op: Json): Json => ({ security: [{ apiKey: [] }], ...op, responses: { ...(op.responses as Json), ...errors(401, 429) } });

let cached: Json | undefined;

export function openApiDocument(): Json {
  cached ??= build();
  return cached;
}

function build(): Json {
  const webhook = (summary: string, body: Json): Json => ({
    post: { tags: ['webhooks'], summary, requestBody: { required: true, content: { 'application/json': { schema: body } } }, responses: { '200': ok('stored (also for rejected or unroutable events)'), ...errors(400, 401, 413, 429) } },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'zapflow', version: '0.1.0', description: 'WhatsApp sales automation on Temporal: webhooks, funnels, sends.' },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key (also accepted as X-Api-Key)' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' },
      },
      schemas: { Error: errorBody, Funnel: schema(funnelSchema) },
    },
    paths: {
      '/health': { get: { summary: 'database and Temporal checks with latency', responses: { '200': ok('healthy'), '503': ok('unhealthy, naming the failed check') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': ok('text exposition format') } } },
      '/webhooks/meta': {
        get: {
          tags: ['webhooks'],
          summary: "Meta's verification handshake",
          parameters: ['hub.mode', 'hub.verify_token', 'hub.challenge'].map((name) => ({ name, in: 'query', required: true, schema: { type: 'string' } })),
          responses: { '200': ok('the challenge, as plain text'), '403': ok('wrong token') },
        },
        ...webhook('Meta WhatsApp Cloud API events (X-Hub-Signature-256 required)', schema(metaEnvelope)),
      },
      '/webhooks/evolution': webhook('Evolution API events (channel secret as header, ?token= or jwt_key bearer)', schema(evolutionEnvelope)),
      '/webhooks/evolution/{event}': { ...webhook('Evolution "webhook by events" mode', schema(evolutionEnvelope)), parameters: [idParam('event')] },
      '/webhooks/lancepilot': webhook('LancePilot events (channel token as header or ?token=); mapped by channel configuration', { type: 'object' }),
      '/webhooks/uazapi': webhook('Uazapi events (messages, messages_update, connection); authenticated and routed by the instance token in the body', schema(uazapiEnvelope)),
      '/api/funnels': {
        get: tenantScoped({ tags: ['funnels'], summary: 'list funnels', responses: { '200': ok('funnels') } }),
        post: tenantScoped({ tags: ['funnels'], summary: 'create a funnel', requestBody: jsonBody(funnelSchema), responses: { '201': ok('created'), ...errors(400) } }),
      },
      '/api/funnels/{id}': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['funnels'], summary: 'get a funnel', responses: { '200': ok('funnel'), ...errors(404) } }),
        put: tenantScoped({ tags: ['funnels'], summary: 'update (a new version; runs in flight keep theirs)', requestBody: jsonBody(funnelSchema), responses: { '200': ok('updated'), ...errors(400, 404) } }),
        delete: tenantScoped({ tags: ['funnels'], summary: 'delete (only without active runs)', responses: { '204': ok('deleted'), ...errors(404, 409) } }),
      },
      '/api/funnels/{id}/activate': { parameters: [idParam()], post: tenantScoped({ tags: ['funnels'], summary: 'activate', responses: { '200': ok('funnel'), ...errors(404) } }) },
      '/api/funnels/{id}/deactivate': { parameters: [idParam()], post: tenantScoped({ tags: ['funnels'], summary: 'deactivate', responses: { '200': ok('funnel'), ...errors(404) } }) },
      '/api/metrics': {
        get: tenantScoped({
          tags: ['metrics'],
          summary: 'rolled-up counts and first-response time per local hour or day (and per channel, funnel or campaign), with totals',
          parameters: queryParams(metricsQuerySchema),
          responses: { '200': ok('rows and totals'), ...errors(400) },
        }),
      },
      '/api/funnels/{id}/metrics': {
        parameters: [idParam()],
        get: tenantScoped({
          tags: ['metrics'],
          summary: "a funnel's runs and step-by-step conversion over local days",
          parameters: queryParams(funnelMetricsQuerySchema),
          responses: { '200': ok('runs and steps'), ...errors(400, 404) },
        }),
      },
      '/api/funnel-runs': { get: tenantScoped({ tags: ['funnels'], summary: 'list runs', parameters: queryParams(funnelRunsQuerySchema), responses: { '200': ok('runs'), ...errors(400) } }) },
      '/api/funnel-runs/{id}': { parameters: [idParam()], get: tenantScoped({ tags: ['funnels'], summary: 'a run and its progress', responses: { '200': ok('run'), ...errors(404) } }) },
      '/api/funnel-runs/{id}/cancel': { parameters: [idParam()], post: tenantScoped({ tags: ['funnels'], summary: 'cancel a run', responses: { '202': ok('cancelling'), ...errors(404, 409) } }) },
      '/api/whatsapp/send-message': {
        post: tenantScoped({ tags: ['sending'], summary: 'send now (Idempotency-Key header supported)', requestBody: jsonBody(sendMessageBodySchema), responses: { '200': ok('queued'), ...errors(400, 404) } }),
      },
      '/api/whatsapp/schedule-message': {
        post: tenantScoped({ tags: ['sending'], summary: 'schedule a send (future, at most 90 days ahead)', requestBody: jsonBody(scheduleMessageBodySchema), responses: { '202': ok('scheduled'), ...errors(400, 404) } }),
      },
      '/api/whatsapp/messages/{id}': { parameters: [idParam()], get: tenantScoped({ tags: ['sending'], summary: 'a message and its status history', responses: { '200': ok('message'), ...errors(404) } }) },
      '/api/whatsapp/schedules/{id}': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['sending'], summary: 'a schedule', responses: { '200': ok('schedule'), ...errors(404) } }),
        patch: tenantScoped({ tags: ['sending'], summary: 'reschedule', requestBody: jsonBody(rescheduleBodySchema), responses: { '200': ok('rescheduled'), ...errors(400, 404, 409) } }),
        delete: tenantScoped({ tags: ['sending'], summary: 'cancel (409 once sent)', responses: { '200': ok('cancelled'), ...errors(404, 409) } }),
      },
      '/api/contacts': {
        get: tenantScoped({
          tags: ['contacts'],
          summary: 'contacts, most recent activity first: search by phone prefix or name words, filter by tag, opt-out and activity; cursor pages',
          parameters: queryParams(contactsQuerySchema),
          responses: { '200': ok('{contacts, nextCursor}'), ...errors(400) },
        }),
      },
      '/api/contacts/import': {
        post: tenantScoped({
          tags: ['contacts'],
          summary:
            'import a CSV (header row with a phone column; name, tags; every other column a {{variable}}): up to CONTACT_IMPORT_SYNC_ROWS rows answered when done, bigger files become a job',
          requestBody: {
            required: true,
            content: {
              'text/csv': { schema: { type: 'string' } },
              'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } }, required: ['file'] } },
            },
          },
          responses: { '200': ok('the finished import: counts and errors [{line, reason}]'), '202': ok('{importId, status: running}: follow it at /api/contacts/imports/{id}'), ...errors(400, 413) },
        }),
      },
      '/api/contacts/imports/{id}': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['contacts'], summary: 'an import: running, completed (counts, errors) or failed (why)', responses: { '200': ok('import'), ...errors(404) } }),
      },
      '/api/contacts/{phone}': {
        parameters: [idParam('phone')],
        get: tenantScoped({ tags: ['contacts'], summary: 'a contact: profile, tags, variables, opt-out and re-subscription, active funnel runs', responses: { '200': ok('contact'), ...errors(404) } }),
        patch: tenantScoped({
          tags: ['contacts'],
          summary: 'change name, tags (replace, or addTags/removeTags) and variables (merged; null removes one)',
          requestBody: jsonBody(contactPatchSchema),
          responses: { '200': ok('contact'), ...errors(400, 404) },
        }),
      },
      '/api/contacts/{phone}/opt-out': {
        parameters: [idParam('phone')],
        delete: tenantScoped({ tags: ['contacts'], summary: 're-subscribe an opted-out contact (recorded with the API key and the time)', responses: { '200': ok('contact'), ...errors(404, 409) } }),
      },
      '/api/opt-outs': {
        get: tenantScoped({ tags: ['contacts'], summary: 'opted-out contacts, newest first; cursor pages', parameters: queryParams(optOutsQuerySchema), responses: { '200': ok('{optOuts, nextCursor}'), ...errors(400) } }),
      },
      '/api/campaigns': {
        get: tenantScoped({ tags: ['campaigns'], summary: 'campaigns, newest first; cursor pages', parameters: queryParams(listCampaignsQuerySchema), responses: { '200': ok('{campaigns, nextCursor}'), ...errors(400) } }),
        post: tenantScoped({
          tags: ['campaigns'],
          summary:
            'create a campaign: channels rotated, a message with {{variables}} per recipient, an audience ({tags}, {importId} or {phones}), start, windows and days in the tenant timezone, sliding quotas, pacing; refused with the reason when it could send nothing (Idempotency-Key header supported)',
          requestBody: jsonBody(createCampaignBodySchema),
          responses: { '201': ok('the campaign, its recipients resolved'), '200': ok('the campaign an earlier request with this Idempotency-Key created'), ...errors(400, 503) },
        }),
      },
      '/api/campaigns/{id}': {
        parameters: [idParam()],
        get: tenantScoped({
          tags: ['campaigns'],
          summary: 'state (scheduled, running, waiting for window/quota/channel until, paused, completed, cancelled) and counts: queued, sent, delivered, read, replied, clicked, failed, skipped by reason',
          responses: { '200': ok('campaign'), ...errors(404) },
        }),
      },
      '/api/campaigns/{id}/recipients': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['campaigns'], summary: 'recipients in order with status and reason; cursor pages', parameters: queryParams(listRecipientsQuerySchema), responses: { '200': ok('{recipients, nextCursor}'), ...errors(400, 404) } }),
      },
      ...Object.fromEntries(
        (
          [
            ['pause', 'pause: answered once no send of the campaign is in flight; none starts after the answer'],
            ['resume', 'resume a paused campaign'],
            ['cancel', 'cancel: answered once no send of the campaign is in flight; none starts after the answer'],
          ] as const
        ).map(([action, summary]) => [
          `/api/campaigns/{id}/${action}`,
          { parameters: [idParam()], post: tenantScoped({ tags: ['campaigns'], summary, responses: { '200': ok('campaign'), ...errors(404, 409, 503) } }) },
        ]),
      ),
      '/api/channels': {
        get: tenantScoped({ tags: ['channels'], summary: "the tenant's numbers (every provider): state, phone number, last state change, quotas, quality; never credentials", responses: { '200': ok('{channels}') } }),
        post: tenantScoped({
          tags: ['channels'],
          summary: 'connect a number: creates an Evolution instance (name unique across tenants) whose webhook points here; then GET …/qr',
          requestBody: jsonBody(createChannelSchema),
          responses: { '201': ok('{id, instanceName, state}'), ...errors(400, 502, 503) },
        }),
      },
      '/api/channels/{id}': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['channels'], summary: 'one number', responses: { '200': ok('channel'), ...errors(404) } }),
        delete: tenantScoped({ tags: ['channels'], summary: 'log out and delete the instance on Evolution, then the channel (409 while a campaign uses it)', responses: { '200': ok('{id, deleted}'), ...errors(404, 409, 502) } }),
      },
      '/api/channels/{id}/qr': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['channels'], summary: 'the QR to scan ({qr: data URL, code, pairingCode?, expiresAt}); a fresh one once the last expired (409 when connected)', responses: { '200': ok('qr'), ...errors(404, 409, 502) } }),
      },
      '/api/channels/{id}/states': {
        parameters: [idParam()],
        get: tenantScoped({ tags: ['channels'], summary: 'state history, newest first; with `from` (and `to`), the time spent down in that range', parameters: queryParams(statesQuerySchema), responses: { '200': ok('{changes, downtime?}'), ...errors(400, 404) } }),
      },
      ...Object.fromEntries(
        (['restart', 'logout'] as const).map((action) => [
          `/api/channels/{id}/${action}`,
          { parameters: [idParam()], post: tenantScoped({ tags: ['channels'], summary: `${action} the number on Evolution`, responses: { '200': ok('channel'), ...errors(404, 409, 502) } }) },
        ]),
      ),
      '/api/warmups': {
        get: tenantScoped({ tags: ['warmups'], summary: 'warm-ups, newest first, with their progress; cursor pages', parameters: queryParams(listWarmupsQuerySchema), responses: { '200': ok('{warmups, nextCursor}'), ...errors(400) } }),
        post: tenantScoped({
          tags: ['warmups'],
          summary:
            "warm up two or more of the tenant's own numbers: rounds of messages between them inside windows (tenant timezone), ramping rounds per day from start to cap, a delay between rounds, turns per round, phrases or topics (AI when asked and configured)",
          requestBody: jsonBody(createWarmupBodySchema),
          responses: { '201': ok('the warm-up'), ...errors(400, 503) },
        }),
      },
      '/api/warmups/{id}': {
        parameters: [idParam()],
        get: tenantScoped({
          tags: ['warmups'],
          summary: 'state (running, paused, cancelled) and progress per local day: rounds planned, done, failed, skipped, messages exchanged, and why rounds were skipped',
          responses: { '200': ok('warm-up'), ...errors(404) },
        }),
      },
      ...Object.fromEntries(
        (
          [
            ['pause', 'pause: no round starts after the answer (one in flight stops before its next message)'],
            ['resume', 'resume a paused warm-up'],
            ['cancel', 'cancel the warm-up for good'],
          ] as const
        ).map(([action, summary]) => [
          `/api/warmups/{id}/${action}`,
          { parameters: [idParam()], post: tenantScoped({ tags: ['warmups'], summary, responses: { '200': ok('warm-up'), ...errors(404, 409, 503) } }) },
        ]),
      ),
      '/api/settings': {
        get: tenantScoped({ tags: ['settings'], summary: "the tenant's settings, defaults filled in", responses: { '200': ok('settings') } }),
        patch: tenantScoped({
          tags: ['settings'],
          summary: 'change timezone, admin contact, opt-out keywords and confirmation, daily send quota (null: back to the default)',
          requestBody: jsonBody(tenantSettingsInput),
          responses: { '200': ok('settings'), ...errors(400) },
        }),
      },
      '/admin/tenants': {
        get: { tags: ['admin'], security: [{ adminKey: [] }], summary: 'list tenants', responses: { '200': ok('tenants'), ...errors(401) } },
        post: { tags: ['admin'], security: [{ adminKey: [] }], summary: 'create a tenant (its API key is shown once)', requestBody: jsonBody(createTenantBody), responses: { '201': ok('created'), ...errors(400, 401) } },
      },
      '/admin/tenants/{id}/api-keys': {
        parameters: [idParam()],
        post: { tags: ['admin'], security: [{ adminKey: [] }], summary: 'a new API key (shown once)', requestBody: jsonBody(createKeyBody), responses: { '201': ok('created'), ...errors(400, 401, 404) } },
        get: { tags: ['admin'], security: [{ adminKey: [] }], summary: "a tenant's keys (never the keys themselves)", responses: { '200': ok('keys'), ...errors(401) } },
      },
      '/admin/tenants/{id}/channels': {
        parameters: [idParam()],
        get: { tags: ['admin'], security: [{ adminKey: [] }], summary: "a tenant's channels (which credentials are set, never their values)", responses: { '200': ok('channels'), ...errors(401) } },
        post: { tags: ['admin'], security: [{ adminKey: [] }], summary: 'add a channel', responses: { '201': ok('created'), ...errors(400, 401, 409) } },
      },
      '/admin/channels/{id}': {
        parameters: [idParam()],
        patch: {
          tags: ['admin'],
          security: [{ adminKey: [] }],
          summary: 'change credentials, groups, the LancePilot field mapping, quotas and pacing (settings merged; null removes)',
          requestBody: jsonBody(updateChannelSchema),
          responses: { '200': ok('channel'), ...errors(400, 401, 404) },
        },
      },
      '/admin/api-keys/{id}': { parameters: [idParam()], delete: { tags: ['admin'], security: [{ adminKey: [] }], summary: 'revoke a key', responses: { '204': ok('revoked'), ...errors(401, 404) } } },
    },
  };
}
