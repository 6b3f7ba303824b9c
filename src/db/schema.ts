import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

// The values columns take (statuses, providers) and the shapes of JSON columns live in
// src/domain/records.ts, so every layer reads them there and not from the schema.
import {
  AI_INTERACTION_KINDS,
  AI_INTERACTION_STATUSES,
  ATTEMPT_OUTCOMES,
  FUNNEL_RUN_STATUSES,
  MESSAGE_STATUSES,
  PROVIDERS,
  SCHEDULE_STATUSES,
  WEBHOOK_EVENT_STATUSES,
  CONTACT_IMPORT_STATUSES,
  CAMPAIGN_STATUSES,
  CAMPAIGN_RECIPIENT_STATUSES,
  type ChannelSettings,
  type TenantSettings,
} from '../domain/records';
import type { StoredCredentials } from './credentials';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  timezone: text('timezone').notNull().default('America/Sao_Paulo'),
  settings: jsonb('settings').$type<TenantSettings>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** API keys are shown once and stored as a SHA-256 hash; `prefix` identifies a key in lists. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default('default'),
    prefix: text('prefix').notNull(),
    hash: text('hash').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_hash_uq').on(t.hash), index('api_keys_tenant_idx').on(t.tenantId)],
);

/** A WhatsApp number of a tenant, reached through one provider. */
export const channels = pgTable(
  'channels',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    provider: text('provider', { enum: PROVIDERS }).notNull(),
    /** Evolution instance name, Meta phone_number_id, LancePilot account/workspace. */
    externalId: text('external_id').notNull(),
    name: text('name'),
    baseUrl: text('base_url'),
    /** Sealed (AES-256-GCM, src/db/credentials.ts); plaintext only in rows from before sealing, until migrate seals them. */
    credentials: jsonb('credentials').$type<StoredCredentials>().notNull().default({}),
    /**
     * SHA-256 (hex) of credentials.webhookSecret and credentials.verifyToken, written with
     * them (src/db/queries/channels.ts): webhooks find their channel by the hash of the
     * presented token through an index, never by reading credential values in SQL.
     */
    webhookSecretHash: text('webhook_secret_hash'),
    verifyTokenHash: text('verify_token_hash'),
    settings: jsonb('settings').$type<ChannelSettings>().notNull().default({}),
    connectionState: text('connection_state').notNull().default('unknown'),
    connectionUpdatedAt: timestamp('connection_updated_at', { withTimezone: true }),
    qrCode: jsonb('qr_code').$type<{ code?: string; base64?: string; pairingCode?: string | null; at: string }>(),
    /** The number itself once connected (Evolution `wuid`, Meta display number), digits only. */
    phoneNumber: text('phone_number'),
    /** Meta: `GREEN`, `YELLOW`, `RED`, `UNKNOWN` (phone_number_quality_update / the Graph API). */
    qualityRating: text('quality_rating'),
    /** Meta: the messaging limit tier (`TIER_1K`, `TIER_10K`, … `TIER_UNLIMITED`). */
    messagingLimit: text('messaging_limit'),
    /** Since when the number has been down (null while connected): the channel workflow's grace counts from here. */
    downSince: timestamp('down_since', { withTimezone: true }),
    /** When the tenant's admin was told about the current outage or quality drop (null: not told). */
    alertedAt: timestamp('alerted_at', { withTimezone: true }),
    /** When its watching workflow (`channel:<id>`) was started: worker starts only start the rest. */
    watchedAt: timestamp('watched_at', { withTimezone: true }),
    /**
     * Deleted through the API (`DELETE /api/channels/:id`): the row stays so the number's
     * messages and state history are kept, but nothing finds it any more (every lookup asks
     * for live rows) and its external id may be used again.
     */
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('channels_provider_external_uq').on(t.provider, t.externalId).where(sql`${t.deletedAt} is null`),
    index('channels_tenant_idx').on(t.tenantId),
    index('channels_webhook_secret_hash_idx').on(t.provider, t.webhookSecretHash).where(sql`${t.webhookSecretHash} is not null`),
    index('channels_verify_token_hash_idx').on(t.provider, t.verifyTokenHash).where(sql`${t.verifyTokenHash} is not null`),
  ],
);

/**
 * Accented letters (either case: lower() leaves non-ASCII letters alone under a C locale) and
 * their plain forms: names and search terms both go through translate(lower(…)), so
 * "conceicao" and "CONCEIÇÃO" find "Conceição".
 */
