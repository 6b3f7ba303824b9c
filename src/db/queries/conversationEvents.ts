/**
 * The event log (conversation_events): appended in the transaction of the fact it records,
 * so a fact and its event are both there or neither. Pass the fact's transaction as `db`.
 */
import type { ConversationEventKind } from '../../domain/records';
import type { Db } from '../client';
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

export async function appendConversationEvents(db: Db, events: ConversationEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.insert(conversationEvents).values(events);
}
