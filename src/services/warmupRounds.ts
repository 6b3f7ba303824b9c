/**
 * One round of a warm-up, run by its workflow's activity: two of the plan's numbers talk.
 *
 * The round checks the plan is running and which of its numbers are usable (connected, by
 * channels.connection_state, and with a known phone number); with fewer than two it is
 * recorded as skipped with the reason, and the workflow looks again later. Otherwise the
 * round's pair (domain/warmup.ts roundPair) exchanges `turnsPerRound` messages: the
 * initiator opens (AI when the plan asks and the server has it, else a phrase or topic), and
 * each answer comes after a human-like pause showing "typing…". Every message goes through
 * the one delivery (channel quotas count it; the tenant's daily quota does not) under the key
 * `warmup:<id>:<round>:<turn>`, so a retried round sends no turn twice; the round's row is
 * written once it is over (done, failed with the reason, or cut short by a pause).
 */
import { loadConfig, type Config } from '../config';
import { listChannelRows, type ChannelRow } from '../db/queries/channels';
import { SEND_KEYS } from '../db/queries/conversationEvents';
import { isSentWithKey } from '../db/queries/sends';
import { getWarmupById, recordWarmupRound, recordWarmupSkip, warmupStatus } from '../db/queries/warmups';
import { isUsableState } from '../domain/channelState';
import { canonicalPhone } from '../domain/phone';
import { roundPair, warmupText } from '../domain/warmup';
import { ProviderError } from '../providers/errors';
import type { WarmupRoundRequest, WarmupRoundResult } from '../workflows/warmupTypes';
import type { AiClient, ChatMessage } from './ai';
import { channelTarget, deliverCounted, finalSendFailure } from './delivery';
import type { ServiceDeps } from './deps';
import { SendDeferred } from './quotas';
import { warmupDefinitionOf, type WarmupDefinition } from './warmups';

export interface RoundHooks {
  /** Progress (turns sent), about every turn and every second of a pause: the activity heartbeats it. */
  heartbeat?(turns: number): void;
  /** Waits `ms` (the activity's cancellable sleep); default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** OpenAI, when the server has it. */
  ai?: AiClient;
}

let envConfig: Config | undefined;
function configOf(deps: ServiceDeps): Config {
  return deps.config ?? (envConfig ??= loadConfig());
}

const label = (c: Pick<ChannelRow, 'externalId' | 'name'>) => c.name ?? c.externalId;

/** The plan's numbers that can talk now, and why each other one cannot. */
function usableNumbers(definition: WarmupDefinition, rows: ChannelRow[]): { usable: Array<ChannelRow & { phone: string }>; reasons: string[] } {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const usable: Array<ChannelRow & { phone: string }> = [];
  const reasons: string[] = [];
  for (const c of definition.channels) {
    const row = byId.get(c.id);
    if (!row) {
      reasons.push(`${c.name} was removed`);
      continue;
    }
    if (!isUsableState(row.connectionState)) {
      reasons.push(`${label(row)} is ${row.connectionState}`);
      continue;
    }
    const phone = row.phoneNumber ? (canonicalPhone(row.phoneNumber) ?? row.phoneNumber) : null;
    if (!phone) {
      reasons.push(`${label(row)} has no known phone number yet (connect it)`);
      continue;
    }
    usable.push({ ...row, phone });
  }
  return { usable, reasons };
}

/** A pause between `min` and `max`. */
function humanPause(config: Config): number {
  const min = config.WARMUP_REPLY_PAUSE_MIN;
  const max = Math.max(min, config.WARMUP_REPLY_PAUSE_MAX);
  return Math.round(min + Math.random() * (max - min));
}

/** The next message by AI (a casual chat about one of the topics), or undefined when it could not say one. */
async function aiText(ai: AiClient, definition: WarmupDefinition, said: string[], deps: ServiceDeps): Promise<string | undefined> {
  const topics = definition.topics?.length ? definition.topics : (definition.phrases ?? []).slice(0, 5);
  const topic = topics.length > 0 ? topics[Math.floor(Math.random() * topics.length)] : undefined;
  const messages: ChatMessage[] = [
    {
      role: 'system',
      content:
        'You are a person chatting casually on WhatsApp with a friend. Write only your next message: one or two short, informal sentences in Brazilian Portuguese, no quotes, no links.' +
        (topic ? ` Talk about: ${topic.slice(0, 200)}.` : ''),
    },
    ...said.slice(-6).map((text, i, all): ChatMessage => ({ role: (all.length - i) % 2 === 1 ? 'user' : 'assistant', content: text.slice(0, 300) })),
  ];
  if (said.length === 0) messages.push({ role: 'user', content: 'Start the conversation.' });
  try {
    const answer = await ai.chat({ messages, maxTokens: 80, temperature: 0.9 });
    const text = answer.text.trim().slice(0, 500);
    return text || undefined;
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, kind: (err as { kind?: string }).kind }, 'warm-up: AI text failed; using the phrases');
    return undefined;
  }
}