export const NAME_ACCENTED = 'áàâãäéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝŸ';
export const NAME_PLAIN = 'aaaaaeeeeiiiiooooouuuucnyyaaaaaeeeeiiiiooooouuuucnyy';

/** A text-search vector column (stored, generated). */
const searchVector = customType<{ data: string }>({
  dataType() {
    return 'tsvector';
  },
});

export const contacts = pgTable(
  'contacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** Canonical phone digits (E.164 without +), or `lid:…` / `uid:…` when no phone is known. */
    phone: text('phone').notNull(),
    name: text('name'),
    optedOutAt: timestamp('opted_out_at', { withTimezone: true }),
    /** The message that opted the contact out: its confirmation is sent once, retries included. */
    optOutMessageId: text('opt_out_message_id'),
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    variables: jsonb('variables').$type<Record<string, string>>().notNull().default({}),
    lastInboundAt: timestamp('last_inbound_at', { withTimezone: true }),
    lastOutboundAt: timestamp('last_outbound_at', { withTimezone: true }),
    /** Automation paused (human handover, bot detected) until this time. */
    pausedUntil: timestamp('paused_until', { withTimezone: true }),
    /**
     * Until when the contact's workflow may be open (the dispatcher signalled it; its idle
     * timeout from then). While it may be, every message of the contact goes to it, never
     * to the click fast path: that workflow serialises the contact (an opt-out it is still
     * handling, the runs it believes wait).
     */
    contactWorkflowUntil: timestamp('contact_workflow_until', { withTimezone: true }),
    pauseReason: text('pause_reason'),
    /** A re-subscription after an opt-out (`DELETE /api/contacts/:phone/opt-out`): when, and who asked. */
    resubscribedAt: timestamp('resubscribed_at', { withTimezone: true }),
    resubscribedBy: text('resubscribed_by'),
    /** The contact's last message either way (lists sort by it), kept by PostgreSQL. */
    lastActivityAt: timestamp('last_activity_at', { withTimezone: true }).generatedAlwaysAs(sql`greatest(last_inbound_at, last_outbound_at)`),
    /**
     * The name's words, lower case, without accents (simple dictionary, no stemming), kept by
     * PostgreSQL: name search reads it through contacts_name_search_idx, and a list that walks
     * the activity index filters on it without recomputing anything per row.
     */
    nameSearch: searchVector('name_search').generatedAlwaysAs(
      sql.raw(`to_tsvector('simple'::regconfig, translate(lower(coalesce(name, '')), '${NAME_ACCENTED}', '${NAME_PLAIN}'))`),
    ),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('contacts_tenant_phone_uq').on(t.tenantId, t.phone),
    // Contact lists: newest activity first, cursor (last_activity_at, id).
    index('contacts_tenant_activity_idx').on(t.tenantId, t.lastActivityAt.desc().nullsLast(), t.id),
    index('contacts_tags_idx').using('gin', t.tags),
    // Name search (GET /api/contacts?q=): word prefixes, case and accents ignored.
    index('contacts_name_search_idx').using('gin', t.nameSearch),
    // Opt-outs newest first (GET /api/opt-outs) and the daily digest's last day: only opted-out rows.
    index('contacts_tenant_opted_out_idx')
      .on(t.tenantId, t.optedOutAt.desc(), t.id)
      .where(sql`${t.optedOutAt} is not null`),
  ],
);

/** A CSV import of contacts (`POST /api/contacts/import`): its counts and the rows it refused. */
export const contactImports = pgTable(
  'contact_imports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    status: text('status', { enum: CONTACT_IMPORT_STATUSES }).notNull().default('running'),
    fileName: text('file_name'),
    /** Data rows read so far (the header not counted). */
    rows: integer('rows').notNull().default(0),
    imported: integer('imported').notNull().default(0),
    updated: integer('updated').notNull().default(0),
    /** Bad rows: `{line, reason}` with the file's line (header = 1); the first 1,000 kept. */
    errors: jsonb('errors').$type<Array<{ line: number; reason: string }>>().notNull().default([]),
    errorCount: integer('error_count').notNull().default(0),
    /** Why the whole import failed (unreadable file, interrupted). */
    failure: text('failure'),
    /** Rows whose phone an earlier row of the same file already had (merged into it: the later row wins). */
    duplicates: integer('duplicates').notNull().default(0),
    /**
     * Touched by the process running the import while it runs: a `running` import whose
     * heartbeat is older than CONTACT_IMPORT_STALE_AFTER lost its process and is marked failed.
     */
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('contact_imports_tenant_idx').on(t.tenantId, t.createdAt)],
);

