import { eq } from 'drizzle-orm';
import { openDb, type DbHandle } from '../../src/db/client';
import { channels, contacts, messages, tenants, webhookEvents } from '../../src/db/schema';
import { createTestDb } from '../support/harness';

async function roundTrip(handle: DbHandle): Promise<void> {
  const { db } = handle;
  const [tenant] = await db.insert(tenants).values({ name: 'Loja Centro' }).returning();
  const [channel] = await db
    .insert(channels)
    .values({ tenantId: tenant!.id, provider: 'evolution', externalId: 'loja-centro', credentials: { apiKey: 'k' } })
    .returning();
  const [contact] = await db.insert(contacts).values({ tenantId: tenant!.id, phone: '5511999990001', name: 'Ana Souza', tags: ['lead'] }).returning();
  await db.insert(messages).values({
    tenantId: tenant!.id,
    channelId: channel!.id,
    contactId: contact!.id,
    direction: 'inbound',
    author: 'contact',
    type: 'text',
    body: 'Olá, preço?',
    providerMessageId: '3EB0C4F1A2B3D4E5F60718',
    status: 'received',
  });
  const [event] = await db.insert(webhookEvents).values({ provider: 'evolution', status: 'received', rawBody: '{}' }).returning();
  expect(event!.id).toBeGreaterThan(0);

  const [readBack] = await db.select().from(messages).where(eq(messages.channelId, channel!.id));
  expect(readBack).toMatchObject({ body: 'Olá, preço?', direction: 'inbound', status: 'received' });
  const [contactBack] = await db.select().from(contacts).where(eq(contacts.id, contact!.id));
  expect(contactBack!.tags).toEqual(['lead']);

  // Unique keys hold: one channel per (provider, external id), one message per provider id.
  await expect(
    db.insert(channels).values({ tenantId: tenant!.id, provider: 'evolution', externalId: 'loja-centro' }),
  ).rejects.toThrow();
  await expect(
    db.insert(messages).values({
      tenantId: tenant!.id,
      channelId: channel!.id,
      direction: 'inbound',
      author: 'contact',
      type: 'text',
      providerMessageId: '3EB0C4F1A2B3D4E5F60718',
      status: 'received',
    }),
  ).rejects.toThrow();
}

describe('database', () => {
  it('migrates and round-trips on PGlite', async () => {
    const handle = await openDb({});
    try {
      await handle.migrate();
      await handle.migrate(); // idempotent
      await roundTrip(handle);
    } finally {
      await handle.close();
    }
  });

  const onPostgres = process.env.DATABASE_URL ? it : it.skip;
  onPostgres('migrates and round-trips on PostgreSQL (DATABASE_URL)', async () => {
    const handle = await createTestDb();
    try {
      expect(handle.driver).toBe('postgres');
      await handle.migrate();
      await roundTrip(handle);
    } finally {
      await handle.drop();
    }
  });
});