/** Runs round `req.round` of a warm-up (see the module comment). */
export async function runWarmupRound(deps: ServiceDeps, req: WarmupRoundRequest, hooks: RoundHooks = {}): Promise<WarmupRoundResult> {
  const { db } = deps;
  const config = configOf(deps);
  const began = Date.now();
  /** The round's clock: the workflow's time at its start, moved on as real time passes (time-skipping tests run the workflow ahead). */
  const at = () => new Date(req.at + (Date.now() - began));
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  const warmup = await getWarmupById(db, { warmupId: req.warmupId });
  if (!warmup) return { status: 'stopped', messages: 0, planStatus: 'cancelled' };
  if (warmup.status !== 'running') return { status: 'stopped', messages: 0, planStatus: warmup.status as 'paused' | 'cancelled' };
  const definition = warmupDefinitionOf(warmup.definition);
  const tenantId = warmup.tenantId;

  const { usable, reasons } = usableNumbers(definition, await listChannelRows(db, { tenantId }));
  if (usable.length < 2) {
    const reason = reasons.join('; ') || 'fewer than two numbers';
    await recordWarmupSkip(db, { warmupId: warmup.id, tenantId, day: req.day, reason, at: at() });
    return { status: 'skipped', messages: 0, reason };
  }
  const pair = roundPair(req.round, usable.length);
  const initiator = usable[pair.initiator];
  const responder = usable[pair.responder];
  const ai = definition.ai ? hooks.ai : undefined;

  const said: string[] = [];
  let messages = 0;
  let ended: { status: 'done' | 'failed' | 'skipped'; reason: string } | undefined;
  let stoppedAs: 'paused' | 'cancelled' | undefined;

  for (let turn = 0; turn < definition.turnsPerRound && !ended; turn++) {
    const from = turn % 2 === 0 ? initiator : responder;
    const to = turn % 2 === 0 ? responder : initiator;
    const idempotencyKey = SEND_KEYS.warmup(warmup.id, req.round, turn);
    hooks.heartbeat?.(messages);
    if (await isSentWithKey(db, { idempotencyKey })) {
      // An earlier attempt of this round sent it.
      messages++;
      continue;
    }
    if (turn > 0) {
      // A pause or cancel stops the round before its next message.
      const status = await warmupStatus(db, { warmupId: warmup.id });
      if (status !== 'running') {
        stoppedAs = status === 'paused' ? 'paused' : 'cancelled';
        ended = { status: 'done', reason: `cut short: the warm-up was ${stoppedAs}` };
        break;
      }
      const ms = humanPause(config);
      const target = channelTarget(from);
      await Promise.all([
        deps.providers[from.provider].presence(target, to.phone, 'composing', ms).catch((err: unknown) => {
          // "typing…" is a nicety: a provider without it (or a blip) does not stop the round.
          deps.log.debug({ err: (err as Error).message }, 'warm-up presence failed');
        }),
        pausing(ms, sleep, () => hooks.heartbeat?.(messages)),
      ]);
    }
    const text = (ai ? await aiText(ai, definition, said, deps) : undefined) ?? warmupText({ phrases: definition.phrases, topics: definition.topics, turn, random: Math.random });
    try {
      await deliverCounted(deps, {
        tenantId,
        channelId: from.id,
        contactKey: to.phone,
        message: { type: 'text', text },
        idempotencyKey,
        outsideTenantQuota: true,
      });
      said.push(text);
      messages++;
    } catch (err) {
      ended = endOf(err, from);
    }
  }

  // A round that sent something counts as run (done, or failed with the reason); one that sent nothing and must wait is a skip.
  const status = !ended ? 'done' : ended.status === 'failed' ? 'failed' : messages > 0 ? 'done' : 'skipped';
  const reason = ended?.reason ?? null;
  if (status === 'skipped') {
    await recordWarmupSkip(db, { warmupId: warmup.id, tenantId, day: req.day, reason: reason ?? 'nothing sent', at: at() });
  } else {
    await recordWarmupRound(db, {
      warmupId: warmup.id,
      tenantId,
      day: req.day,
      initiatorChannelId: initiator.id,
      responderChannelId: responder.id,
      messages,
      status,
      reason,
      startedAt: new Date(req.at),
      finishedAt: at(),
    });
  }
  hooks.heartbeat?.(messages);
  if (stoppedAs) return { status: 'stopped', messages, planStatus: stoppedAs };
  return { status, messages, ...(reason ? { reason } : {}) };
}

/** How a failed turn ends the round: a wait (quota, a number down) skips what is left; a refusal or a provider failure fails it. */
function endOf(err: unknown, from: ChannelRow): { status: 'failed' | 'skipped'; reason: string } {
  const who = label(from);
  if (err instanceof SendDeferred) return { status: 'skipped', reason: `${who}: ${err.message}` };
  if (err instanceof ProviderError && err.kind === 'rate_limited') return { status: 'skipped', reason: `${who}: rate limited by the provider` };
  const final = finalSendFailure(err);
  if (final) return { status: 'failed', reason: `${who}: ${final.type}: ${final.message}`.slice(0, 500) };
  return { status: 'failed', reason: `${who}: ${String((err as Error)?.message ?? err)}`.slice(0, 500) };
}

/** Waits `ms` in slices of a second, heartbeating between them. */
async function pausing(ms: number, sleep: (ms: number) => Promise<void>, beat: () => void): Promise<void> {
  const until = Date.now() + ms;
  for (let left = ms; left > 0; left = until - Date.now()) {
    await sleep(Math.min(left, 1_000));
    beat();
  }
}
