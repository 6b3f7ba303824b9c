/**
 * The dispatcher reads each tenant's funnel triggers through this cache for every message
 * from a contact. When an entry expires with 64 dispatches in flight, they must share one
 * query (the bench showed a PostgreSQL backend busy with this query all the time without it),
 * and a funnel edited during a load must not leave the old triggers cached.
 */
import type { Db } from '../../src/db/client';
import { FunnelTriggerCache } from '../../src/services/funnels';

/** A stand-in for drizzle's select chain: counts queries, resolves when told to. */
function fakeDb() {
  const pending: Array<(rows: unknown[]) => void> = [];
  let queries = 0;
  const chain = {
    from: () => chain,
    innerJoin: () => chain,
    where: () => chain,
    orderBy: () => new Promise<unknown[]>((resolve) => pending.push(resolve)),
  };
  const db = { select: () => (queries++, chain) } as unknown as Db;
  const row = (name: string) => ({
    id: `f-${name}`,
    name,
    version: 1,
    priority: 0,
    createdAt: new Date(0),
    definition: { trigger: { type: 'button', match: 'equals', phrase: name }, reentry: 'ignore' },
  });
  return {
    db,
    queries: () => queries,
    answer: (...names: string[]) => pending.shift()!(names.map(row)),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('FunnelTriggerCache', () => {
  it('shares one query among the callers waiting for the same tenant', async () => {
    const fake = fakeDb();
    const cache = new FunnelTriggerCache(fake.db, 60_000);
    const calls = Array.from({ length: 64 }, () => cache.forTenant('t1'));
    await flush();
    expect(fake.queries()).toBe(1);
    fake.answer('Pode falar sim!');
    const results = await Promise.all(calls);
    expect(results.every((r) => r.length === 1 && r[0]!.name === 'Pode falar sim!')).toBe(true);
    await cache.forTenant('t1'); // cached now
    expect(fake.queries()).toBe(1);
  });

  it('reads again after the entry expires, and another tenant has its own query', async () => {
    const fake = fakeDb();
    const cache = new FunnelTriggerCache(fake.db, 0);
    const a = cache.forTenant('t1');
    const b = cache.forTenant('t2');
    await flush();
    expect(fake.queries()).toBe(2);
    fake.answer('a');
    fake.answer('b');
    await Promise.all([a, b]);
    const again = cache.forTenant('t1');
    await flush();
    expect(fake.queries()).toBe(3);
    fake.answer('a2');
    expect((await again)[0]!.name).toBe('a2');
  });

  it('does not cache a load that an edit invalidated while it ran', async () => {
    const fake = fakeDb();
    const cache = new FunnelTriggerCache(fake.db, 60_000);
    const stale = cache.forTenant('t1');
    await flush();
    cache.invalidate('t1'); // the tenant edited a funnel meanwhile
    fake.answer('old');
    await stale;
    const fresh = cache.forTenant('t1');
    await flush();
    expect(fake.queries()).toBe(2);
    fake.answer('new');
    expect((await fresh)[0]!.name).toBe('new');
  });
});
