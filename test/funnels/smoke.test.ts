import { eq } from 'drizzle-orm';
import { funnelRuns } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';

describe('funnel smoke', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack();
  });
  afterAll(() => f.close());

  it('a click starts a run that sends, waits and sends again', async () => {
    const created = await f.api('POST', '/api/funnels', funnelDef({
      steps: [
        { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
        { id: 'pause', type: 'delay', duration: '1s' },
        { id: 'bye', type: 'send', message: { type: 'text', text: 'Tchau {{phone}}' } },
      ],
    }));
    expect(created.status).toBe(201);
    const phone = '5511944440001';
    expect((await f.click(phone, { displayText: 'Pode falar sim!', name: 'Ana Souza' })).status).toBe(200);
    await eventually(async () => f.sentTo(phone).length === 2, 20_000, 'two sends');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Ana Souza!', `Tchau ${phone}`]);
    const [run] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
      return rows[0]?.status === 'completed' ? rows : undefined;
    });
    expect(run!.funnelId).toBe(created.body.id);
  });
});