/** Which contacts an import brought (a campaign's audience may be `{importId}`). */
export const contactImportMembers = pgTable(
  'contact_import_members',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => contactImports.id, { onDelete: 'cascade' }),
    contactId: uuid('contact_id')
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.importId, t.contactId] })],
);

/** Every authenticated webhook POST, raw, before anything else happens. */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider', { enum: PROVIDERS }).notNull(),
    tenantId: uuid('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id').references(() => channels.id, { onDelete: 'set null' }),
    /** Channel key from the payload (kept for unroutable events). */
    channelKey: text('channel_key'),
    eventType: text('event_type'),
    status: text('status', { enum: WEBHOOK_EVENT_STATUSES }).notNull(),
    rawBody: text('raw_body').notNull(),
    error: jsonb('error').$type<{ message: string; path?: string }>(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    processedAt: timestamp('processed_at', { withTimezone: true }),
  },
  (t) => [
    index('webhook_events_status_idx').on(t.status, t.receivedAt),
    // Retention clears raw bodies by age (src/db/queries/events.ts clearOldRawBodies): only rows
    // that still have one are in this index, so it holds RETENTION_RAW_BODIES of webhooks, not
    // every webhook ever, and a run never walks the bodies it cleared before.
    index('webhook_events_raw_body_idx').on(t.receivedAt).where(sql`${t.rawBody} <> ''`),
  ],
);

/** Inbound and outbound messages. Unique per (channel, provider message id): the dedupe key. */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    contactId: uuid('contact_id').references(() => contacts.id, { onDelete: 'set null' }),
    direction: text('direction', { enum: ['inbound', 'outbound'] }).notNull(),
    /** contact, zapflow (our automation/API), human (typed on the business phone), api (provider echo). */
    author: text('author', { enum: ['contact', 'zapflow', 'human', 'api'] }).notNull(),
    type: text('type').notNull(),
    body: text('body'),
    /** Normalised detail: button id/text, media, location… */
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    providerMessageId: text('provider_message_id'),
    /** Outbound: the sender's idempotency key (workflow id + step); a retry finds the row, never sends twice. */
    idempotencyKey: text('idempotency_key'),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    webhookEventId: integer('webhook_event_id'),
    /** Inbound: when the contact workflow took it; null while pending. */
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
    /**
     * Inbound: dispatches Temporal refused (not counting Temporal being down) since it was stored
     * or last retried, and the last refusal. At DISPATCH_MAX_ATTEMPTS it is dead (`dead_at`): the
     * dispatcher leaves it until `zapflow events retry` puts it back.
     */
    dispatchAttempts: integer('dispatch_attempts').notNull().default(0),
    dispatchError: text('dispatch_error'),
    deadAt: timestamp('dead_at', { withTimezone: true }),
    /** Group/broadcast messages are stored but trigger nothing (unless the channel allows groups). */
    triggersAutomation: boolean('triggers_automation').notNull().default(true),
    providerTimestamp: timestamp('provider_timestamp', { withTimezone: true }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    readAt: timestamp('read_at', { withTimezone: true }),
    failedAt: timestamp('failed_at', { withTimezone: true }),
    // Conversations: text derived by AI (voice-note transcript, image description) and the
    // asynchronous analysis of inbound texts.
    aiText: text('ai_text'),
    sentiment: real('sentiment'),
    emotion: text('emotion'),
    satisfaction: integer('satisfaction'),
    analysedAt: timestamp('analysed_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('messages_channel_provider_id_uq').on(t.channelId, t.providerMessageId),
    uniqueIndex('messages_idempotency_key_uq').on(t.idempotencyKey),
    index('messages_contact_idx').on(t.contactId, t.createdAt),
    // Exactly the dispatcher's predicate (contact messages and a person typing on the phone;
    // zapflow's own sends have triggers_automation false; dead letters left out), so its scan
    // stays an index scan.
    index('messages_undispatched_idx')
      .on(t.createdAt)
      .where(sql`${t.dispatchedAt} is null and ${t.triggersAutomation} and ${t.deadAt} is null`),
    // Dead letters, for /metrics: a handful of rows, never a scan of messages.
    index('messages_dead_idx').on(t.deadAt).where(sql`${t.deadAt} is not null`),
    // The dispatched mark asks whether an event still has other messages pending. Without this
    // the question was a scan of every pending message per mark: 110 ms a call with a 28,000
    // message backlog, half a core of PostgreSQL while webhooks arrived.
    index('messages_undispatched_event_idx')
      .on(t.webhookEventId)
      .where(sql`${t.dispatchedAt} is null and ${t.triggersAutomation}`),
  ],
);

