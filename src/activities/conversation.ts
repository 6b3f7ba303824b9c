/**
 * Activities of conversations: AI replies (prompt, OpenAI, split, typing, send), follow-ups
 * (context, the AI's decision, send), message analysis, pauses (human on the phone, bot
 * detected) and the follow-up workflow's start/reset. Thin: SQL lives in
 * services/conversation.ts, prompts and the OpenAI client in services/ai.ts.
 *
 * Every AI call is recorded in ai_interactions under a key derived from the workflow (turn,
 * follow-up number), so a retried activity reuses an answer already paid for and a call
 * that keeps failing leaves a row saying why.
 */
import { createHash } from 'node:crypto';
import { Context, log as activityLog } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig, type Config } from '../config';
import { beginInteraction, finishInteraction, tokensSpentSince, type AiInteractionRow } from '../db/queries/aiInteractions';
import { getChannelById } from '../db/queries/channels';
import { getContactState, pauseContact } from '../db/queries/contacts';
import { SEND_KEYS } from '../db/queries/conversationEvents';
import { activeRunsOfContact } from '../db/queries/funnelRuns';
import { searchKnowledge } from '../db/queries/knowledge';
import { isSentWithKey } from '../db/queries/sends';
import { getTenant } from '../db/queries/tenants';
import { isOwnEcho, messagesByIds, recordMessageAnalysis, setMessageAiText, unanalysedMessages, type MessageRow } from '../db/queries/messages';
import { budgetRefusal, startOfDay } from '../domain/aiBudget';
import { FailureType } from '../domain/failures';
import { DEFAULT_LOOP_GUARD } from '../domain/loopGuard';
import { splitMessage, typingMs } from '../domain/splitMessage';
import { followUpWorkflowId } from '../domain/workflowIds';
import { downloadInboundMedia, MediaRefused, MediaUnavailable } from '../providers/media';
import {
  AiError,
  boundHistory,
  boundKnowledge,
  buildAnalysisPrompt,
  buildFollowUpPrompt,
  buildImagePrompt,
  buildReplyPrompt,
  createAiClient,
  aiStatus,
  parseJsonAnswer,
  promptChars,
  estimateTokens,
  modelFor,
  type AiClient,
} from '../services/ai';
import { recentHistory } from '../services/conversation';
import { conversationSettingsOf, followUpPolicy } from '../services/conversationSettings';
import { channelTarget, META_WINDOW_MS } from '../services/delivery';
import { startOrResetFollowUp } from '../services/followUps';
import { notifyAdmin } from '../services/funnelRuns';
import { signalIfRunning } from '../temporal/signals';
import { followUpStopSignal } from '../workflows/definitions';
import type { ConversationPolicy } from '../workflows/types';
import { deliverOrFail } from './delivery';
import { temporalOf, type ActivityDeps } from './deps';

function activityInfo(): { attempt: number; workflowId?: string } {
  try {
    const info = Context.current().info;
    return { attempt: info.attempt, workflowId: info.workflowExecution?.workflowId };
  } catch {
    return { attempt: 1 };
  }
}

function logger(deps: ActivityDeps) {
  try {
    Context.current();
    return activityLog;
  } catch {
    return deps.log;
  }
}

function describeDuration(ms: number): string {
  if (ms >= 86_400_000) return `${Math.round(ms / 86_400_000)} dia(s)`;
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} hora(s)`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} minuto(s)`;
  return `${Math.round(ms / 1000)} segundo(s)`;
}

