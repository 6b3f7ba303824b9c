/**
 * Conversations as the API sees them: handover (pause and resume every automation for a
 * contact), a contact's conversation state, and the tenant's conversation settings. The
 * history as the AI reads it is here too.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { getContactState, pauseContact, resumeContact } from '../db/queries/contacts';
import { appendContactEvent } from '../db/queries/conversationEvents';
import { activeRunsOfContact } from '../db/queries/funnelRuns';
import { recentMessagesOfContact } from '../db/queries/messages';
import { getTenant, updateTenantSettings } from '../db/queries/tenants';
import { DomainError } from '../domain/errors';
import { UNTIL_RESUMED } from '../domain/records';
import { contactWorkflowId, followUpWorkflowId } from '../domain/workflowIds';
import { signalIfRunning } from '../temporal/signals';
import { cancelRunSignal, contactControlSignal, followUpStateQuery, followUpStopSignal } from '../workflows/definitions';
import type { HistoryMessage } from './ai';
import { conversationSettingsOf, mergeConversationSettings } from './conversationSettings';

/** The newest messages of a contact, oldest first: text, or the AI-derived text of media. */
export async function recentHistory(
  db: Db,
  params: { tenantId: string; contactKey: string; limit: number; excludeIds?: string[] },
): Promise<Array<HistoryMessage & { id: string }>> {
  if (params.limit <= 0) return [];
  const rows = await recentMessagesOfContact(db, params);
  return rows
    .reverse()
    .map((r): HistoryMessage & { id: string } => ({
      id: r.id,
      from: r.direction === 'inbound' && r.author === 'contact' ? 'contact' : 'us',
      text: [r.aiText ? `[${r.type === 'media' ? 'mídia' : r.type}] ${r.aiText}` : '', r.body ?? ''].filter(Boolean).join(' ').trim(),
      at: r.providerTimestamp ?? r.createdAt,
    }))
    .filter((m) => m.text);
}

export class ContactNotFound extends DomainError {
  override name = 'ContactNotFound';
  constructor(message: string) {
    super('NotFound', message);
  }
}

export class ConversationService {
  constructor(
    private readonly db: Db,
    private readonly temporal: Client,
    /** The models tenants may choose (OPENAI_MODEL and AI_MODELS of this process's configuration). */
    private readonly allowedModels?: readonly string[],
  ) {}

  /**
   * Pauses all automation for the contact until `until` (default: until resumed): funnel runs
   * still going are cancelled (a person now leads the conversation; their remaining steps would
   * talk over them), the follow-up stops, the contact workflow drops any AI turn it was
   * preparing. New messages find the pause in the database.
   */
  async handover(tenantId: string, contactKey: string, opts: { until?: Date; reason?: string }) {
    const until = opts.until ?? UNTIL_RESUMED;
    const reason = `handover: ${opts.reason ?? 'API'}`;
    // The pause and its event (conversation_events, handover) in one transaction.
    const paused = await this.db.transaction(async (tx) => {
      const row = await pauseContact(tx, { tenantId, contactKey, until, reason });
      if (row) await appendContactEvent(tx, { tenantId, contactKey, kind: 'handover' });
      return row;
    });
    if (!paused) throw new ContactNotFound(`contact ${contactKey} not found`);
    const runs = await activeRunsOfContact(this.db, { tenantId, contactKey });
    for (const run of runs) await signalIfRunning(this.temporal, run.id, cancelRunSignal, { reason: 'handed over to a human' });
    await signalIfRunning(this.temporal, contactWorkflowId(tenantId, contactKey), contactControlSignal, { pausedUntil: until.getTime(), reason });
    await signalIfRunning(this.temporal, followUpWorkflowId(tenantId, contactKey), followUpStopSignal, { reason });
    return { contact: contactKey, pausedUntil: until.toISOString(), reason, cancelledRuns: runs.map((r) => r.id) };
  }

  async resume(tenantId: string, contactKey: string) {
    if (!(await resumeContact(this.db, { tenantId, contactKey }))) throw new ContactNotFound(`contact ${contactKey} not found`);
    await signalIfRunning(this.temporal, contactWorkflowId(tenantId, contactKey), contactControlSignal, { pausedUntil: 0, reason: 'resumed' });
    return { contact: contactKey, pausedUntil: null };
  }

  async status(tenantId: string, contactKey: string) {
    const c = await getContactState(this.db, { tenantId, contactKey });
    if (!c) throw new ContactNotFound(`contact ${contactKey} not found`);
    let followUp: unknown = null;
    try {
      const handle = this.temporal.workflow.getHandle(followUpWorkflowId(tenantId, contactKey));
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') followUp = await handle.query(followUpStateQuery);
    } catch {
      // no follow-up workflow for this contact
    }
    const paused = c.pausedUntil && c.pausedUntil.getTime() > Date.now();
    return {
      contact: contactKey,
      name: c.name,
      optedOut: c.optedOutAt !== null,
      pausedUntil: paused ? c.pausedUntil!.toISOString() : null,
      pauseReason: paused ? c.pauseReason : null,
      lastInboundAt: c.lastInboundAt?.toISOString() ?? null,
      lastOutboundAt: c.lastOutboundAt?.toISOString() ?? null,
      followUp,
    };
  }

  async settings(tenantId: string) {
    return conversationSettingsOf((await getTenant(this.db, { tenantId }))?.settings);
  }

  /** `update`: a request body, validated (ZodError: 400 with the field path) and merged as written. */
  async updateSettings(tenantId: string, update: unknown) {
    const next = await updateTenantSettings(this.db, { tenantId, change: (current) => mergeConversationSettings(current, update, { allowedModels: this.allowedModels }) });
    return conversationSettingsOf(next);
  }
}
