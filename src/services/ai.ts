/**
 * OpenAI through the official SDK: one client per process (built from OPENAI_API_KEY,
 * OPENAI_BASE_URL, OPENAI_MODEL), the prompts zapflow sends, and the translation of SDK
 * errors into one small vocabulary. The SDK's own retries are off: Temporal retries the
 * activity, so every attempt is visible and bounded by configuration.
 *
 * Prompt bounds (what one AI reply can cost): the system part is persona and instructions
 * (each cut to PERSONA_CHARS), the most relevant knowledge snippets (AI_KNOWLEDGE_SNIPPETS,
 * AI_KNOWLEDGE_CHARS in total), the recent history (AI_HISTORY_MESSAGES, AI_HISTORY_CHARS in
 * total, each message cut to MESSAGE_CHARS), and the contact's turn (TURN_CHARS). The answer
 * is capped by AI_MAX_REPLY_TOKENS.
 */
import OpenAI, { toFile } from 'openai';
import type { Config } from '../config';
import type { Logger } from '../log';

export const PERSONA_CHARS = 1_500;
export const MESSAGE_CHARS = 600;
export const TURN_CHARS = 2_000;

export type AiErrorKind = 'rate_limited' | 'retryable' | 'quota' | 'auth' | 'rejected';

/** An AI call that failed; `kind` says whether trying again can help. */
export class AiError extends Error {
  override name = 'AiError';
  constructor(
    message: string,
    readonly kind: AiErrorKind,
    readonly details: { status?: number; retryAfterMs?: number; code?: string } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'retryable';
  }
}

export interface AiUsage {
  promptTokens?: number;
  completionTokens?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | Array<{ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }>;
}

export interface AiClient {
  model: string;
  chat(params: { messages: ChatMessage[]; maxTokens: number; json?: boolean; model?: string; temperature?: number }): Promise<{ text: string; usage: AiUsage; model: string }>;
  transcribe(params: { audio: Buffer; mimeType?: string; fileName?: string }): Promise<{ text: string }>;
}

export interface AiStatus {
  enabled: boolean;
  model?: string;
  baseUrl?: string;
  reason?: string;
}

/** The models a tenant may choose as `ai.model`: OPENAI_MODEL and AI_MODELS. */
export function allowedAiModels(config: Pick<Config, 'OPENAI_MODEL' | 'AI_MODELS'>): string[] {
  return [...new Set([config.OPENAI_MODEL, ...config.AI_MODELS])];
}

/**
 * The model to call for a tenant: its `ai.model` when the operator allows it, else
 * OPENAI_MODEL (`refused` says why, for a log line: settings stored before the allowlist).
 */
export function modelFor(config: Pick<Config, 'OPENAI_MODEL' | 'AI_MODELS'>, requested: string | undefined): { model: string; refused?: string } {
  if (requested === undefined || requested === config.OPENAI_MODEL) return { model: config.OPENAI_MODEL };
  if (config.AI_MODELS.includes(requested)) return { model: requested };
  return { model: config.OPENAI_MODEL, refused: `model "${requested}" is not in the allowed models (OPENAI_MODEL, AI_MODELS): using ${config.OPENAI_MODEL}` };
}

export function aiStatus(config: Config): AiStatus {
  if (!config.OPENAI_API_KEY) return { enabled: false, reason: 'OPENAI_API_KEY is not set: AI replies, follow-up texts, transcription and analysis are off' };
  return { enabled: true, model: config.OPENAI_MODEL, ...(config.OPENAI_BASE_URL ? { baseUrl: config.OPENAI_BASE_URL } : {}) };
}

/**
 * For `AppDeps.healthInfo`: `/health` says whether AI is on (and why not). Logs the state
 * once when built, so the API's start-up log says it too.
 */
export function conversationHealthInfo(config: Config, log?: Logger): () => Record<string, unknown> {
  const status = aiStatus(config);
  if (log) {
    if (status.enabled) log.info({ model: status.model }, 'AI features available');
    else log.warn(status.reason);
  }
  return () => ({ ai: status });
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const s = headers?.get('retry-after');
  if (!s) return undefined;
  const seconds = Number(s);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** SDK errors → AiError. Compares names, not classes: jest realms break instanceof. */
export function toAiError(err: unknown): AiError {
  if (err instanceof AiError) return err;
  const e = err as { name?: string; status?: number; headers?: Headers; code?: string | null; message?: string };
  const message = String(e?.message ?? err).slice(0, 500);
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === 429) {
    if (e.code === 'insufficient_quota') return new AiError(message, 'quota', { status, code: e.code ?? undefined });
    return new AiError(message, 'rate_limited', { status, retryAfterMs: retryAfterMs(e.headers) });
  }
  if (status === 401 || status === 403) return new AiError(message, 'auth', { status });
  if (status !== undefined && status >= 500) return new AiError(message, 'retryable', { status });
  if (status === 408 || status === 409) return new AiError(message, 'retryable', { status });
  if (status !== undefined && status >= 400) return new AiError(message, 'rejected', { status, code: e.code ?? undefined });
  // Connection errors, timeouts, an answer that did not parse: try again.
  return new AiError(message, 'retryable');
}