/** Every status a provider reported, in arrival order; kept even when it precedes its message. */
export const messageStatusEvents = pgTable(
  'message_status_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    providerMessageId: text('provider_message_id').notNull(),
    status: text('status').notNull(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    /** Null while the message row it belongs to has not appeared yet. */
    appliedAt: timestamp('applied_at', { withTimezone: true }),
    webhookEventId: integer('webhook_event_id'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('message_status_events_uq').on(t.channelId, t.providerMessageId, t.status),
    // Retention deletes by age (RETENTION_STATUS_EVENTS).
    index('message_status_events_created_idx').on(t.createdAt),
    index('message_status_events_unapplied_idx')
      .on(t.channelId, t.providerMessageId)
      .where(sql`${t.appliedAt} is null`),
  ],
);

/** What the sandbox provider "sent": the embedded default's visible output. */
export const sandboxOutbox = pgTable('sandbox_outbox', {
  id: uuid('id').primaryKey().defaultRandom(),
  channelId: uuid('channel_id')
    .notNull()
    .references(() => channels.id, { onDelete: 'cascade' }),
  to: text('to').notNull(),
  idempotencyKey: text('idempotency_key').notNull().unique(),
  message: jsonb('message').$type<Record<string, unknown>>().notNull(),
  providerMessageId: text('provider_message_id').notNull(),
  createdAt: createdAt(),
});

// ─── Funnels ───────────────────────────────────────────────────────────────────────────

/** A tenant's funnel; its definition lives in versions (a run executes the version it started with). */
export const funnels = pgTable(
  'funnels',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    active: boolean('active').notNull().default(true),
    priority: integer('priority').notNull().default(0),
    currentVersion: integer('current_version').notNull().default(1),
    /** Denormalised from the current version for trigger lookups. */
    trigger: jsonb('trigger').$type<Record<string, unknown>>().notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('funnels_tenant_idx').on(t.tenantId)],
);

export const funnelVersions = pgTable(
  'funnel_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    funnelId: uuid('funnel_id')
      .notNull()
      .references(() => funnels.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    definition: jsonb('definition').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('funnel_versions_uq').on(t.funnelId, t.version)],
);

/** Mirrors each funnel run workflow; written only by activities. id = the run's workflow id. */
export const funnelRuns = pgTable(
  'funnel_runs',
  {
    id: text('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    funnelId: uuid('funnel_id')
      .notNull()
      .references(() => funnels.id, { onDelete: 'cascade' }),
    funnelVersion: integer('funnel_version').notNull(),
    contactKey: text('contact_key').notNull(),
    channelId: uuid('channel_id').references(() => channels.id, { onDelete: 'set null' }),
    triggerMessageId: text('trigger_message_id'),
    status: text('status', { enum: FUNNEL_RUN_STATUSES }).notNull(),
    currentStep: text('current_step'),
    stepIndex: integer('step_index'),
    stepCount: integer('step_count'),
    /** What a waiting run waits for (`reply`, `delay`…) and until when. */
    waitingFor: text('waiting_for'),
    waitingUntil: timestamp('waiting_until', { withTimezone: true }),
    error: jsonb('error').$type<{ message: string; type?: string; step?: string }>(),
    cancelReason: text('cancel_reason'),
    variables: jsonb('variables').$type<Record<string, string>>().notNull().default({}),
    /** The campaign whose message the triggering click answered (attribution), if any. */
    campaignId: uuid('campaign_id').references(() => campaigns.id, { onDelete: 'set null' }),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: updatedAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('funnel_runs_tenant_status_idx').on(t.tenantId, t.status, t.startedAt),
    index('funnel_runs_contact_idx').on(t.tenantId, t.contactKey, t.funnelId),
    index('funnel_runs_campaign_idx').on(t.campaignId).where(sql`${t.campaignId} is not null`),
  ],
);

// ─── Sending ───────────────────────────────────────────────────────────────────────────

/** Every call (or recovery lookup) to a provider for one outbound message, numbered from 1. */
export const messageAttempts = pgTable(
  'message_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    /** Null while the call is in flight (or its worker died: a later attempt marks it uncertain). */
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    outcome: text('outcome', { enum: ATTEMPT_OUTCOMES }),
    providerMessageId: text('provider_message_id'),
    /** Sent after an uncertain attempt with no way to check: the contact may get it twice. */
    duplicateRisk: boolean('duplicate_risk').notNull().default(false),
    error: jsonb('error').$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex('message_attempts_uq').on(t.messageId, t.attempt),
    // Retention deletes by age (RETENTION_SEND_ATTEMPTS).
    index('message_attempts_started_idx').on(t.startedAt),
  ],
);

