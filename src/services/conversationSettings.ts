/**
 * A tenant's conversation settings (`tenants.settings.ai` and `.followUp`): parsed with zod,
 * strictly when the API writes them, leniently when the runtime reads them (a bad stored
 * value falls back to the default instead of stopping automation).
 *
 * Writes are strict (issue 20): an unknown key is a 400 naming it (`ai.foo`), `ai.model` must
 * be one the operator allows (OPENAI_MODEL and AI_MODELS), only the fields of the schema are
 * stored, and the stored conversation settings stay under MAX_CONVERSATION_SETTINGS_BYTES.
 */
import { z } from 'zod';
import { loadConfig, type Config } from '../config';
import { parseDuration } from '../domain/duration';
import { DomainError } from '../domain/errors';
import { parseWindows, type TimeWindow } from '../domain/followUpWindow';
import type { TenantSettings } from '../domain/records';
import type { ConversationFlags } from '../workflows/types';
import { allowedAiModels } from './ai';

/** Largest `{ai, followUp}` a tenant may store, as JSON (UTF-8 bytes). */
export const MAX_CONVERSATION_SETTINGS_BYTES = 16 * 1024;

const durationString = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 3s, 4h)` });
    return z.NEVER;
  }
  return ms;
});

const windowsSchema = z.union([z.string().max(1_000), z.array(z.strictObject({ start: z.string().max(10), end: z.string().max(10) })).max(48)]).transform((value, ctx) => {
  try {
    return parseWindows(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const aiSettingsSchema = z.object({
  /** Answer contacts with AI when no funnel is waiting for them. Off by default. */
  replies: z.boolean().default(false),
  /** Who the assistant is: name, company, tone. */
  persona: z.string().max(4_000).optional(),
  /** Extra rules for answers (what never to promise, when to hand over…). */
  instructions: z.string().max(4_000).optional(),
  debounce: durationString.optional(),
  transcribeAudio: z.boolean().default(false),
  describeImages: z.boolean().default(false),
  /** Score inbound texts (sentiment, emotion, satisfaction). */
  analysis: z.boolean().default(false),
  model: z.string().min(1).max(100).optional(),
});

export const followUpSettingsSchema = z.object({
  enabled: z.boolean().default(false),
  quietPeriod: durationString.optional(),
  max: z.number().int().min(0).max(20).optional(),
  /** `09:00-12:00,14:00-18:00` or [{start,end}] in the tenant's timezone; [] = any time. */
  windows: windowsSchema.optional(),
  /** Days of the week follow-ups may go out (0 = Sunday); absent: every day. */
  days: z.array(z.number().int().min(0).max(6)).optional(),
  instructions: z.string().max(4_000).optional(),
  /** Sent when no AI is available; null/absent: FOLLOWUP_FALLBACK_TEXT. */
  fallbackText: z.string().max(1_000).nullable().optional(),
});

/**
 * What PUT /api/conversations/settings accepts: unknown keys refused at every level.
 * `aiAvailable` (what GET adds) is read-only: accepted so that a settings object read with
 * GET can be sent back, and ignored.
 */
export const conversationSettingsInput = z.strictObject({
  ai: z.strictObject(aiSettingsSchema.shape).partial().optional(),
  followUp: z.strictObject(followUpSettingsSchema.shape).partial().optional(),
  aiAvailable: z.unknown().optional(),
});

export type AiSettings = z.infer<typeof aiSettingsSchema>;
export type FollowUpSettings = z.infer<typeof followUpSettingsSchema>;

export interface ConversationSettings {
  ai: AiSettings;
  followUp: FollowUpSettings;
}

function lenient<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  // Keep the valid fields, drop the bad ones.
  const obj = value && typeof value === 'object' ? { ...(value as Record<string, unknown>) } : {};
  for (const issue of parsed.error.issues) if (issue.path[0] !== undefined) delete obj[String(issue.path[0])];
  const retry = schema.safeParse(obj);
  return retry.success ? retry.data : schema.parse({});
}

export function conversationSettingsOf(settings: TenantSettings | null | undefined): ConversationSettings {
  return { ai: lenient(aiSettingsSchema, settings?.ai), followUp: lenient(followUpSettingsSchema, settings?.followUp) };
}

/** The switches the contact workflow needs, sent with every message. */
export function conversationFlags(settings: TenantSettings | null | undefined): ConversationFlags | undefined {
  const { ai, followUp } = conversationSettingsOf(settings);
  if (!ai.replies && !followUp.enabled && !ai.analysis) return undefined;
  return {
    aiReplies: ai.replies,
    followUps: followUp.enabled,
    analysis: ai.analysis,
    mediaToText: ai.transcribeAudio || ai.describeImages,
    ...(ai.debounce !== undefined ? { debounceMs: ai.debounce } : {}),
  };
}

export interface FollowUpPolicy {
  enabled: boolean;
  quietMs: number;
  max: number;
  windows: TimeWindow[];
  days?: number[];
  timezone: string;
  instructions?: string;
  fallbackText?: string;
}

export function followUpPolicy(config: Config, settings: ConversationSettings, timezone: string): FollowUpPolicy {
  const f = settings.followUp;
  return {
    enabled: f.enabled,
    quietMs: f.quietPeriod ?? config.FOLLOWUP_QUIET_PERIOD,
    max: f.max ?? config.FOLLOWUP_MAX,
    windows: f.windows ?? parseWindows(config.FOLLOWUP_WINDOWS),
    days: f.days,
    timezone,
    instructions: f.instructions,
    fallbackText: (f.fallbackText === null ? undefined : f.fallbackText) ?? config.FOLLOWUP_FALLBACK_TEXT,
  };
}

/** Fields stored as the tenant wrote them (durations as "4h", windows as given), so they read back the same. */
const AS_WRITTEN = new Set(['debounce', 'quietPeriod', 'windows']);

/** zod reports an unknown key at its parent (`ai`); the 400 names the key itself (`ai.foo`). */
function withKeyPaths(error: z.ZodError): z.ZodError {
  return new z.ZodError(
    error.issues.flatMap((issue): z.core.$ZodIssue[] =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ ...issue, keys: [key], path: [...issue.path, key], message: `unknown setting "${key}"` }))
        : [issue],
    ),
  );
}

/** The models a tenant may choose, from the process's configuration. */
function configuredModels(): string[] {
  return allowedAiModels(loadConfig());
}

/** The stored fields `schema` knows (keys stored before writes were strict are dropped on the next write). */
function known(stored: unknown, schema: z.ZodObject): Record<string, unknown> {
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return {};
  return Object.fromEntries(Object.entries(stored as Record<string, unknown>).filter(([key]) => key in schema.shape));
}

/**
 * The fields an update carries (all known: the strict schema refused any other), with their
 * validated values; durations and windows as written.
 */
function storedFields(raw: Record<string, unknown>, parsed: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) out[key] = AS_WRITTEN.has(key) ? raw[key] : parsed[key];
  return out;
}

/**
 * Merges an API update into the stored settings (other keys untouched). Throws a ZodError
 * (400 with the field path) on a bad or unknown field or a model not allowed, a DomainError
 * (400) when the result would be too large. `allowedModels`: default OPENAI_MODEL and
 * AI_MODELS from the environment.
 */
export function mergeConversationSettings(settings: TenantSettings, body: unknown, opts: { allowedModels?: readonly string[] } = {}): TenantSettings {
  const result = conversationSettingsInput.safeParse(body);
  if (!result.success) throw withKeyPaths(result.error);
  const parsed = result.data;
  const raw = body as { ai?: Record<string, unknown>; followUp?: Record<string, unknown> };
  if (parsed.ai?.model !== undefined) {
    const allowed = opts.allowedModels ?? configuredModels();
    if (!allowed.includes(parsed.ai.model)) {
      throw new z.ZodError([
        { code: 'custom', path: ['ai', 'model'], message: `model "${parsed.ai.model}" is not allowed here (allowed: ${allowed.join(', ')})`, input: parsed.ai.model },
      ]);
    }
  }
  const next: TenantSettings = { ...settings };
  if (raw.ai && parsed.ai) next.ai = { ...known(settings.ai, aiSettingsSchema), ...storedFields(raw.ai, parsed.ai) };
  if (raw.followUp && parsed.followUp) next.followUp = { ...known(settings.followUp, followUpSettingsSchema), ...storedFields(raw.followUp, parsed.followUp) };
  const size = Buffer.byteLength(JSON.stringify({ ai: next.ai, followUp: next.followUp }), 'utf8');
  if (size > MAX_CONVERSATION_SETTINGS_BYTES) {
    throw new DomainError('Invalid', `conversation settings would take ${size} bytes, above the ${MAX_CONVERSATION_SETTINGS_BYTES} limit`, '(body)');
  }
  return next;
}