/** The process's AI client; undefined when no key is configured (AI features off). */
export function createAiClient(config: Config): AiClient | undefined {
  if (!config.OPENAI_API_KEY) return undefined;
  const openai = new OpenAI({
    apiKey: config.OPENAI_API_KEY,
    baseURL: config.OPENAI_BASE_URL,
    timeout: config.AI_TIMEOUT,
    maxRetries: 0,
  });
  return {
    model: config.OPENAI_MODEL,
    async chat(params) {
      const model = params.model ?? config.OPENAI_MODEL;
      try {
        const res = await openai.chat.completions.create({
          model,
          messages: params.messages as OpenAI.Chat.Completions.ChatCompletionMessageParam[],
          max_tokens: params.maxTokens,
          temperature: params.temperature ?? 0.4,
          ...(params.json ? { response_format: { type: 'json_object' as const } } : {}),
        });
        const text = res.choices?.[0]?.message?.content ?? '';
        return {
          text,
          model: res.model ?? model,
          usage: { promptTokens: res.usage?.prompt_tokens, completionTokens: res.usage?.completion_tokens },
        };
      } catch (err) {
        throw toAiError(err);
      }
    },
    async transcribe(params) {
      try {
        const file = await toFile(params.audio, params.fileName ?? 'audio.ogg', { type: params.mimeType ?? 'audio/ogg' });
        const res = await openai.audio.transcriptions.create({ file, model: config.OPENAI_TRANSCRIBE_MODEL });
        return { text: res.text ?? '' };
      } catch (err) {
        throw toAiError(err);
      }
    },
  };
}

// ─── prompts ───────────────────────────────────────────────────────────────────────────

export interface HistoryMessage {
  /** contact: the contact; us: zapflow, the business phone or the API. */
  from: 'contact' | 'us';
  text: string;
  at: Date;
}

export interface KnowledgeSnippet {
  id: string;
  title?: string | null;
  content: string;
}

export interface PromptLimits {
  historyMessages: number;
  historyChars: number;
  knowledgeChars: number;
}

function cut(text: string, max: number): string {
  const t = text.trim();
  return t.length <= max ? t : `${t.slice(0, max - 1).trimEnd()}…`;
}

/** The newest messages that fit the bounds, oldest first. */
export function boundHistory(history: HistoryMessage[], limits: Pick<PromptLimits, 'historyMessages' | 'historyChars'>): HistoryMessage[] {
  const out: HistoryMessage[] = [];
  let chars = 0;
  for (const m of [...history].reverse()) {
    if (out.length >= limits.historyMessages) break;
    const text = cut(m.text, MESSAGE_CHARS);
    if (!text) continue;
    if (chars + text.length > limits.historyChars) break;
    chars += text.length;
    out.push({ ...m, text });
  }
  return out.reverse();
}

export function boundKnowledge(snippets: KnowledgeSnippet[], maxChars: number): KnowledgeSnippet[] {
  const out: KnowledgeSnippet[] = [];
  let left = maxChars;
  for (const s of snippets) {
    if (left < 80) break;
    const content = cut(s.content, left);
    left -= content.length + (s.title?.length ?? 0);
    out.push({ ...s, content });
  }
  return out;
}

const DEFAULT_PERSONA = 'Você é o assistente de vendas da empresa no WhatsApp: cordial, direto e prestativo.';

function systemPrompt(parts: { persona?: string; instructions?: string; knowledge: KnowledgeSnippet[]; contactName?: string; now: Date; timezone: string; task: string }): string {
  const lines = [
    cut(parts.persona || DEFAULT_PERSONA, PERSONA_CHARS),
    parts.task,
    'Escreva como numa conversa de WhatsApp: frases curtas, sem markdown, sem listas longas, no idioma do cliente (português do Brasil por padrão).',
    'Use apenas as informações desta conversa e do conhecimento abaixo. Se não souber algo (preço, prazo, disponibilidade), diga que vai confirmar com a equipe: nunca invente.',
    `Agora: ${parts.now.toLocaleString('pt-BR', { timeZone: parts.timezone })} (${parts.timezone}).`,
  ];
  if (parts.contactName) lines.push(`Nome do cliente: ${cut(parts.contactName, 80)}.`);
  if (parts.instructions) lines.push(`Instruções da empresa: ${cut(parts.instructions, PERSONA_CHARS)}`);
  if (parts.knowledge.length) {
    lines.push('Conhecimento da empresa:');
    for (const k of parts.knowledge) lines.push(`- ${k.title ? `${k.title}: ` : ''}${k.content}`);
  }
  return lines.join('\n');
}