/** A message to send at a future time; its workflow is `schedule:<id>`. */
export const scheduledMessages = pgTable(
  'scheduled_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    contactKey: text('contact_key').notNull(),
    /** The OutboundMessage to send. */
    message: jsonb('message').$type<Record<string, unknown>>().notNull(),
    scheduledFor: timestamp('scheduled_for', { withTimezone: true }).notNull(),
    status: text('status', { enum: SCHEDULE_STATUSES }).notNull().default('scheduled'),
    /** The messages row, once the send has begun. */
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    error: jsonb('error').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    cancelledAt: timestamp('cancelled_at', { withTimezone: true }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    /**
     * Sent at its exact time by a worker's schedule dispatcher (SCHEDULE_DISPATCH), with the
     * workflow as the durable backstop; false: the workflow sends it itself.
     */
    dispatch: boolean('dispatch').notNull().default(false),
    /** When a dispatcher took the send (status `sending`); null once it handed it back to the workflow. */
    claimedAt: timestamp('claimed_at', { withTimezone: true }),
  },
  (t) => [
    index('scheduled_messages_tenant_idx').on(t.tenantId, t.status, t.scheduledFor),
    // The dispatchers' poll: pending dispatched schedules by time.
    index('scheduled_messages_due_idx').on(t.scheduledFor).where(sql`${t.status} = 'scheduled' and ${t.dispatch}`),
  ],
);

/**
 * Send counters per quota scope (`channel:<id>:minute`, `tenant:<id>:day`…) and fixed window.
 * Incremented with one upsert per send, so every worker sees the same count.
 */
export const sendQuotaCounters = pgTable(
  'send_quota_counters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    scope: text('scope').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    count: integer('count').notNull().default(0),
  },
  (t) => [uniqueIndex('send_quota_counters_uq').on(t.scope, t.windowStart), index('send_quota_counters_window_idx').on(t.windowStart)],
);

/** Pacing per channel: the earliest time the next send may go out. */
export const sendPacing = pgTable('send_pacing', {
  channelId: uuid('channel_id')
    .primaryKey()
    .references(() => channels.id, { onDelete: 'cascade' }),
  nextAt: timestamp('next_at', { withTimezone: true }).notNull(),
});

/** `Idempotency-Key` of API requests, per tenant: a retried request gets the first answer. */
export const apiIdempotencyKeys = pgTable(
  'api_idempotency_keys',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** Operation + SHA-256 of the parsed request: the same key with another request is refused. */
    requestHash: text('request_hash').notNull(),
    /** The message or schedule this request created (chosen before any work, so a retry redoes the same work). */
    resourceId: uuid('resource_id').notNull(),
    statusCode: integer('status_code'),
    response: jsonb('response').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('api_idempotency_keys_uq').on(t.tenantId, t.key), index('api_idempotency_keys_created_idx').on(t.createdAt)],
);

// ─── Conversations ─────────────────────────────────────────────────────────────────────

/** Postgres full-text vector (filled by a generated column). */
const tsvector = customType<{ data: string }>({
  dataType() {
    return 'tsvector';
  },
});

/**
 * Tenant knowledge the AI may quote (prices, delivery areas, policies). `search_text` is the
 * title and content lower-cased without accents (computed in TS, so any Postgres, PGlite
 * included, needs no unaccent extension); `search` indexes it for ranked keyword matching.
 */
export const knowledgeSnippets = pgTable(
  'knowledge_snippets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    title: text('title'),
    content: text('content').notNull(),
    searchText: text('search_text').notNull(),
    search: tsvector('search').generatedAlwaysAs(sql`to_tsvector('simple'::regconfig, "search_text")`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('knowledge_snippets_tenant_idx').on(t.tenantId), index('knowledge_snippets_search_idx').using('gin', t.search)],
);

/**
 * Every AI call zapflow makes on a tenant's behalf: what it was for, tokens, the answer, or
 * why it failed. `key` makes a retried activity reuse the answer it already paid for.
 */
