/**
 * A re-subscription reaches a contact workflow that is still running: it held "opted out"
 * in memory, so without being told it ignored the contact until it went idle.
 */
import { eq } from 'drizzle-orm';
import { funnelRuns } from '../../src/db/schema';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { eventually } from '../support/stack';

describe('re-subscribe while the contact workflow runs', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack({ CONTACT_IDLE_TIMEOUT: '10m' });
  });
  afterAll(() => f.close());

  it('answers the contact again at once', async () => {
    const created = await f.api('POST', '/api/funnels', funnelDef({ trigger: { type: 'keyword', phrase: 'quero' } }));
    expect(created.status).toBe(201);
    const phone = '5511922221111';
    await f.say(phone, 'PARE');
    await eventually(async () => (await f.api('GET', `/api/contacts/${phone}`)).body?.optOut?.optedOut === true || undefined, 15_000, 'opted out');
    const resubscribed = await f.api('DELETE', `/api/contacts/${phone}/opt-out`);
    expect(resubscribed.status).toBe(200);
    await f.say(phone, 'quero');
    await eventually(async () => (await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone))).length > 0 || undefined, 15_000, 'a run for the re-subscribed contact');
  });
});