function historyMessages(history: HistoryMessage[]): ChatMessage[] {
  return history.map((m) => ({ role: m.from === 'contact' ? 'user' : 'assistant', content: m.text }));
}

/** The chat for an AI reply: system (persona, rules, knowledge), history, then the contact's turn. */
export function buildReplyPrompt(p: {
  persona?: string;
  instructions?: string;
  contactName?: string;
  knowledge: KnowledgeSnippet[];
  history: HistoryMessage[];
  turn: string[];
  now: Date;
  timezone: string;
}): ChatMessage[] {
  return [
    {
      role: 'system',
      content: systemPrompt({ ...p, task: 'Responda à última mensagem do cliente, em no máximo 3 ou 4 frases.' }),
    },
    ...historyMessages(p.history),
    { role: 'user', content: cut(p.turn.join('\n'), TURN_CHARS) },
  ];
}

/** The chat asking whether (and how) to follow up with a contact who went quiet. Answer: JSON. */
export function buildFollowUpPrompt(p: {
  persona?: string;
  instructions?: string;
  contactName?: string;
  history: HistoryMessage[];
  number: number;
  max: number;
  quietFor: string;
  now: Date;
  timezone: string;
}): ChatMessage[] {
  const task = [
    `O cliente não responde há ${p.quietFor}. Decida se vale mandar um follow-up (${p.number} de no máximo ${p.max}).`,
    'Mande só se a conversa ficou em aberto (uma dúvida, uma proposta, um próximo passo). Não mande se o cliente encerrou, recusou, já comprou ou pediu para parar.',
    'Se mandar: uma mensagem curta, natural, que retome o assunto sem pressionar.',
    'Responda só com JSON: {"send": true|false, "text": "a mensagem", "reason": "por quê, em poucas palavras"}.',
  ].join('\n');
  const transcript = p.history.map((m) => `${m.from === 'contact' ? 'Cliente' : 'Empresa'}: ${m.text}`).join('\n');
  return [
    { role: 'system', content: systemPrompt({ ...p, knowledge: [], task }) },
    { role: 'user', content: `Conversa até agora:\n${transcript || '(sem mensagens)'}` },
  ];
}

/** Scores inbound texts. Answer: JSON {"results":[{"id","sentiment","emotion","satisfaction"}]}. */
export function buildAnalysisPrompt(items: Array<{ id: string; text: string }>): ChatMessage[] {
  return [
    {
      role: 'system',
      content: [
        'Analise cada mensagem de cliente abaixo (WhatsApp, vendas).',
        'Para cada uma: sentiment de -1 (muito negativo) a 1 (muito positivo); emotion, uma palavra em inglês entre joy, trust, anticipation, surprise, neutral, confusion, sadness, fear, anger, disgust; satisfaction de 0 a 100.',
        'Responda só com JSON: {"results":[{"id":"…","sentiment":0.0,"emotion":"neutral","satisfaction":50}]}.',
      ].join('\n'),
    },
    { role: 'user', content: JSON.stringify(items.map((i) => ({ id: i.id, text: cut(i.text, MESSAGE_CHARS) }))) },
  ];
}

export function buildImagePrompt(dataUrl: string, caption?: string): ChatMessage[] {
  return [
    {
      role: 'user',
      content: [
        {
          type: 'text',
          text: `Descreva esta imagem enviada por um cliente no WhatsApp em uma ou duas frases, em português, com o que importa para atendê-lo (produto, texto visível, valores de um comprovante).${caption ? ` Legenda do cliente: "${cut(caption, 300)}".` : ''}`,
        },
        { type: 'image_url', image_url: { url: dataUrl } },
      ],
    },
  ];
}

/** Rough size of a prompt in tokens (about 4 characters per token), for logs and reports. */
export function estimateTokens(messages: ChatMessage[]): number {
  let chars = 0;
  for (const m of messages) chars += typeof m.content === 'string' ? m.content.length : m.content.reduce((n, c) => n + (c.type === 'text' ? c.text.length : 0), 0);
  return Math.ceil(chars / 4) + messages.length * 4;
}

export function promptChars(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
}

/** Parses a JSON answer, tolerating a fenced block around it. */
export function parseJsonAnswer(text: string): unknown {
  const trimmed = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/```$/, '');
  try {
    return JSON.parse(trimmed);
  } catch {
    const m = /\{[\s\S]*\}/.exec(trimmed);
    if (m) {
      try {
        return JSON.parse(m[0]);
      } catch {
        // fall through
      }
    }
    return undefined;
  }
}