export const aiInteractions = pgTable(
  'ai_interactions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    contactKey: text('contact_key'),
    kind: text('kind', { enum: AI_INTERACTION_KINDS }).notNull(),
    key: text('key').notNull(),
    status: text('status', { enum: AI_INTERACTION_STATUSES }).notNull().default('pending'),
    model: text('model'),
    attempts: integer('attempts').notNull().default(0),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    /** Message ids, snippet ids and prompt size (characters) that went in. */
    input: jsonb('input').$type<Record<string, unknown>>().notNull().default({}),
    /** The answer: text and parts, or the follow-up decision. */
    output: jsonb('output').$type<Record<string, unknown>>(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('ai_interactions_key_uq').on(t.key),
    index('ai_interactions_tenant_idx').on(t.tenantId, t.createdAt),
    // Retention deletes by age across tenants (RETENTION_AI_CALLS): the tenant index cannot serve that.
    index('ai_interactions_created_idx').on(t.createdAt),
  ],
);

// ─── Campaigns ─────────────────────────────────────────────────────────────────────────


/**
 * Every change of a channel's state (`creating`, `qr`, `connecting`, `connected`,
 * `disconnected`, `closed`) or quality, with its time: "how long was this number down this
 * week" is a query over these rows.
 */
export const channelStateChanges = pgTable(
  'channel_state_changes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    state: text('state').notNull(),
    previous: text('previous'),
    /** Why (provider status reason, `quality:RED`, `logout`, …). */
    reason: text('reason'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('channel_state_changes_channel_at_idx').on(t.channelId, t.at)],
);

/** A warm-up plan between two or more of a tenant's own numbers; its workflow is `warmup:<id>`. */
export const warmups = pgTable(
  'warmups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name'),
    channelIds: uuid('channel_ids').array().notNull(),
    /** windows, ramp (start, growth, cap), delay between rounds, turns per round, topics or phrases. */
    definition: jsonb('definition').$type<Record<string, unknown>>().notNull(),
    status: text('status').notNull().default('running'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('warmups_tenant_idx').on(t.tenantId, t.createdAt)],
);