export function createConversationActivities(deps: ActivityDeps) {
  const config: Config = deps.config ?? loadConfig();
  const status = aiStatus(config);
  // Built once per worker: one HTTP agent, one configuration.
  const ai: AiClient | undefined = createAiClient(config);
  if (!status.enabled) deps.log.warn(`conversations: ${status.reason}`);

  /**
   * Why no AI call may be made for this tenant now (its daily token budget, counted in its
   * own timezone's day, is spent), or undefined.
   */
  async function budgetSpent(tenantId: string, timezone: string | undefined): Promise<string | undefined> {
    const limit = config.AI_TENANT_DAILY_TOKENS;
    if (limit <= 0) return undefined;
    const zone = timezone ?? (await getTenant(deps.db, { tenantId }))?.timezone ?? 'UTC';
    let since: number;
    try {
      since = startOfDay(Date.now(), zone);
    } catch {
      since = startOfDay(Date.now(), 'UTC'); // a zone Intl does not know: the UTC day
    }
    const refusal = budgetRefusal(limit, await tokensSpentSince(deps.db, { tenantId, since: new Date(since) }));
    if (refusal) logger(deps).warn(`AI call not made for a tenant: ${refusal}`);
    return refusal;
  }

  /** The tenant's model when the operator allows it, else OPENAI_MODEL (said in the log). */
  function tenantModel(requested: string | undefined): string {
    const choice = modelFor(config, requested);
    if (choice.refused) logger(deps).warn(choice.refused);
    return choice.model;
  }

  /**
   * Runs one AI call under an interaction row. Failures: recorded on the row (and the row
   * marked failed on the last attempt or when retrying cannot help), then thrown as Temporal
   * failures (rate limits with the server's delay).
   */
  async function guarded<T>(row: AiInteractionRow, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const e = err instanceof AiError ? err : new AiError(String((err as Error)?.message ?? err), 'retryable');
      const { attempt } = activityInfo();
      const final = !e.retryable || attempt >= config.AI_MAX_ATTEMPTS;
      await finishInteraction(deps.db, {
        id: row.id,
        status: final ? 'failed' : 'pending',
        error: { kind: e.kind, message: e.message, status: e.details.status ?? null, attempt, final },
      });
      logger(deps).warn(`AI call failed (${e.kind}${e.details.status ? ` ${e.details.status}` : ''}), attempt ${attempt}${final ? ', giving up' : ''}`);
      if (e.kind === 'rate_limited') {
        throw ApplicationFailure.create({
          type: FailureType.AiRateLimited,
          message: e.message,
          nextRetryDelay: e.details.retryAfterMs ?? undefined,
          nonRetryable: final,
        });
      }
      if (!e.retryable) throw ApplicationFailure.nonRetryable(e.message, e.kind === 'rejected' ? FailureType.AiRejected : FailureType.AiUnavailable);
      throw ApplicationFailure.create({ type: FailureType.AiUnavailable, message: e.message, nonRetryable: final });
    }
  }

  /** Voice notes and images of a turn as text (cached on the message row). */
  async function mediaText(
    tenantId: string,
    row: MessageRow,
    opts: { transcribe: boolean; describe: boolean; timezone: string },
  ): Promise<string | undefined> {
    if (row.aiText) return row.aiText;
    const media = row.payload.media as { kind?: string; url?: string; mediaId?: string; mimeType?: string; caption?: string } | undefined;
    if (!media || !ai) return undefined;
    const wanted = (media.kind === 'audio' && opts.transcribe) || ((media.kind === 'image' || media.kind === 'sticker') && opts.describe);
    if (!wanted) return undefined;
    const kind = media.kind === 'audio' ? 'transcription' : 'description';
    const interaction = await beginInteraction(deps.db, { key: `${kind}:${row.id}`, tenantId, kind, model: kind === 'transcription' ? config.OPENAI_TRANSCRIBE_MODEL : ai.model, input: { messageId: row.id } });
    const refusal = await budgetSpent(tenantId, opts.timezone);
    if (refusal) {
      await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', output: { reason: refusal } });
      return undefined;
    }
    let file: { data: Buffer; mimeType: string };
    try {
      const channel = await getChannelById(deps.db, { channelId: row.channelId });
      if (!channel) throw new MediaUnavailable('channel not found');
      file = await downloadInboundMedia(channelTarget(channel), {
        providerMessageId: row.providerMessageId ?? '',
        media,
        timeoutMs: config.PROVIDER_TIMEOUT,
        maxBytes: Math.min(config.AI_MEDIA_MAX_BYTES, config.MEDIA_MAX_BYTES),
        allowedOrigins: config.MEDIA_ALLOWED_ORIGINS,
      });
    } catch (err) {
      // Unavailable (a 404, a timeout) or refused (a host it may not fetch, too large): the
      // turn goes on with the text there is (the caption). A refusal's message says
      // `media refused: <reason>`.
      const message = (err as Error).message;
      await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', error: { message } });
      if (err instanceof MediaRefused) logger(deps).warn(`inbound media not fetched: ${message}`);
      return undefined;
    }
    let text: string;
    if (kind === 'transcription') {
      text = (await guarded(interaction, () => ai.transcribe({ audio: file.data, mimeType: file.mimeType }))).text.trim();
    } else {
      const answer = await guarded(interaction, () =>
        ai.chat({ messages: buildImagePrompt(`data:${file.mimeType};base64,${file.data.toString('base64')}`, media.caption), maxTokens: 120 }),
      );
      text = answer.text.trim();
      await finishInteraction(deps.db, { id: interaction.id, status: 'ok', usage: answer.usage, output: { text } });
    }
    if (kind === 'transcription') await finishInteraction(deps.db, { id: interaction.id, status: 'ok', output: { text } });
    if (text) await setMessageAiText(deps.db, { messageId: row.id, text });
    return text || undefined;
  }

  return {
    /** Configuration the contact workflow needs (read once per run). */
    conversationPolicy(): Promise<ConversationPolicy> {
      return Promise.resolve({
        aiAvailable: Boolean(ai),
        debounceMs: config.AI_REPLY_DEBOUNCE,
        loop: {
          ...DEFAULT_LOOP_GUARD,
          fastReplyMs: config.LOOP_FAST_REPLY,
          botCharsPerSec: config.LOOP_BOT_CHARS_PER_SEC,
          maxFastReplies: config.LOOP_MAX_FAST_REPLIES,
          windowMs: config.LOOP_WINDOW,
          repeatCount: config.LOOP_REPEAT_COUNT,
          repeatMinChars: config.LOOP_REPEAT_MIN_CHARS,
          cooldownMs: config.LOOP_COOLDOWN,
        },
        aiRetry: { maximumAttempts: config.AI_MAX_ATTEMPTS, initialIntervalMs: config.AI_RETRY_INITIAL, maximumIntervalMs: config.AI_RETRY_MAX },
      });
    },

    /** A `fromMe` message that is the echo of our own send: not a person typing. */
    async checkOwnEcho(params: { tenantId: string; contactKey: string; providerMessageId: string; text?: string }): Promise<boolean> {
      return isOwnEcho(deps.db, params);
    },

    /** A person replied from the business phone: automation pauses (stored, so every sender sees it), the follow-up stops. */
    async recordHumanPause(params: { tenantId: string; contactKey: string; until: number }): Promise<void> {
      await pauseContact(deps.db, {
        tenantId: params.tenantId,
        contactKey: params.contactKey,
        until: new Date(params.until),
        reason: 'a person replied from the business phone',
        extendOnly: true,
      });
      await stopFollowUp(deps, params, 'a person took over the conversation');
    },

    /** Bot suspected: automation pauses for the cool-down, the tenant's admin is told, the follow-up stops. */
    async pauseForLoop(params: { tenantId: string; contactKey: string; until: number; reason: string; triggerMessageId: string }): Promise<void> {
      await pauseContact(deps.db, {
        tenantId: params.tenantId,
        contactKey: params.contactKey,
        until: new Date(params.until),
        reason: `bot suspected: ${params.reason}`,
        extendOnly: true,
      });
      await stopFollowUp(deps, params, 'bot suspected');
      await notifyAdmin(deps, {
        tenantId: params.tenantId,
        text: `zapflow: pausei a automação para ${params.contactKey} até ${new Date(params.until).toISOString()}: parece um robô do outro lado (${params.reason}). Retome com DELETE /api/contacts/${params.contactKey}/handover.`,
        idempotencyKey: `loop:${params.triggerMessageId}`,
      });
      logger(deps).warn(`automation paused for a contact: bot suspected (${params.reason})`);
    },

    /**
     * Starts or resets the contact's follow-up (signalWithStart): on each inbound message and
     * after an AI reply (other sends do it in their delivery: services/followUps.ts). `stop` only
     * reaches a running one.
     */
    async touchFollowUp(params: { tenantId: string; contactKey: string; channelId: string; event: 'inbound' | 'outbound' | 'stop'; at: number; reason?: string }): Promise<void> {
      if (params.event === 'stop') {
        await stopFollowUp(deps, params, params.reason ?? 'stopped');
        return;
      }
      await startOrResetFollowUp(temporalOf(deps), { tenantId: params.tenantId, contactKey: params.contactKey, channelId: params.channelId, event: params.event, at: params.at });
    },

    /**
     * One AI turn: the contact's messages (voice notes transcribed, images described when the
     * tenant wants it), recent history, relevant knowledge, persona → the answer, split into
     * parts. Stored under the turn key: a retry reuses it.
     */
    async aiGenerateReply(params: { tenantId: string; contactKey: string; channelId: string; messageIds: string[]; turnKey: string }): Promise<
      { outcome: 'reply'; parts: string[]; interactionId: string } | { outcome: 'skip'; reason: string }
    > {
      if (!ai) return { outcome: 'skip', reason: 'AI unavailable: no OPENAI_API_KEY' };
      const contact = await getContactState(deps.db, params);
      if (!contact) return { outcome: 'skip', reason: 'contact not found' };
      if (contact.optedOutAt) return { outcome: 'skip', reason: 'contact opted out' };
      if (contact.pausedUntil && contact.pausedUntil.getTime() > Date.now()) return { outcome: 'skip', reason: `paused: ${contact.pauseReason ?? ''}` };
      const settings = conversationSettingsOf(contact.settings);
      const model = tenantModel(settings.ai.model);
      const interaction = await beginInteraction(deps.db, {
        key: `reply:${params.turnKey}`,
        tenantId: params.tenantId,
        contactKey: params.contactKey,
        kind: 'reply',
        model,
        input: { messageIds: params.messageIds },
      });
      const stored = interaction.output as { parts?: string[] } | null;
      if (interaction.status === 'ok' && stored?.parts?.length) return { outcome: 'reply', parts: stored.parts, interactionId: interaction.id };
      // The tenant's daily budget spent: no call, recorded, and the turn goes on as without AI.
      const refusal = await budgetSpent(params.tenantId, contact.timezone);
      if (refusal) {
        await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', output: { reason: refusal } });
        return { outcome: 'skip', reason: refusal };
      }

      const rows = await messagesByIds(deps.db, { tenantId: params.tenantId, ids: params.messageIds });
      const turn: string[] = [];
      for (const row of rows) {
        const derived =
          row.type === 'media'
            ? await mediaText(params.tenantId, row, { transcribe: settings.ai.transcribeAudio, describe: settings.ai.describeImages, timezone: contact.timezone })
            : undefined;
        const text = [derived ? `[${(row.payload.media as { kind?: string })?.kind === 'audio' ? 'áudio' : 'imagem'}] ${derived}` : '', row.body ?? ''].filter(Boolean).join(' ').trim();
        if (text) turn.push(text);
      }
      if (turn.length === 0) {
        await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', output: { reason: 'nothing to answer (no text)' } });
        return { outcome: 'skip', reason: 'nothing to answer (no text)' };
      }
      const [history, knowledge] = await Promise.all([
        recentHistory(deps.db, { ...params, limit: config.AI_HISTORY_MESSAGES, excludeIds: params.messageIds }),
        searchKnowledge(deps.db, { tenantId: params.tenantId, text: turn.join(' '), limit: config.AI_KNOWLEDGE_SNIPPETS }),
      ]);
      const boundedHistory = boundHistory(history, { historyMessages: config.AI_HISTORY_MESSAGES, historyChars: config.AI_HISTORY_CHARS });
      const snippets = boundKnowledge(knowledge, config.AI_KNOWLEDGE_CHARS);
      const prompt = buildReplyPrompt({
        persona: settings.ai.persona,
        instructions: settings.ai.instructions,
        contactName: contact.name ?? undefined,
        knowledge: snippets,
        history: boundedHistory,
        turn,
        now: new Date(),
        timezone: contact.timezone,
      });
      const input = {
        messageIds: params.messageIds,
        snippetIds: snippets.map((s) => s.id),
        historyMessages: boundedHistory.length,
        promptChars: promptChars(prompt),
        estimatedPromptTokens: estimateTokens(prompt),
      };
      const answer = await guarded(interaction, () => ai.chat({ messages: prompt, maxTokens: config.AI_MAX_REPLY_TOKENS, model }));
      const parts = splitMessage(answer.text.trim(), { maxChars: config.AI_SPLIT_CHARS, maxParts: config.AI_MAX_PARTS });
      if (parts.length === 0) {
        await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', usage: answer.usage, input, output: { reason: 'empty answer' } });
        return { outcome: 'skip', reason: 'empty answer' };
      }
      await finishInteraction(deps.db, { id: interaction.id, status: 'ok', usage: answer.usage, model: answer.model, input, output: { text: answer.text, parts }, error: null });
      return { outcome: 'reply', parts, interactionId: interaction.id };
    },

    /** Sends an answer's parts, each after "typing…" proportional to its length. */
    async aiSendReply(params: { tenantId: string; contactKey: string; channelId: string; parts: string[]; turnKey: string }): Promise<{ sent: number; at: number; lastText: string } | { sent: 0; skipped: string }> {
      const contact = await getContactState(deps.db, params);
      if (contact?.pausedUntil && contact.pausedUntil.getTime() > Date.now()) return { sent: 0, skipped: `paused: ${contact.pauseReason ?? ''}` };
      const channel = await getChannelById(deps.db, { channelId: params.channelId });
      let sent = 0;
      for (const [i, text] of params.parts.entries()) {
        heartbeat();
        // The key also makes the first part's send an ai_reply in the event log (SEND_KEYS).
        const idempotencyKey = SEND_KEYS.aiReplyPart(params.turnKey, i);
        const already = await isSentWithKey(deps.db, { idempotencyKey });
        if (!already && channel) {
          const ms = typingMs(text, config.AI_TYPING_PER_CHAR, config.AI_TYPING_MAX);
          if (ms > 0) {
            try {
              await deps.providers[channel.provider].presence(channelTarget(channel), params.contactKey, 'composing', ms);
            } catch {
              // "typing…" is a nicety: a provider without it (or a blip) does not stop the answer
            }
            if (channel.provider !== 'evolution') await heartbeatSleep(ms); // Evolution holds the presence call for the duration itself
          }
        }
        await deliverOrFail(deps, {
          tenantId: params.tenantId,
          channelId: params.channelId,
          contactKey: params.contactKey,
          message: { type: 'text', text },
          idempotencyKey,
        });
        sent++;
      }
      return { sent, at: Date.now(), lastText: params.parts[params.parts.length - 1] ?? '' };
    },

    /** Scores inbound texts (sentiment, emotion, satisfaction) on their rows; off the webhook path. */
    async analyseMessages(params: { tenantId: string; messageIds: string[] }): Promise<number> {
      if (!ai || params.messageIds.length === 0) return 0;
      const rows = await unanalysedMessages(deps.db, { tenantId: params.tenantId, ids: params.messageIds });
      const items = rows.map((r) => ({ id: r.id, text: (r.body ?? r.aiText ?? '').trim() })).filter((i) => i.text);
      if (items.length === 0) return 0;
      const key = `analysis:${createHash('sha256').update(items.map((i) => i.id).sort().join(',')).digest('hex').slice(0, 32)}`;
      const interaction = await beginInteraction(deps.db, { key, tenantId: params.tenantId, kind: 'analysis', model: ai.model, input: { messageIds: items.map((i) => i.id) } });
      const refusal = await budgetSpent(params.tenantId, undefined);
      if (refusal) {
        await finishInteraction(deps.db, { id: interaction.id, status: 'skipped', output: { reason: refusal } });
        return 0;
      }
      const answer = await guarded(interaction, () => ai.chat({ messages: buildAnalysisPrompt(items), maxTokens: 60 + 40 * items.length, json: true, temperature: 0 }));
      const parsed = parseJsonAnswer(answer.text) as { results?: Array<Record<string, unknown>> } | undefined;
      let written = 0;
      for (const r of parsed?.results ?? []) {
        const id = typeof r.id === 'string' ? r.id : '';
        if (!items.some((i) => i.id === id)) continue;
        const sentiment = Number(r.sentiment);
        const satisfaction = Number(r.satisfaction);
        await recordMessageAnalysis(deps.db, {
          messageId: id,
          sentiment: Number.isFinite(sentiment) ? Math.max(-1, Math.min(1, sentiment)) : null,
          emotion: typeof r.emotion === 'string' ? r.emotion.slice(0, 32).toLowerCase() : null,
          satisfaction: Number.isFinite(satisfaction) ? Math.round(Math.max(0, Math.min(100, satisfaction))) : null,
        });
        written++;
      }
      await finishInteraction(deps.db, { id: interaction.id, status: parsed ? 'ok' : 'failed', usage: answer.usage, output: { written }, ...(parsed ? {} : { error: { message: 'answer was not JSON' } }) });
      return written;
    },

    /**
     * What the follow-up workflow needs to know now: the conversation's times, blocks, the
     * tenant's policy, and, on a Meta channel, until when a free-text follow-up may go out.
     */
    async followUpContext(params: { tenantId: string; contactKey: string; channelId?: string }) {
      const contact = await getContactState(deps.db, params);
      if (!contact) return { blocked: 'contact not found' } as const;
      const settings = conversationSettingsOf(contact.settings);
      const policy = followUpPolicy(config, settings, contact.timezone);
      let blocked: string | undefined;
      if (!policy.enabled) blocked = 'follow-ups are off for this tenant';
      else if (policy.max === 0) blocked = 'follow-ups are capped at 0';
      else if (contact.optedOutAt) blocked = 'contact opted out';
      else if (contact.pausedUntil && contact.pausedUntil.getTime() > Date.now()) blocked = `paused (${contact.pauseReason ?? 'handover'})`;
      else if (!ai && !policy.fallbackText) blocked = 'no AI (OPENAI_API_KEY unset) and no fallback text';
      const [runs, channel] = blocked
        ? [[], undefined]
        : await Promise.all([activeRunsOfContact(deps.db, params), params.channelId ? getChannelById(deps.db, { channelId: params.channelId }) : undefined]);
      // Meta's customer service window: outside it only templates go out, and a follow-up is free text.
      const freeTextUntil = channel?.provider === 'meta' ? (contact.lastInboundAt ? contact.lastInboundAt.getTime() + META_WINDOW_MS : 0) : undefined;
      return {
        ...(blocked ? { blocked } : {}),
        lastOutboundAt: contact.lastOutboundAt?.getTime(),
        lastInboundAt: contact.lastInboundAt?.getTime(),
        ...(freeTextUntil !== undefined ? { freeTextUntil } : {}),
        activeRuns: runs.length,
        policy: { quietMs: policy.quietMs, max: policy.max, windows: policy.windows, days: policy.days, timezone: policy.timezone },
      };
    },

    /** Asks the AI whether to follow up and with what text (or takes the fallback text without AI). Stored under `key`. */
    async followUpCompose(params: { tenantId: string; contactKey: string; key: string; number: number; max: number; quietMs: number }): Promise<{ send: boolean; text?: string; reason: string }> {
      const contact = await getContactState(deps.db, params);
      if (!contact) return { send: false, reason: 'contact not found' };
      const settings = conversationSettingsOf(contact.settings);
      const policy = followUpPolicy(config, settings, contact.timezone);
      const model = ai ? tenantModel(settings.ai.model) : 'fallback';
      const interaction = await beginInteraction(deps.db, {
        key: `followup:${params.key}`,
        tenantId: params.tenantId,
        contactKey: params.contactKey,
        kind: 'followup',
        model,
        input: { number: params.number },
      });
      const stored = interaction.output as { send?: boolean; text?: string; reason?: string } | null;
      if (['ok', 'declined'].includes(interaction.status) && stored?.reason) return { send: Boolean(stored.send), text: stored.text, reason: stored.reason };
      // No AI, or the tenant's daily budget spent: as without AI (the fallback text, if any).
      const refusal = ai ? await budgetSpent(params.tenantId, contact.timezone) : undefined;
      if (!ai || refusal) {
        const decision = policy.fallbackText
          ? { send: true, text: policy.fallbackText, reason: refusal ? `fallback text (${refusal})` : 'fallback text (no AI)' }
          : { send: false, reason: refusal ?? 'no AI and no fallback text' };
        await finishInteraction(deps.db, { id: interaction.id, status: decision.send ? 'ok' : 'declined', output: decision });
        return decision;
      }
      const history = boundHistory(await recentHistory(deps.db, { ...params, limit: config.AI_HISTORY_MESSAGES }), {
        historyMessages: config.AI_HISTORY_MESSAGES,
        historyChars: config.AI_HISTORY_CHARS,
      });
      const prompt = buildFollowUpPrompt({
        persona: settings.ai.persona,
        instructions: policy.instructions ?? settings.ai.instructions,
        contactName: contact.name ?? undefined,
        history,
        number: params.number,
        max: params.max,
        quietFor: describeDuration(params.quietMs),
        now: new Date(),
        timezone: contact.timezone,
      });
      const answer = await guarded(interaction, () => ai.chat({ messages: prompt, maxTokens: 200, json: true, model }));
      const parsed = parseJsonAnswer(answer.text) as { send?: unknown; text?: unknown; reason?: unknown } | undefined;
      const text = typeof parsed?.text === 'string' ? parsed.text.trim() : '';
      const decision =
        parsed && parsed.send === true && text
          ? { send: true, text, reason: typeof parsed.reason === 'string' ? parsed.reason : 'AI chose to follow up' }
          : { send: false, reason: parsed ? (typeof parsed.reason === 'string' && parsed.reason ? `AI: ${parsed.reason}` : 'AI chose not to follow up') : 'AI answer was not JSON' };
      await finishInteraction(deps.db, {
        id: interaction.id,
        status: decision.send ? 'ok' : 'declined',
        usage: answer.usage,
        model: answer.model,
        input: { number: params.number, promptChars: promptChars(prompt), estimatedPromptTokens: estimateTokens(prompt) },
        output: decision,
        error: null,
      });
      return decision;
    },

    /** Sends a follow-up after checking, once more, that nothing changed (opt-out, pause, a reply). */
    async followUpSend(params: { tenantId: string; contactKey: string; channelId: string; text: string; key: string }): Promise<{ sent: true; at: number } | { sent: false; reason: string }> {
      const contact = await getContactState(deps.db, params);
      if (!contact) return { sent: false, reason: 'contact not found' };
      if (contact.optedOutAt) return { sent: false, reason: 'contact opted out' };
      if (contact.pausedUntil && contact.pausedUntil.getTime() > Date.now()) return { sent: false, reason: `paused (${contact.pauseReason ?? 'handover'})` };
      await deliverOrFail(deps, {
        tenantId: params.tenantId,
        channelId: params.channelId,
        contactKey: params.contactKey,
        message: { type: 'text', text: params.text },
        // The key also logs the send as followup_sent (SEND_KEYS).
        idempotencyKey: SEND_KEYS.followUp(params.key),
      });
      return { sent: true, at: Date.now() };
    },
  };
}

/** Stops the contact's follow-up if one runs. */
async function stopFollowUp(deps: ActivityDeps, params: { tenantId: string; contactKey: string }, reason: string): Promise<void> {
  if (!deps.temporal) return;
  await signalIfRunning(deps.temporal.client, followUpWorkflowId(params.tenantId, params.contactKey), followUpStopSignal, { reason });
}

function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // not inside an activity
  }
}

/** Waits inside an activity, heartbeating (cancellation ends it early). */
async function heartbeatSleep(ms: number): Promise<void> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined;
  }
  if (!ctx) {
    await new Promise((r) => setTimeout(r, ms));
    return;
  }
  const until = Date.now() + ms;
  for (let left = ms; left > 0; left = until - Date.now()) {
    ctx.heartbeat();
    await ctx.sleep(Math.min(left, 2_000));
  }
}
