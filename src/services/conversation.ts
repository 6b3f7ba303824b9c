/**
 * Conversations: SQL (history, knowledge search, AI interactions, pauses) and the handover
 * operations the API calls. Query functions take `db` first.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, asc, desc, eq, gt, inArray, isNull, lt, ne, notInArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { aiInteractions, contacts, funnelRuns, knowledgeSnippets, messages, tenants, type TenantSettings } from '../db/schema';
import { contactWorkflowId } from '../domain/ids';
import { normaliseSearchText, queryTerms, toPrefixTsQuery } from '../domain/keywords';
import type { HistoryMessage, KnowledgeSnippet } from './ai';
import { mergeConversationSettings, conversationSettingsOf, type conversationSettingsInput } from './conversationSettings';
import type { z } from 'zod';

/** A handover pauses until a person resumes the contact (same value as funnel handovers). */
export const UNTIL_RESUMED = new Date('9999-12-31T00:00:00Z');

export function followUpWorkflowId(tenantId: string, contactKey: string): string {
  return `followup:${tenantId}:${contactKey}`;
}

// ─── history ───

const OUR_AUTHORS = ['zapflow', 'human', 'api'] as const;

/** The newest messages of a contact, oldest first: text, or the AI-derived text of media. */
export async function recentHistory(
  db: Db,
  params: { tenantId: string; contactKey: string; limit: number; excludeIds?: string[] },
): Promise<Array<HistoryMessage & { id: string }>> {
  if (params.limit <= 0) return [];
  const rows = await db
    .select({
      id: messages.id,
      direction: messages.direction,
      author: messages.author,
      body: messages.body,
      aiText: messages.aiText,
      type: messages.type,
      createdAt: messages.createdAt,
      providerTimestamp: messages.providerTimestamp,
    })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId))
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        ne(messages.status, 'failed'),
        or(eq(messages.direction, 'inbound'), sql`${messages.providerMessageId} is not null`),
        params.excludeIds?.length ? notInArray(messages.id, params.excludeIds) : undefined,
      ),
    )
    .orderBy(desc(messages.createdAt))
    .limit(params.limit);
  return rows
    .reverse()
    .map((r) => ({
      id: r.id,
      from: (r.direction === 'inbound' && r.author === 'contact' ? 'contact' : 'us') as HistoryMessage['from'],
      text: [r.aiText ? `[${r.type === 'media' ? 'mídia' : r.type}] ${r.aiText}` : '', r.body ?? ''].filter(Boolean).join(' ').trim(),
      at: r.providerTimestamp ?? r.createdAt,
    }))
    .filter((m) => m.text);
}

export async function messagesByIds(db: Db, params: { tenantId: string; ids: string[] }) {
  if (params.ids.length === 0) return [];
  return db
    .select()
    .from(messages)
    .where(and(eq(messages.tenantId, params.tenantId), inArray(messages.id, params.ids)))
    .orderBy(asc(messages.createdAt));
}

/**
 * A `fromMe` message that is really the provider's echo of our own send: zapflow sent that
 * provider id, or (the echo raced our bookkeeping) the same text to this contact moments ago.
 */
export async function isOwnEcho(db: Db, params: { tenantId: string; contactKey: string; providerMessageId: string; text?: string }): Promise<boolean> {
  const [byId] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.tenantId, params.tenantId), eq(messages.providerMessageId, params.providerMessageId), eq(messages.author, 'zapflow')))
    .limit(1);
  if (byId) return true;
  if (!params.text) return false;
  const [byText] = await db
    .select({ id: messages.id })
    .from(messages)
    .innerJoin(contacts, eq(contacts.id, messages.contactId))
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        eq(messages.author, 'zapflow'),
        eq(messages.body, params.text),
        gt(messages.createdAt, sql`now() - interval '2 minutes'`),
      ),
    )
    .limit(1);
  return Boolean(byText);
}

// ─── contacts: pause and state ───

export async function getContactState(db: Db, params: { tenantId: string; contactKey: string }) {
  const [row] = await db
    .select({
      id: contacts.id,
      name: contacts.name,
      optedOutAt: contacts.optedOutAt,
      pausedUntil: contacts.pausedUntil,
      pauseReason: contacts.pauseReason,
      lastInboundAt: contacts.lastInboundAt,
      lastOutboundAt: contacts.lastOutboundAt,
      timezone: tenants.timezone,
      settings: tenants.settings,
    })
    .from(contacts)
    .innerJoin(tenants, eq(tenants.id, contacts.tenantId))
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .limit(1);
  return row;
}

