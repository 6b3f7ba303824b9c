/**
 * The dispatcher's "handed to Temporal" marks: the message and its webhook event move on, and
 * the asynchronous commit they use stays inside their own statement (a pooled connection that
 * leaked `synchronous_commit = off` would make webhooks answer 200 before their commit is on
 * disk).
 */
import { eq, sql } from 'drizzle-orm';
import { openDb, type DbHandle } from '../../src/db/client';
import { messages, webhookEvents } from '../../src/db/schema';
import { ChannelDirectory } from '../../src/ingest/channelDirectory';
import { parseEvolution } from '../../src/ingest/parse/evolution';
import { queryPrepared } from '../../src/db/prepared';
import { MARK_DISPATCHED, markDispatchedBatch, uuidArray } from '../../src/db/queries/messages';
import { recordWebhook } from '../../src/ingest/record';
import { createTestDb, type TestDb } from '../support/harness';
import { evolutionText } from '../support/payloads';
import { seedTenantWithChannel } from '../support/stack';

const usesPostgres = !!process.env.DATABASE_URL;

describe('markDispatchedBatch', () => {
  let db: TestDb;
  /** One connection: every statement below runs on the same PostgreSQL session. */
  let single: DbHandle | undefined;
  let directory: ChannelDirectory;

  beforeAll(async () => {
    db = await createTestDb();
    if (db.url) single = await openDb({ url: db.url, poolSize: 1 });
    await seedTenantWithChannel(db, 'Loja Marcas', {
      provider: 'evolution',
      externalId: 'loja-marcas',
      baseUrl: 'http://127.0.0.1:1',
      webhookSecret: 's',
    });
    directory = new ChannelDirectory(db.db);
  });
  afterAll(async () => {
    await single?.close();
    await db.drop();
  });

  async function storeText(phone: string, text: string): Promise<{ messageId: string; eventId: number }> {
    const body = evolutionText({ instance: 'loja-marcas', phone, text });
    const parsed = parseEvolution(body);
    const routed = (await directory.byExternalId('evolution', 'loja-marcas'))!;
    const outcome = await recordWebhook(db.db, {
      provider: 'evolution',
      rawBody: JSON.stringify(body),
      eventType: parsed.eventType,
      items: parsed.items.map((i) => ({ ...i, routed })),
    });
    expect(outcome.toDispatch).toHaveLength(1);
    return { messageId: outcome.toDispatch[0]!, eventId: outcome.eventId };
  }

  it('marks the messages dispatched and their webhook events with them', async () => {
    const a = await storeText('5511988880001', 'oi');
    const b = await storeText('5511988880002', 'bom dia');
    await markDispatchedBatch((single ?? db).db, { messageIds: [a.messageId, b.messageId] });
    for (const { messageId, eventId } of [a, b]) {
      const [m] = await db.db.select().from(messages).where(eq(messages.id, messageId));
      expect(m!.dispatchedAt).toBeInstanceOf(Date);
      const [e] = await db.db.select().from(webhookEvents).where(eq(webhookEvents.id, eventId));
      expect(e!.status).toBe('dispatched');
    }
    // A second mark (a re-signal after a crash) changes nothing.
    const [before] = await db.db.select().from(messages).where(eq(messages.id, a.messageId));
    await markDispatchedBatch(db.db, { messageIds: [a.messageId] });
    const [after] = await db.db.select().from(messages).where(eq(messages.id, a.messageId));
    expect(after!.dispatchedAt).toEqual(before!.dispatchedAt);
  });

  (usesPostgres ? it : it.skip)('commits asynchronously without leaving synchronous_commit off on the connection', async () => {
    const conn = single!;
    const { messageId } = await storeText('5511988880003', 'tudo bem?');
    await markDispatchedBatch(conn.db, { messageIds: [messageId] });
    // drizzle's postgres-js execute resolves to the rows themselves
    const rows = (await conn.db.execute(sql.raw('show synchronous_commit'))) as unknown as Array<{ synchronous_commit: string }>;
    expect(rows[0]!.synchronous_commit).toBe('on');
  });

  (usesPostgres ? it : it.skip)('reaches the marked rows through their keys, not by scanning the backlog, even on stale statistics', async () => {
    // Before the index, each mark scanned every pending message: 110 ms a call behind a
    // 28,000-message backlog, the largest PostgreSQL cost of a webhook burst.
    const { messageId } = await storeText('5511988880004', 'oi de novo');
    await db.db.execute(sql`
      insert into messages (tenant_id, channel_id, contact_id, direction, author, type, body, status, webhook_event_id, provider_message_id)
      select m.tenant_id, m.channel_id, m.contact_id, 'inbound', 'contact', 'text', 'backlog', m.status, 1000000 + g, 'backlog-' || g
      from messages m, generate_series(1, 20000) g where m.id = ${messageId}`);
    // Statistics taken in a quiet spell (no event pending), then a burst: 20,000 events pending.
    await db.db.execute(sql`
      insert into webhook_events (provider, status, raw_body) select 'evolution', 'dispatched', '{}' from generate_series(1, 20000)`);
    await db.db.execute(sql`analyze webhook_events`);
    await db.db.execute(sql`update webhook_events set status = 'pending' where status = 'dispatched' and raw_body = '{}'`);
    await db.db.execute(sql`analyze messages`);
    const [row] = await queryPrepared<{ 'QUERY PLAN': unknown }>(single!.db, `explain (format json) ${MARK_DISPATCHED}`, [uuidArray([messageId])]);
    const scanned: string[] = [];
    const walk = (node: { 'Node Type'?: string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: unknown[] }): void => {
      scanned.push(`${node['Node Type']} ${node['Relation Name'] ?? ''} ${node['Index Name'] ?? ''}`.trim());
      for (const child of node.Plans ?? []) walk(child as typeof node);
    };
    walk((row!['QUERY PLAN'] as Array<{ Plan: Parameters<typeof walk>[0] }>)[0]!.Plan);
    expect(scanned).toContainEqual(expect.stringContaining('messages_undispatched_event_idx'));
    expect(scanned).not.toContain('Seq Scan messages');
    // The event update starts from the marked ids, not from every pending event.
    expect(scanned).toContain('Index Scan webhook_events webhook_events_pkey');
    expect(scanned.filter((s) => s.includes('webhook_events_status_idx') || s === 'Seq Scan webhook_events')).toEqual([]);
  });
});
