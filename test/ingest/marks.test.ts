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
import { markDispatchedBatch, recordWebhook } from '../../src/ingest/record';
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
    await markDispatchedBatch((single ?? db).db, [a.messageId, b.messageId]);
    for (const { messageId, eventId } of [a, b]) {
      const [m] = await db.db.select().from(messages).where(eq(messages.id, messageId));
      expect(m!.dispatchedAt).toBeInstanceOf(Date);
      const [e] = await db.db.select().from(webhookEvents).where(eq(webhookEvents.id, eventId));
      expect(e!.status).toBe('dispatched');
    }
    // A second mark (a re-signal after a crash) changes nothing.
    const [before] = await db.db.select().from(messages).where(eq(messages.id, a.messageId));
    await markDispatchedBatch(db.db, [a.messageId]);
    const [after] = await db.db.select().from(messages).where(eq(messages.id, a.messageId));
    expect(after!.dispatchedAt).toEqual(before!.dispatchedAt);
  });

  (usesPostgres ? it : it.skip)('commits asynchronously without leaving synchronous_commit off on the connection', async () => {
    const conn = single!;
    const { messageId } = await storeText('5511988880003', 'tudo bem?');
    await markDispatchedBatch(conn.db, [messageId]);
    // drizzle's postgres-js execute resolves to the rows themselves
    const rows = (await conn.db.execute(sql.raw('show synchronous_commit'))) as unknown as Array<{ synchronous_commit: string }>;
    expect(rows[0]!.synchronous_commit).toBe('on');
  });
});
