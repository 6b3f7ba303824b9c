import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './domain/duration';

/**
 * Configuration: parsed once from the environment with zod. Every duration is a setting
 * (`500ms`, `3s`, `4h`, `2d` or plain milliseconds) so tests run fast and production runs true.
 */
const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 3s, 4h, 2d)` });
        return z.NEVER;
      }
      return ms;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes', 'on'].includes(v)));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: port(3000),
  HOST: z.string().default('0.0.0.0'),
  /** Where embedded defaults keep their files (PGlite database, Temporal SQLite file). */
  DATA_DIR: z.string().default('.data'),
  BODY_LIMIT: z.string().default('5mb'),

  /** PostgreSQL URL; unset: embedded PGlite under DATA_DIR. */
  DATABASE_URL: optionalString.pipe(z.url({ message: 'must be a postgres:// URL' }).optional()),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),

  /** Temporal frontend (host:port); unset: zapflow spawns the Temporal CLI dev server. */
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('zapflow'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  /** Embedded dev server only: SQLite without fsync. Much faster; a power cut can lose the last writes. */
  TEMPORAL_DEV_FAST_SQLITE: bool(true),

  /** Admin key for /admin routes; unset: admin routes are disabled. At least 32 characters. */
  ADMIN_API_KEY: optionalString.refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters (e.g. `openssl rand -base64 32`)',
  }),
  /**
   * Key that encrypts channel credentials at rest (AES-256-GCM): 32 bytes, base64. Unset: the
   * embedded default generates DATA_DIR/secret.key (read by the server and the CLI alike).
   */
  ZAPFLOW_SECRET_KEY: optionalString,
  /** During a key rotation: the keys rows may still be sealed with (base64, comma separated). */
  ZAPFLOW_SECRET_KEYS_PREVIOUS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),

  META_APP_SECRET: optionalString,
  META_VERIFY_TOKEN: optionalString,
  /** Secret accepted from Evolution's global webhook (header or ?token=) for every instance. */
  EVOLUTION_WEBHOOK_SECRET: optionalString,
  /**
   * The Evolution server zapflow creates instances on (`POST /api/channels`): its URL and
   * global API key. Unset: channels can only be added by an operator (`zapflow channels add`).
   */
  EVOLUTION_BASE_URL: optionalString.pipe(z.url({ message: 'must be the Evolution server URL' }).optional()),
  EVOLUTION_API_KEY: optionalString,
  /** zapflow's public URL, as providers reach it: new instances post their webhooks to `${ZAPFLOW_PUBLIC_URL}/webhooks/evolution`. */
  ZAPFLOW_PUBLIC_URL: optionalString.pipe(z.url({ message: 'must be zapflow’s public URL (https://…)' }).optional()),
  PROVIDER_TIMEOUT: duration('15s'),

  // Channels (one watching workflow per channel)
  /** A number down this long (disconnected or logged out) is an outage: the tenant's admin is told. */
  CHANNEL_DISCONNECT_GRACE: duration('5m'),
  /** A QR older than this is expired: `GET /api/channels/:id/qr` fetches a fresh one (WhatsApp rotates them in about 1 min, Evolution shows each ~2 min). */
  CHANNEL_QR_LIFETIME: duration('2m'),
  /** With no connection event for this long, a channel's workflow asks the provider for its state. */
  CHANNEL_WATCH_POLL: duration('15m'),
  /** Events a channel's workflow handles before it continues as new (bounds its history). */
  CHANNEL_WATCH_MAX_EVENTS: z.coerce.number().int().min(1).max(10_000).default(500),
  /** A funnel or API send on a disconnected number waits this long before it looks again (it does not fail). */
  CHANNEL_DOWN_SEND_RETRY: duration('1m'),

  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString,
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),

  /** Idle contact workflows end after this long with nothing to do. */
  CONTACT_IDLE_TIMEOUT: duration('10m'),
  /** A person typing on the business phone pauses automation for the contact this long. */
  HUMAN_TAKEOVER_PAUSE: duration('1h'),
  /** How often the dispatcher retries webhook events Temporal did not take. */
  DISPATCH_RETRY_INTERVAL: duration('5s'),
  /**
   * Which process of a split deployment hands new messages to Temporal: `worker` (the API
   * only stores and NOTIFYs; `zapflow worker` dispatches), `api` (the API dispatches after
   * each commit) or `none` (neither: run `zapflow dispatcher`, a process of its own, so the
   * signals cost neither the webhook answers nor the worker's event loop). `zapflow dev`
   * runs everything in one process and dispatches inline.
   */
  DISPATCHER: z.enum(['worker', 'api', 'none']).default('worker'),
  /** Signals in flight at once from the dispatcher to Temporal. */
  DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  HEALTH_TIMEOUT: duration('1s'),
  /** Express `trust proxy`: which hops' X-Forwarded-For to believe (client addresses for limits). */
  TRUST_PROXY: z.string().default('loopback, linklocal, uniquelocal'),

  /**
   * HTTP processes of `zapflow api` (node:cluster, sharing the port; rate-limit counters and
   * /metrics are shared through the primary). One process serves about 400 webhooks/s on a
   * small core; use up to the number of cores the API may take.
   */
  API_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),

  // API protection
  /** Largest webhook body accepted (413 above): providers' own payloads are far smaller. */
  WEBHOOK_BODY_LIMIT: z.string().default('1mb'),
  /** Items (Meta changes) read from one webhook body; Meta batches up to 1,000. More: 413. */
  WEBHOOK_MAX_ITEMS: z.coerce.number().int().min(1).default(1_000),
  /** A channel key that named no channel is remembered this long (a forged post costs no query). */
  CHANNEL_MISS_CACHE: duration('2s'),
  /** Failed authentications per address per AUTH_FAILURE_WINDOW before that address gets 429. */
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).default(20),
  AUTH_FAILURE_WINDOW: duration('1m'),
  /** A key that authenticated is trusted this long without a query (a revocation elsewhere takes this long). */
  API_KEY_CACHE: duration('10s'),
  RATE_LIMIT_WINDOW: duration('1m'),
  /** Requests per tenant and route per window. */
  RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(600),
  /** Webhook posts per source address per window (providers post from few addresses: generous). */
  WEBHOOK_RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(120_000),

  // Worker
  /**
   * Workflows kept in the worker's cache. Unset: sized to memory (src/domain/workerCache.ts):
   * WORKER_CACHE_MEMORY_MB (default WORKER_CACHE_MEMORY_SHARE of the memory the process may
   * use, a container's limit included) ÷ WORKER_CACHED_WORKFLOW_KB. The worker logs the size.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
  WORKER_CACHE_MEMORY_MB: z.coerce.number().int().min(1).optional(),
  WORKER_CACHE_MEMORY_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  /** Worker memory per cached workflow (measured: see src/domain/workerCache.ts). */
  WORKER_CACHED_WORKFLOW_KB: z.coerce.number().int().min(1).default(400),
  /**
   * Workflow tasks in progress at once. A task stays open while its local activities (sends,
   * row updates) run, and the server times it out after 10 s. Far more slots than the CPU can
   * serve make every task slow; they time out together, are redone from scratch, and the
   * worker spirals (bench:funnels, 2,000 clicks on 2 cores: with 200/400 slots "Workflow task
   * not found" storms and 394 s; with 100/200 or 16/32 none, 215-220 s). Scheduled sends
   * hold a slot while they wait for their exact second (SCHEDULE_PREFIRE), so the slots also
   * bound scheduled sends per second to about slots / prefire.
   */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(1).default(100),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(200),
  /** About two per workflow task slot: a task waiting for a local activity slot is a task timing out. */
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).default(200),

  // Funnels
  /** Attempts of a funnel send before the run fails (and can be replayed). */
  FUNNEL_SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(6),
  FUNNEL_SEND_RETRY_INITIAL: duration('2s'),
  FUNNEL_SEND_RETRY_MAX: duration('2m'),
  /** How long the API caches a tenant's funnel triggers (writes through the API clear it at once). */
  FUNNEL_TRIGGER_CACHE: duration('2s'),

  // Sending
  /**
   * Send quotas (0 = unlimited): per channel per minute / hour / day, per tenant per day.
   * A channel's `settings.sendLimits` ({perMinute, perHour, perDay, minGapMs, jitterMs}) and a
   * tenant's `settings.sendLimits` ({perDay}) override them.
   */
  SEND_CHANNEL_PER_MINUTE: z.coerce.number().int().min(0).default(120),
  SEND_CHANNEL_PER_HOUR: z.coerce.number().int().min(0).default(3_000),
  SEND_CHANNEL_PER_DAY: z.coerce.number().int().min(0).default(20_000),
  SEND_TENANT_PER_DAY: z.coerce.number().int().min(0).default(50_000),
  /** Lengths of the "minute", "hour" and "day" quota windows (fixed windows; tests shrink them). */
  SEND_QUOTA_MINUTE_WINDOW: duration('1m'),
  SEND_QUOTA_HOUR_WINDOW: duration('1h'),
  SEND_QUOTA_DAY_WINDOW: duration('1d'),
  /** Minimum gap between two sends of one channel, plus a random jitter up to SEND_PACING_JITTER (so a number does not burst like a bot). */
  SEND_PACING_MIN_GAP: duration('100ms'),
  SEND_PACING_JITTER: duration('100ms'),
  /** A send waits in-process at most this long for its pacing slot; further out it yields (RateLimited) and comes back. */
  SEND_PACING_MAX_WAIT: duration('10s'),
  /** Provider attempts that fail transiently (5xx, timeouts) before a send is given up as failed. */
  SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  /** A scheduled send wakes this long before its time, prepares, and calls the provider at the exact time. */
  SCHEDULE_PREFIRE: duration('3s'),
  /**
   * Scheduled sends go out from the worker's schedule dispatcher, which polls PostgreSQL and
   * calls the provider at the exact millisecond; each schedule's workflow wakes
   * SCHEDULE_SETTLE_AFTER after its time, confirms the send and takes over (with durable
   * retries) what the dispatcher could not do. A minute's thousands of schedules then cost
   * no workflow task in that minute (bench:scheduled). false: each workflow wakes
   * SCHEDULE_PREFIRE early and sends itself. Set it alike for the API and the worker.
   */
  SCHEDULE_DISPATCH: bool(true),
  SCHEDULE_SETTLE_AFTER: duration('1m'),
  /**
   * How often a dispatcher looks for due schedules, and how far ahead it takes them (they wait
   * in-process for their millisecond; from then on a cancel or reschedule is too late: 409).
   */
  SCHEDULE_DISPATCH_POLL: duration('250ms'),
  SCHEDULE_DISPATCH_LOOKAHEAD: duration('1s'),
  /** A dispatcher's claim older than this (its worker died mid-send) is taken over by the workflow. */
  SCHEDULE_CLAIM_TTL: duration('2m'),
  /** Furthest ahead a message may be scheduled. */
  SCHEDULE_MAX_AHEAD: duration('90d'),

  // Campaigns (one workflow per campaign; its sends go through the delivery above, quotas included)
  /**
   * Sends of one campaign workflow run (a page of recipients): then the workflow continues as
   * new, so its history stays short however big the audience.
   */
  CAMPAIGN_PAGE_SIZE: z.coerce.number().int().min(1).default(1_000),
  /** A batch activity sends for at most this long, then hands back to its workflow, which starts the next. */
  CAMPAIGN_BATCH_MAX: duration('10m'),
  /** A batch heartbeats its progress; one silent this long (its worker died) is retried elsewhere. */
  CAMPAIGN_HEARTBEAT_TIMEOUT: duration('30s'),
  /**
   * A channel's wait shorter than this (its next quota slot, pacing, a provider's Retry-After)
   * is spent inside the batch; a longer one ends the batch and the workflow sleeps on a durable
   * timer (no worker holds anything meanwhile).
   */
  CAMPAIGN_WAIT_IN_BATCH: duration('30s'),
  /** With no connected channel (or every one refusing its credentials), look again after this. */
  CAMPAIGN_CHANNEL_RECHECK: duration('5m'),
  /** A channel whose provider failed transiently rests this long before its next send. */
  CAMPAIGN_RETRY_BACKOFF: duration('5s'),
  /**
   * A claimed send without an outcome after this long belonged to a worker that died: a
   * pause or cancel stops waiting for it (its batch's retry sends it after a resume, under
   * the same idempotency key). At least a provider call and a pacing wait.
   */
  CAMPAIGN_SEND_LEASE: duration('1m'),
  /** How often a batch's waiting channels look whether the campaign was paused or cancelled meanwhile. */
  CAMPAIGN_STATUS_POLL: duration('2s'),
  /** How often a pause or cancel looks whether the campaign's sends in flight have finished (it answers after they have). */
  CAMPAIGN_DRAIN_POLL: duration('50ms'),
  /**
   * Campaign time follows the Temporal server's clock when it is ahead of the worker's by more
   * than this: a time-skipping test server. Real deployments never shift it (see
   * domain/campaign.ts campaignClockSkew).
   */
  CAMPAIGN_CLOCK_SKEW: duration('1m'),

  // Warm-ups (one workflow per plan, `warmup:<id>`; its sends go through the delivery, channel quotas included)
  /** With a number of the plan disconnected (or its phone not known yet), the workflow looks again after this. */
  WARMUP_CHANNEL_RECHECK: duration('5m'),
  /** The shortest and longest "typing…" pause before a number answers in a round (a random length between). */
  WARMUP_REPLY_PAUSE_MIN: duration('4s'),
  WARMUP_REPLY_PAUSE_MAX: duration('20s'),
  /** A round's activity heartbeats; one silent this long (its worker died) is retried elsewhere (sends are keyed, none repeats). */
  WARMUP_HEARTBEAT_TIMEOUT: duration('30s'),
  /** Rounds per workflow run: then it continues as new, so its history stays short. */
  WARMUP_ROUNDS_PER_RUN: z.coerce.number().int().min(1).default(100),

  // Contacts
  /** Largest CSV accepted by `POST /api/contacts/import` (413 above), spooled to a temporary file as it arrives. */
  CONTACT_IMPORT_MAX_BYTES: z.coerce.number().int().min(1024).default(50 * 1024 * 1024),
  /** An import of at most this many data rows is answered when done (200); a bigger one becomes a job (202). */
  CONTACT_IMPORT_SYNC_ROWS: z.coerce.number().int().min(1).default(10_000),
  /** Rows upserted per statement (and per progress update of a job). */
  CONTACT_IMPORT_BATCH: z.coerce.number().int().min(1).max(10_000).default(1_000),
  /**
   * A running import's process touches it at least four times per this period; one left
   * `running` without a touch for longer lost its process (a restart, a crash) and is marked
   * failed, at start and whenever it is read.
   */
  CONTACT_IMPORT_STALE_AFTER: duration('1m'),

  // Conversations
  /** Speech-to-text model for voice notes (tenant setting `ai.transcribeAudio`). */
  OPENAI_TRANSCRIBE_MODEL: z.string().default('whisper-1'),
  /** One OpenAI call (chat or transcription) gives up after this long; the activity then retries. */
  AI_TIMEOUT: duration('30s'),
  /** Attempts of an AI call (429/5xx/timeouts) before the turn is given up and recorded as failed. */
  AI_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(4),
  AI_RETRY_INITIAL: duration('2s'),
  AI_RETRY_MAX: duration('1m'),
  /** Default quiet time after a contact's last message before an AI reply (tenant `ai.debounce` overrides). */
  AI_REPLY_DEBOUNCE: duration('3s'),
  /** Prompt bounds: recent messages and their characters, knowledge snippets and their characters, answer tokens. */
  AI_HISTORY_MESSAGES: z.coerce.number().int().min(0).max(200).default(20),
  AI_HISTORY_CHARS: z.coerce.number().int().min(0).default(4_000),
  AI_KNOWLEDGE_SNIPPETS: z.coerce.number().int().min(0).max(20).default(3),
  AI_KNOWLEDGE_CHARS: z.coerce.number().int().min(0).default(2_400),
  AI_MAX_REPLY_TOKENS: z.coerce.number().int().min(16).max(4_000).default(350),
  /** Answers are split at sentence boundaries into messages of at most this many characters (and at most AI_MAX_PARTS). */
  AI_SPLIT_CHARS: z.coerce.number().int().min(40).max(4_000).default(320),
  AI_MAX_PARTS: z.coerce.number().int().min(1).max(10).default(4),
  /** "typing…" before each part: this long per character, capped. */
  AI_TYPING_PER_CHAR: duration('35ms'),
  AI_TYPING_MAX: duration('4s'),
  /** Largest media file downloaded for transcription or description. */
  AI_MEDIA_MAX_BYTES: z.coerce.number().int().min(1).default(10 * 1024 * 1024),
  /**
   * Models a tenant may choose (`ai.model`), comma separated; OPENAI_MODEL is always allowed.
   * Empty: only OPENAI_MODEL.
   */
  AI_MODELS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((m) => m.trim()).filter(Boolean)),
  /** Tokens (prompt + completion) one tenant may spend per day in its timezone; 0: unlimited. */
  AI_TENANT_DAILY_TOKENS: z.coerce.number().int().min(0).default(2_000_000),

  /** Largest body read from a provider (media files included); streamed, cut off above. */
  MEDIA_MAX_BYTES: z.coerce.number().int().min(1).default(16 * 1024 * 1024),
  /**
   * Origins media may be fetched from besides the channel's own provider URL and WhatsApp's
   * and Meta's media hosts (`https://cdn.example.com`, comma separated).
   */
  MEDIA_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean)),

  /** Follow-ups (tenant `followUp.*` overrides): quiet time after zapflow's last message, how many, fallback text without AI. */
  FOLLOWUP_QUIET_PERIOD: duration('4h'),
  FOLLOWUP_MAX: z.coerce.number().int().min(0).max(20).default(2),
  /** Allowed hours in the tenant's timezone, `HH:MM-HH:MM[,HH:MM-HH:MM]`; empty = any time. */
  FOLLOWUP_WINDOWS: z
    .string()
    .default('09:00-20:00')
    .refine((v) => v.trim() === '' || v.split(',').every((w) => /^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$/.test(w)), {
      message: 'must be HH:MM-HH:MM, comma separated',
    }),
  /** Sent as the follow-up when no AI is available (no OPENAI_API_KEY); unset: no follow-up without AI. */
  FOLLOWUP_FALLBACK_TEXT: optionalString,
  /**
   * How long a worker trusts what it read of a tenant's `followUp.enabled` when an API send,
   * a schedule or a funnel step goes out (so a send costs no settings read); switching
   * follow-ups on or off reaches those sends within this time. 0: read on every send.
   */
  FOLLOWUP_SETTINGS_CACHE: duration('5s'),

  /**
   * Loop safety: an inbound message is bot-like when it arrives within LOOP_FAST_REPLY of our
   * last message (buttons excepted) or types faster than LOOP_BOT_CHARS_PER_SEC; more than
   * LOOP_MAX_FAST_REPLIES of them within LOOP_WINDOW, or the same text LOOP_REPEAT_COUNT times,
   * pauses automation for the contact for LOOP_COOLDOWN and tells the tenant's admin.
   */
  LOOP_FAST_REPLY: duration('8s'),
  LOOP_BOT_CHARS_PER_SEC: z.coerce.number().min(1).default(6),
  LOOP_MAX_FAST_REPLIES: z.coerce.number().int().min(1).max(50).default(3),
  LOOP_WINDOW: duration('5m'),
  LOOP_REPEAT_COUNT: z.coerce.number().int().min(2).max(50).default(3),
  LOOP_REPEAT_MIN_CHARS: z.coerce.number().int().min(1).default(12),
  LOOP_COOLDOWN: duration('6h'),

  // Poison and retention
  /** A stored message the dispatcher failed to hand to Temporal this many times is marked dead. */
  DISPATCH_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(20),
  /** A funnel step visited more often than this in one run fails the run (a loop that never ends). */
  FUNNEL_MAX_STEP_VISITS: z.coerce.number().int().min(1).default(100),
  /** A funnel run continues as new (carrying its progress) once its history has this many events. */
  FUNNEL_HISTORY_EVENTS: z.coerce.number().int().min(20).default(2_000),
  /** What the daily retention schedule deletes once older than this (messages themselves stay). */
  RETENTION_RAW_BODIES: duration('30d'),
  RETENTION_STATUS_EVENTS: duration('90d'),
  RETENTION_SEND_ATTEMPTS: duration('90d'),
  RETENTION_AI_CALLS: duration('90d'),
  RETENTION_IDEMPOTENCY_KEYS: duration('72h'),
  /** Rows deleted per statement: short transactions that never hold a hot table for long. */
  RETENTION_BATCH: z.coerce.number().int().min(1).default(5_000),
  /**
   * When the retention schedule (Temporal Schedule `zapflow-retention`, created or updated by
   * every worker at start) runs: a cron expression in UTC, once a day by default (03:30 in
   * São Paulo, a quiet hour).
   */
  RETENTION_CRON: z
    .string()
    .regex(/^\S+( \S+){4}$/, 'a cron expression of five fields (minute hour day month weekday), in UTC')
    .default('30 6 * * *'),
  /**
   * When the daily opt-out digest runs (Temporal Schedule `zapflow-opt-out-digest`, created or
   * updated by every worker at start): a cron expression in UTC, 09:00 in São Paulo by default.
   * Each tenant with an admin contact and opt-outs in the OPT_OUT_DIGEST_WINDOW before the run
   * gets one message.
   */
  OPT_OUT_DIGEST_CRON: z
    .string()
    .regex(/^\S+( \S+){4}$/, 'a cron expression of five fields (minute hour day month weekday), in UTC')
    .default('0 12 * * *'),
  /** The opt-outs one digest covers, up to its scheduled time: the cron's period. */
  OPT_OUT_DIGEST_WINDOW: duration('1d'),

  // Metrics (conversation_events → metrics_hourly/daily → GET /api/metrics)
  /**
   * How often the metrics rollup runs (Temporal Schedule `zapflow-metrics-rollup`, created or
   * updated by every worker at start): dashboards see facts this late at most, plus one run.
   */
  METRICS_ROLLUP_INTERVAL: duration('5m'),
  /** Runs missed while Temporal or the workers were down are made up (as one run) within this window. */
  METRICS_ROLLUP_CATCHUP: duration('1d'),
  /**
   * Events recorded less than this long ago wait for the next run: an event id is drawn before
   * its transaction commits, so the newest ids may still have older ones in flight.
   */
  METRICS_ROLLUP_SETTLE: duration('10s'),
  /** Events per rollup transaction (a batch); a run takes batches until it has caught up. */
  METRICS_ROLLUP_BATCH: z.coerce.number().int().min(1).default(200_000),
  /** Longest range `GET /api/metrics?groupBy=hour` answers (from → to). */
  METRICS_MAX_HOURLY_RANGE: duration('31d'),
  /** Longest range `GET /api/metrics?groupBy=day` and `GET /api/funnels/:id/metrics` answer. */
  METRICS_MAX_DAILY_RANGE: duration('366d'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError whose message is one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue.path.join('.') || 'environment';
    throw new ConfigError(`Invalid configuration: ${name}: ${issue.message}`);
  }
  return { ...result.data, DATA_DIR: path.resolve(result.data.DATA_DIR) };
}
