/** Knowledge snippets a tenant's AI may quote, with ranked keyword search. */
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { normaliseSearchText, queryTerms, toPrefixTsQuery } from '../../domain/keywords';
import type { Db } from '../client';
import { knowledgeSnippets } from '../schema';

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
export async function searchKnowledge(db: Db, params: { tenantId: string; text: string; limit: number }): Promise<Array<{ id: string; title: string | null; content: string; rank: number }>> {
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