/** Pauses automation for a contact until `until`; `extendOnly` never shortens a longer pause (a handover). */
export async function pauseContact(
  db: Db,
  params: { tenantId: string; contactKey: string; until: Date; reason: string; extendOnly?: boolean },
): Promise<{ pausedUntil: Date; pauseReason: string | null } | undefined> {
  const [row] = await db
    .update(contacts)
    .set({ pausedUntil: params.until, pauseReason: params.reason, updatedAt: sql`now()` })
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        params.extendOnly ? or(isNull(contacts.pausedUntil), lt(contacts.pausedUntil, params.until)) : undefined,
      ),
    )
    .returning({ pausedUntil: contacts.pausedUntil, pauseReason: contacts.pauseReason });
  return row ? { pausedUntil: row.pausedUntil!, pauseReason: row.pauseReason } : undefined;
}

export async function resumeContact(db: Db, params: { tenantId: string; contactKey: string }): Promise<boolean> {
  const rows = await db
    .update(contacts)
    .set({ pausedUntil: null, pauseReason: null, updatedAt: sql`now()` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .returning({ id: contacts.id });
  return rows.length > 0;
}

export async function activeFunnelRuns(db: Db, params: { tenantId: string; contactKey: string }) {
  return db
    .select({ id: funnelRuns.id, status: funnelRuns.status, waitingFor: funnelRuns.waitingFor, waitingUntil: funnelRuns.waitingUntil })
    .from(funnelRuns)
    .where(
      and(
        eq(funnelRuns.tenantId, params.tenantId),
        eq(funnelRuns.contactKey, params.contactKey),
        inArray(funnelRuns.status, ['queued', 'running', 'waiting']),
      ),
    );
}

// ─── knowledge ───

export async function addKnowledge(db: Db, params: { tenantId: string; snippets: Array<{ title?: string; content: string }> }) {
  if (params.snippets.length === 0) return [];
  return db
    .insert(knowledgeSnippets)
    .values(
      params.snippets.map((s) => ({
        tenantId: params.tenantId,
        title: s.title ?? null,
        content: s.content,
        searchText: normaliseSearchText(`${s.title ?? ''} ${s.content}`),
      })),
    )
    .returning({ id: knowledgeSnippets.id, title: knowledgeSnippets.title, content: knowledgeSnippets.content, createdAt: knowledgeSnippets.createdAt });
}

export async function listKnowledge(db: Db, params: { tenantId: string; limit: number; offset: number }) {
  return db
    .select({ id: knowledgeSnippets.id, title: knowledgeSnippets.title, content: knowledgeSnippets.content, createdAt: knowledgeSnippets.createdAt })
    .from(knowledgeSnippets)
    .where(eq(knowledgeSnippets.tenantId, params.tenantId))
    .orderBy(asc(knowledgeSnippets.createdAt), asc(knowledgeSnippets.id))
    .limit(params.limit)
    .offset(params.offset);
}

export async function deleteKnowledge(db: Db, params: { tenantId: string; id: string }): Promise<boolean> {
  const rows = await db
    .delete(knowledgeSnippets)
    .where(and(eq(knowledgeSnippets.tenantId, params.tenantId), eq(knowledgeSnippets.id, params.id)))
    .returning({ id: knowledgeSnippets.id });
  return rows.length > 0;
}

/**
 * The tenant's snippets most relevant to `text`: Postgres full-text ranking (`ts_rank_cd`,
 * cover density, normalised by document length) of the snippets that share at least one
 * term prefix with it. Terms are accent-free and cut to 6 letters, so plurals and verb forms
 * meet ("entregam" finds "entrega"); stop words are dropped so "qual o preço" ranks on "preco".
 */
export async function searchKnowledge(db: Db, params: { tenantId: string; text: string; limit: number }): Promise<Array<KnowledgeSnippet & { rank: number }>> {
  const tsquery = toPrefixTsQuery(queryTerms(params.text));
  if (!tsquery || params.limit <= 0) return [];
  const q = sql`to_tsquery('simple', ${tsquery})`;
  const rank = sql<number>`ts_rank_cd(${knowledgeSnippets.search}, ${q}, 1)`;
  const rows = await db
    .select({ id: knowledgeSnippets.id, title: knowledgeSnippets.title, content: knowledgeSnippets.content, rank })
    .from(knowledgeSnippets)
    .where(and(eq(knowledgeSnippets.tenantId, params.tenantId), sql`${knowledgeSnippets.search} @@ ${q}`))
    .orderBy(desc(rank), asc(knowledgeSnippets.createdAt))
    .limit(params.limit);
  return rows.map((r) => ({ ...r, rank: Number(r.rank) }));
}

// ─── AI interactions ───

export type AiInteractionRow = typeof aiInteractions.$inferSelect;

/** The interaction for `key`: created the first time, counted as one more attempt after. */
export async function beginInteraction(
  db: Db,
  params: { key: string; tenantId: string; contactKey?: string; kind: AiInteractionRow['kind']; model?: string; input?: Record<string, unknown> },
): Promise<AiInteractionRow> {
  const [row] = await db
    .insert(aiInteractions)
    .values({
      key: params.key,
      tenantId: params.tenantId,
      contactKey: params.contactKey,
      kind: params.kind,
      model: params.model,
      input: params.input ?? {},
      attempts: 1,
    })
    .onConflictDoUpdate({ target: aiInteractions.key, set: { attempts: sql`${aiInteractions.attempts} + 1`, updatedAt: sql`now()` } })
    .returning();
  return row!;
}

export async function finishInteraction(
  db: Db,
  params: {
    id: string;
    status: AiInteractionRow['status'];
    output?: Record<string, unknown>;
    error?: Record<string, unknown> | null;
    usage?: { promptTokens?: number; completionTokens?: number };
    model?: string;
    input?: Record<string, unknown>;
  },
): Promise<void> {
  await db
    .update(aiInteractions)
    .set({
      status: params.status,
      ...(params.output ? { output: params.output } : {}),
      ...(params.error !== undefined ? { error: params.error } : {}),
      ...(params.usage?.promptTokens !== undefined ? { promptTokens: params.usage.promptTokens } : {}),
      ...(params.usage?.completionTokens !== undefined ? { completionTokens: params.usage.completionTokens } : {}),
      ...(params.model ? { model: params.model } : {}),
      ...(params.input ? { input: params.input } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(aiInteractions.id, params.id));
}

export async function listInteractions(db: Db, params: { tenantId: string; contactKey?: string; limit: number }) {
  return db
    .select()
    .from(aiInteractions)
    .where(and(eq(aiInteractions.tenantId, params.tenantId), params.contactKey ? eq(aiInteractions.contactKey, params.contactKey) : undefined))
    .orderBy(desc(aiInteractions.createdAt))
    .limit(params.limit);
}

// ─── handover (the API) ───

export class ContactNotFound extends Error {
  override name = 'ContactNotFound';
}

/** Tells a workflow something if it runs; one that is not running has nothing to stop. */
async function signalIfRunning(client: Client, workflowId: string, signal: string, arg: unknown): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).signal(signal, arg);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err as Error)?.name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

export class ConversationService {
  constructor(
    private readonly db: Db,
    private readonly temporal: Client,
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
    const paused = await pauseContact(this.db, { tenantId, contactKey, until, reason });
    if (!paused) throw new ContactNotFound(`contact ${contactKey} not found`);
    const runs = await activeFunnelRuns(this.db, { tenantId, contactKey });
    for (const run of runs) await signalIfRunning(this.temporal, run.id, 'cancel', { reason: 'handed over to a human' });
    await signalIfRunning(this.temporal, contactWorkflowId(tenantId, contactKey), 'control', { pausedUntil: until.getTime(), reason });
    await signalIfRunning(this.temporal, followUpWorkflowId(tenantId, contactKey), 'stop', { reason });
    return { contact: contactKey, pausedUntil: until.toISOString(), reason, cancelledRuns: runs.map((r) => r.id) };
  }

  async resume(tenantId: string, contactKey: string) {
    if (!(await resumeContact(this.db, { tenantId, contactKey }))) throw new ContactNotFound(`contact ${contactKey} not found`);
    await signalIfRunning(this.temporal, contactWorkflowId(tenantId, contactKey), 'control', { pausedUntil: 0, reason: 'resumed' });
    return { contact: contactKey, pausedUntil: null };
  }

  async status(tenantId: string, contactKey: string) {
    const c = await getContactState(this.db, { tenantId, contactKey });
    if (!c) throw new ContactNotFound(`contact ${contactKey} not found`);
    let followUp: unknown = null;
    try {
      const handle = this.temporal.workflow.getHandle(followUpWorkflowId(tenantId, contactKey));
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') followUp = await handle.query('followUpState');
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
    const [t] = await this.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId));
    return conversationSettingsOf(t?.settings);
  }

  async updateSettings(tenantId: string, update: z.input<typeof conversationSettingsInput>) {
    return this.db.transaction(async (tx) => {
      const [t] = await tx.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)).for('update');
      const next: TenantSettings = mergeConversationSettings(t?.settings ?? {}, update);
      await tx.update(tenants).set({ settings: next, updatedAt: sql`now()` }).where(eq(tenants.id, tenantId));
      return conversationSettingsOf(next);
    });
  }
}
