import { funnelRuns } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';

describe('funnel sends under a channel quota', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    // Two sends per 2-second window, and only two attempts for provider errors: waiting for
    // the quota must not use them up.
    f = await startFunnelStack({ SEND_CHANNEL_PER_MINUTE: '2', SEND_QUOTA_MINUTE_WINDOW: '2s', FUNNEL_SEND_MAX_ATTEMPTS: '2', SEND_PACING_MIN_GAP: '0', SEND_PACING_JITTER: '0' });
  });
  afterAll(() => f.close());

  it('waits for the window to reopen instead of failing, and sends each message once', async () => {
    await f.api('POST', '/api/funnels', funnelDef());
    const phones = ['5511955500001', '5511955500002', '5511955500003', '5511955500004', '5511955500005', '5511955500006'];
    for (const phone of phones) await f.click(phone, { displayText: 'Pode falar sim!' });
    const rows = await eventually(async () => {
      const all = await f.stack.db.db.select().from(funnelRuns);
      return all.length === phones.length && all.every((r) => r.status === 'completed') ? all : undefined;
    }, 40_000, 'every run completed despite the quota').catch(async (err) => {
      const all = await f.stack.db.db.select().from(funnelRuns);
      throw new Error(`${err.message}: ${JSON.stringify(all.map((r) => [r.status, r.error]))}`);
    });
    expect(rows).toHaveLength(6);
    for (const phone of phones) expect(f.sentTo(phone)).toHaveLength(1);
    const times = phones.map((p) => f.sentTo(p)[0]!.receivedAt).sort((a, b) => a - b);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1900); // six sends at two per 2 s window span three windows
  });
});
