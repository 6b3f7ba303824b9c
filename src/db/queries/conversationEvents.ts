/**
 * The event log (conversation_events): appended in the transaction of the fact it records,
 * so a fact and its event are both there or neither. Pass the fact's transaction as `db`.
 *
 * Most events are written inside the statement of their fact, as a CTE (messages.ts,
 * statuses.ts, sends.ts, funnelRuns.ts): those statements keep their single round trip.
 * The SQL fragments they share are here: which funnel and campaign a message belongs to, and
 * which sends are follow-ups and AI replies (by the idempotency key their sender gives them).
 */
import type { ConversationEventKind } from '../../domain/records';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import { conversationEvents } from '../schema';

export interface ConversationEvent {
  tenantId: string;
  kind: ConversationEventKind;
  /** When the fact happened (a read receipt's own time, not when it arrived). */
  occurredAt: Date;
  channelId?: string | null;
  funnelId?: string | null;
  campaignId?: string | null;
  contactId?: string | null;
  messageId?: string | null;
  runId?: string | null;
  stepId?: string | null;
  valueMs?: number | null;
}

/**
 * Appends events. A funnel run's fact already logged (same run, kind and step: an activity
 * retried) is skipped, not an error (conversation_events_run_uq).
 */
export async function appendConversationEvents(db: Db, events: ConversationEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.insert(conversationEvents).values(events).onConflictDoNothing();
}

/**
 * An event about a contact known by phone (opt-out, handover), with the contact's id looked up
 * in the same statement. `onlyIf: 'optedOutNow'` writes it only when this transaction is the
 * one that opted the contact out (opted_out_at = now(), the transaction's start): a retried
 * activity, whose earlier attempt committed, writes nothing. Returns whether it was written.
 */
export async function appendContactEvent(
  db: Db,
  params: {
    tenantId: string;
    contactKey: string;
    kind: ConversationEventKind;
    channelId?: string | null;
    runId?: string | null;
    stepId?: string | null;
    onlyIf?: 'optedOutNow';
  },
): Promise<boolean> {
  const rows = await queryPrepared<{ id: number }>(db, params.onlyIf === 'optedOutNow' ? APPEND_CONTACT_EVENT_IF_OPTED_OUT_NOW : APPEND_CONTACT_EVENT, [
    params.tenantId,
    params.contactKey,
    params.kind,
    params.channelId ?? null,
    params.runId ?? null,
    params.stepId ?? null,
  ]);
  return rows.length > 0;
}

/*
 * With a run, the event carries the run's funnel and campaign (funnel_runs by primary key).
 */
const APPEND_CONTACT_EVENT = `
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, run_id, step_id)
  select $1::uuid, now(), $3::text, $4::uuid, fr.funnel_id, fr.campaign_id,
    (select c.id from contacts c where c.tenant_id = $1::uuid and c.phone = $2::text), $5::text, $6::text
  from (select 1) one left join funnel_runs fr on fr.id = $5::text
  on conflict do nothing
  returning id::float8 as id`;

const APPEND_CONTACT_EVENT_IF_OPTED_OUT_NOW = `
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, funnel_id, campaign_id, contact_id, run_id, step_id)
  select $1::uuid, now(), $3::text, $4::uuid, fr.funnel_id, fr.campaign_id, c.id, $5::text, $6::text
  from contacts c left join funnel_runs fr on fr.id = $5::text
  where c.tenant_id = $1::uuid and c.phone = $2::text and c.opted_out_at = now()
  on conflict do nothing
  returning id::float8 as id`;

// ─── shared by the statements that log a message's events ───

/**
 * Idempotency keys of sends whose events say more than message_sent: the activities build
 * their keys with these (activities/conversation.ts), and RECORD_SENT recognises them.
 * An AI reply split into parts is one reply: its first part (`…:0`) counts it.
 */
export const SEND_KEYS = {
  aiReplyPart: (turnKey: string, part: number) => `ai:${turnKey}:${part}`,
  followUp: (key: string) => `followup:${key}`,
  /** A warm-up's turn between the tenant's own numbers: logs no event at all (not tenant traffic; see NOT_WARMUP). */
  warmup: (warmupId: string, round: number, turn: number) => `warmup:${warmupId}:${round}:${turn}`,
} as const;

/**
 * The condition (alias `x`, with `idempotency_key`) that a message is not a warm-up turn:
 * warm-ups exchange messages between the tenant's own numbers, which are no conversation with a
 * contact, so their sends, statuses and failures stay out of the event log and the metrics.
 */
export const NOT_WARMUP = `coalesce(x.idempotency_key, '') not like 'warmup:%'`;

/**
 * The event kinds of a send, from its key (alias `x`, with `idempotency_key`): rows (kind) to
 * join laterally.
 */
export const SEND_KIND_ROWS = `
  select 'message_sent'::text as kind
  union all select 'followup_sent' where x.idempotency_key like 'followup:%'
  union all select 'ai_reply' where x.idempotency_key like 'ai:%:0'`;

/**
 * The funnel and campaign of an outbound message (alias `x`, with `idempotency_key`), as a
 * lateral subquery yielding `funnel_id`, `campaign_id`, from the key its sender gave it:
 * - a funnel step's send: `<run id>:<step id>:<visit>` (workflows/funnel.ts; step ids are
 *   `[\w.-]+`, visits numbers), so the run is found by its primary key, and with it the funnel
 *   and the campaign whose click started the run;
 * - a campaign's send: `campaign:<campaign id>:<recipient>` (services/campaignSender.ts
 *   campaignSendKey).
 * At most one index probe, and nothing here can fail (the uuid is matched before its cast): a
 * statement that records a send must not. A message of neither kind gets nulls.
 */
export const MESSAGE_ATTRIBUTION = `
  select fr.funnel_id,
         coalesce(case when x.idempotency_key ~ '^campaign:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:' then split_part(x.idempotency_key, ':', 2)::uuid end, fr.campaign_id) as campaign_id
  from (select 1) one
  left join funnel_runs fr
    on x.idempotency_key like 'funnel:%' and fr.id = regexp_replace(x.idempotency_key, ':[^:]+:[0-9]+$', '')`;