/** One round of a warm-up (or a window skipped, and why): the progress its API shows. */
export const warmupRounds = pgTable(
  'warmup_rounds',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    warmupId: uuid('warmup_id')
      .notNull()
      .references(() => warmups.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id').notNull(),
    /** The local day (tenant timezone) of the round. */
    day: date('day', { mode: 'string' }).notNull(),
    initiatorChannelId: uuid('initiator_channel_id'),
    responderChannelId: uuid('responder_channel_id'),
    /** Messages exchanged in the round. */
    messages: integer('messages').notNull().default(0),
    /** `done`, `failed` or `skipped`. */
    status: text('status').notNull(),
    reason: text('reason'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('warmup_rounds_warmup_idx').on(t.warmupId, t.startedAt)],
);

/** An outbound campaign; its workflow is `campaign:<id>`. `definition`: channels, message, windows, days, quotas, pacing. */
export const campaigns = pgTable(
  'campaigns',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    status: text('status', { enum: CAMPAIGN_STATUSES }).notNull().default('scheduled'),
    /** While waiting: `window`, `quota` or `channel`, and until when. */
    waitingFor: text('waiting_for'),
    waitingUntil: timestamp('waiting_until', { withTimezone: true }),
    definition: jsonb('definition').$type<Record<string, unknown>>().notNull(),
    startAt: timestamp('start_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('campaigns_tenant_idx').on(t.tenantId, t.createdAt)],
);


/**
 * One recipient of a campaign: queued until its send is claimed (`sending`), then sent or
 * failed; skipped with a reason (opted out, invalid number, duplicate, per-recipient cap…).
 * Delivered/read/replied/clicked are read from the message and the runs it started.
 */
export const campaignRecipients = pgTable(
  'campaign_recipients',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    campaignId: uuid('campaign_id')
      .notNull()
      .references(() => campaigns.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    contactId: uuid('contact_id').references(() => contacts.id, { onDelete: 'set null' }),
    phone: text('phone').notNull(),
    status: text('status', { enum: CAMPAIGN_RECIPIENT_STATUSES }).notNull().default('queued'),
    reason: text('reason'),
    channelId: uuid('channel_id').references(() => channels.id, { onDelete: 'set null' }),
    /** The outbound message row of its send. */
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('campaign_recipients_uq').on(t.campaignId, t.phone),
    index('campaign_recipients_next_idx').on(t.campaignId, t.status, t.id),
    // Sliding-window quotas: a channel's and a contact's campaign sends in the last minute/hour/day.
    index('campaign_recipients_channel_sent_idx').on(t.channelId, t.sentAt).where(sql`${t.sentAt} is not null`),
    index('campaign_recipients_contact_sent_idx').on(t.contactId, t.sentAt).where(sql`${t.sentAt} is not null`),
    // The tenant's campaign sends in the last day (a campaign's perTenantPerDay), across its channels.
    index('campaign_recipients_tenant_sent_idx').on(t.tenantId, t.sentAt).where(sql`${t.sentAt} is not null`),
    index('campaign_recipients_message_idx').on(t.messageId).where(sql`${t.messageId} is not null`),
  ],
);

// ─── Metrics ───────────────────────────────────────────────────────────────────────────

/**
 * The event log: one row per fact (message received/sent, status delivered/read/failed,
 * funnel started/step completed/completed/failed, follow-up sent, AI reply, opt-out,
 * handover, campaign sent/skipped), appended in the transaction of the fact it records.
 * Rolled up every few minutes into metrics_* (by id: a late fact has a new id and its own
 * time), never read by dashboards directly.
 */
export const conversationEvents = pgTable(
  'conversation_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    kind: text('kind').notNull(),
    channelId: uuid('channel_id'),
    funnelId: uuid('funnel_id'),
    campaignId: uuid('campaign_id'),
    contactId: uuid('contact_id'),
    messageId: uuid('message_id'),
    runId: text('run_id'),
    stepId: text('step_id'),
    /** A duration the fact carries (first response time, ms). */
    valueMs: integer('value_ms'),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // No foreign keys (an append-only log outlives what it names); the rollup reads by id and
  // recomputes a tenant's hours by time.
  (t) => [
    index('conversation_events_tenant_time_idx').on(t.tenantId, t.occurredAt),
    // A funnel run's facts once each (started, a step first reached, completed, failed,
    // handover): an activity retried, or a run replayed, writes nothing twice. Only rows with a
    // run are in it, so message and status events (the ingest's) pay nothing for it.
    uniqueIndex('conversation_events_run_uq')
      .on(t.runId, t.kind, sql`coalesce(${t.stepId}, '')`)
      .where(sql`${t.runId} is not null`),
  ],
);

/**
 * The value of the channel, funnel and campaign columns of the rollup tables for "none" (an
 * event without a funnel, a handover without a channel): a real value, so that the three can
 * be part of the primary key.
 */
export const METRICS_NONE = '00000000-0000-0000-0000-000000000000';

/**
 * First-response times in a fixed histogram: the count of responses up to each bound (ms;
 * the last column counts the rest). Rows merged by summing keep it exact, so a p50 can be
 * read from any range of hours or days. Columns in this order in every rollup table.
 */
export const FIRST_RESPONSE_BUCKETS = [
  { column: 'frt_le_10s', upToMs: 10_000 },
  { column: 'frt_le_30s', upToMs: 30_000 },
  { column: 'frt_le_1m', upToMs: 60_000 },
  { column: 'frt_le_2m', upToMs: 120_000 },
  { column: 'frt_le_5m', upToMs: 300_000 },
  { column: 'frt_le_15m', upToMs: 900_000 },
  { column: 'frt_le_30m', upToMs: 1_800_000 },
  { column: 'frt_le_1h', upToMs: 3_600_000 },
  { column: 'frt_le_2h', upToMs: 7_200_000 },
  { column: 'frt_le_4h', upToMs: 14_400_000 },
  { column: 'frt_le_8h', upToMs: 28_800_000 },
  { column: 'frt_le_24h', upToMs: 86_400_000 },
  { column: 'frt_over_24h', upToMs: null },
] as const;

/**
 * What a rollup row counts, the same in the hourly and the daily table (which events make each
 * column: src/db/queries/metrics.ts). Sums of rows are rows: any range and any grouping is a sum.
 */
const metricColumns = () => {
  const count = (name: string) => integer(name).notNull().default(0);
  return {
    sent: count('sent'),
    received: count('received'),
    delivered: count('delivered'),
    read: count('read'),
    failed: count('failed'),
    replies: count('replies'),
    optOuts: count('opt_outs'),
    resubscribed: count('resubscribed'),
    followUps: count('followups'),
    aiReplies: count('ai_replies'),
    handovers: count('handovers'),
    funnelStarted: count('funnel_started'),
    funnelCompleted: count('funnel_completed'),
    funnelFailed: count('funnel_failed'),
    campaignSent: count('campaign_sent'),
    campaignSkipped: count('campaign_skipped'),
    campaignClicked: count('campaign_clicked'),
    /** First responses (message_sent events carrying one): how many and their sum, for the average. */
    frtCount: count('frt_count'),
    frtSumMs: bigint('frt_sum_ms', { mode: 'number' }).notNull().default(0),
    frtLe10s: count('frt_le_10s'),
    frtLe30s: count('frt_le_30s'),
    frtLe1m: count('frt_le_1m'),
    frtLe2m: count('frt_le_2m'),
    frtLe5m: count('frt_le_5m'),
    frtLe15m: count('frt_le_15m'),
    frtLe30m: count('frt_le_30m'),
    frtLe1h: count('frt_le_1h'),
    frtLe2h: count('frt_le_2h'),
    frtLe4h: count('frt_le_4h'),
    frtLe8h: count('frt_le_8h'),
    frtLe24h: count('frt_le_24h'),
    frtOver24h: count('frt_over_24h'),
  };
};

/**
 * What a rollup row is summed over (`dimension`): `detail` rows are per channel × funnel ×
 * campaign; the others hold the same events summed over all but one of them (`channel`,
 * `funnel`, `campaign`: the other two ids are METRICS_NONE) or all three (`total`). The API
 * reads the level it answers (`by`), a range of rows it returns as they are; `detail` keeps
 * every combination for whatever grouping comes next.
 */
export const METRICS_DIMENSIONS = ['total', 'channel', 'funnel', 'campaign', 'detail'] as const;

/**
 * Hourly rollup of conversation_events per tenant (and channel, funnel, campaign, at each
 * level of `dimension`; METRICS_NONE for none), in the tenant's timezone: `bucket_start` is
 * the instant its local hour starts. Recomputed from the log, a whole (tenant, hour) at a
 * time, by the metrics rollup schedule; the API reads these rows and never the log.
 */
export const metricsHourly = pgTable(
  'metrics_hourly',
  {
    tenantId: uuid('tenant_id').notNull(),
    dimension: text('dimension', { enum: METRICS_DIMENSIONS }).notNull(),
    bucketStart: timestamp('bucket_start', { withTimezone: true }).notNull(),
    channelId: uuid('channel_id').notNull(),
    funnelId: uuid('funnel_id').notNull(),
    campaignId: uuid('campaign_id').notNull(),
    ...metricColumns(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.dimension, t.bucketStart, t.channelId, t.funnelId, t.campaignId] })],
);

