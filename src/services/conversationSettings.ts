/**
 * A tenant's conversation settings (`tenants.settings.ai` and `.followUp`): parsed with zod,
 * strictly when the API writes them, leniently when the runtime reads them (a bad stored
 * value falls back to the default instead of stopping automation).
 */
import { z } from 'zod';
import type { Config } from '../config';
import { parseDuration } from '../domain/duration';
import { parseWindows, type TimeWindow } from '../domain/followUpWindow';
import type { TenantSettings } from '../domain/records';
import type { ConversationFlags } from '../workflows/types';

const durationString = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 3s, 4h)` });
    return z.NEVER;
  }
  return ms;
});

const windowsSchema = z.union([z.string(), z.array(z.object({ start: z.string(), end: z.string() }))]).transform((value, ctx) => {
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

/** What PUT /api/conversations/settings accepts. */
export const conversationSettingsInput = z.object({
  ai: aiSettingsSchema.partial().optional(),
  followUp: followUpSettingsSchema.partial().optional(),
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

/** Merges an API update into the stored settings (other keys untouched). */
export function mergeConversationSettings(settings: TenantSettings, body: unknown): TenantSettings {
  conversationSettingsInput.parse(body); // throws a ZodError (400) on a bad field
  const update = body as z.input<typeof conversationSettingsInput>;
  const next: TenantSettings = { ...settings };
  // Stored as the tenant wrote it (durations as "4h"), so it reads back the same.
  if (update.ai) next.ai = { ...(settings.ai as Record<string, unknown> | undefined), ...update.ai };
  if (update.followUp) next.followUp = { ...(settings.followUp as Record<string, unknown> | undefined), ...update.followUp };
  return next;
}
