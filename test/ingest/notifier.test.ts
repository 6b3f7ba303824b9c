/**
 * The API's announcements to the worker's dispatcher: ids stored in the same moment go out
 * in one statement, in notifications under PostgreSQL's payload limit, and nothing queued
 * is left behind by a flush.
 */
import { randomUUID } from 'node:crypto';
import { DISPATCH_CHANNEL, DispatchNotifier, parseDispatchPayload } from '../../src/ingest/notifier';
import { createTestDb, testLog, type TestDb } from '../support/harness';
import { eventually } from '../support/stack';

const usesPostgres = !!process.env.DATABASE_URL;

describe('parseDispatchPayload', () => {
  it('reads one id (the format before batching) and comma-separated ids', () => {
    const [a, b] = [randomUUID(), randomUUID()];
    expect(parseDispatchPayload(a)).toEqual([a]);
    expect(parseDispatchPayload(`${a},${b}`)).toEqual([a, b]);
    expect(parseDispatchPayload('')).toEqual([]);
  });
});

(usesPostgres ? describe : describe.skip)('DispatchNotifier on PostgreSQL', () => {
  let db: TestDb;
  let unlisten: () => Promise<void>;
  const received: string[] = [];

  beforeAll(async () => {
    db = await createTestDb();
    unlisten = await db.listen(DISPATCH_CHANNEL, (payload) => received.push(payload));
  });
  afterAll(async () => {
    await unlisten();
    await db.drop();
  });

  it('batches the ids announced in one tick, 200 per notification', async () => {
    received.length = 0;
    const notifier = new DispatchNotifier(db.db, testLog);
    const ids = Array.from({ length: 450 }, () => randomUUID());
    for (const id of ids) notifier.announce([id]); // as 450 webhooks answered in the same tick
    await notifier.flush();
    await eventually(async () => received.length === 3, 5000, 'three notifications');
    expect(received.map((p) => parseDispatchPayload(p).length)).toEqual([200, 200, 50]);
    expect(received.every((p) => Buffer.byteLength(p) < 8000)).toBe(true);
    expect(received.flatMap(parseDispatchPayload)).toEqual(ids);
  });

  it('sends ids announced while a statement is out in the next one, and flush waits for both', async () => {
    received.length = 0;
    const notifier = new DispatchNotifier(db.db, testLog);
    const first = [randomUUID(), randomUUID()];
    const second = [randomUUID()];
    notifier.announce(first);
    await new Promise((r) => setImmediate(r)); // the first statement is now out
    notifier.announce(second);
    await notifier.flush();
    await eventually(async () => received.length === 2, 5000, 'two notifications');
    expect(received.map(parseDispatchPayload)).toEqual([first, second]);
  });
});