/** The same per local day (the tenant's timezone), summed from metrics_hourly. */
export const metricsDaily = pgTable(
  'metrics_daily',
  {
    tenantId: uuid('tenant_id').notNull(),
    dimension: text('dimension', { enum: METRICS_DIMENSIONS }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    channelId: uuid('channel_id').notNull(),
    funnelId: uuid('funnel_id').notNull(),
    campaignId: uuid('campaign_id').notNull(),
    ...metricColumns(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.dimension, t.day, t.channelId, t.funnelId, t.campaignId] })],
);

/** Funnel step conversion per local hour: runs that reached each step (funnel_step_completed, once per run and step). */
export const metricsFunnelStepsHourly = pgTable(
  'metrics_funnel_steps_hourly',
  {
    tenantId: uuid('tenant_id').notNull(),
    bucketStart: timestamp('bucket_start', { withTimezone: true }).notNull(),
    funnelId: uuid('funnel_id').notNull(),
    stepId: text('step_id').notNull(),
    reached: integer('reached').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.bucketStart, t.funnelId, t.stepId] })],
);

/** The same per local day, summed from metrics_funnel_steps_hourly. */
export const metricsFunnelStepsDaily = pgTable(
  'metrics_funnel_steps_daily',
  {
    tenantId: uuid('tenant_id').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    funnelId: uuid('funnel_id').notNull(),
    stepId: text('step_id').notNull(),
    reached: integer('reached').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day, t.funnelId, t.stepId] })],
);

/** How far the rollup has read the log: the last conversation_events id it rolled up. */
export const metricsRollupState = pgTable('metrics_rollup_state', {
  name: text('name').primaryKey(),
  lastEventId: bigint('last_event_id', { mode: 'number' }).notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
