/**
 * Loop safety without AI: a keyword funnel that answers "oi" meets a peer bot that answers
 * "oi" to everything. Before, zapflow answered for ever (75 messages in 30 s when tried);
 * the loop guard now watches every automated answer, pauses the contact within 5 exchanges
 * and tells the tenant's admin.
 */
import { and, eq } from 'drizzle-orm';
import { contacts, sandboxOutbox, tenants } from '../../src/db/schema';
import { addChannel } from '../../src/services/channels';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { contactWorkflowId } from '../../src/domain/workflowIds';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';

const BOT = '5511933330001';
const ADMIN = '5511900000077';

jest.setTimeout(120_000);

describe('a keyword funnel against a bot that answers everything', () => {
  let f: FunnelStack;
  let relay: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    // A generous "fast": on a loaded machine (CI beside other work) a round trip can take
    // seconds, and the test is about counting exchanges, not about the threshold.
    f = await startFunnelStack({ SEND_PACING_MIN_GAP: '0', SEND_PACING_JITTER: '0', CONTACT_IDLE_TIMEOUT: '30s', LOOP_FAST_REPLY: '60s' });
  });
  afterAll(async () => {
    if (relay) clearInterval(relay);
    await f.close();
  });

  it('pauses the contact within 5 exchanges, says why, and tells the admin', async () => {
    const admin = await addChannel(f.stack.db.db, { tenantId: f.tenant.tenant.id, provider: 'sandbox', externalId: 'admin-loop-funnel' });
    await f.stack.db.db.update(tenants).set({ settings: { adminContact: { channelId: admin.id, phone: ADMIN } } }).where(eq(tenants.id, f.tenant.tenant.id));
    const created = await f.api(
      'POST',
      '/api/funnels',
      funnelDef({ name: 'Oi', trigger: { type: 'keyword', phrase: 'oi' }, steps: [{ id: 'hi', type: 'send', message: { type: 'text', text: 'Olá! Como posso ajudar?' } }] }),
    );
    expect(created.status).toBe(201);

    // The peer bot: whatever zapflow sends it, it answers "oi" at once.
    let answered = 0;
    relay = setInterval(() => {
      const sent = f.sentTo(BOT);
      while (answered < sent.length && answered < 30) {
        answered++;
        void f.say(BOT, 'oi');
      }
    }, 50);
    await f.say(BOT, 'oi');

    const [paused] = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, f.tenant.tenant.id), eq(contacts.phone, BOT)));
      return rows[0]?.pauseReason?.startsWith('bot suspected') ? rows : undefined;
    }, 60_000, 'the bot was spotted');
    expect(paused!.pausedUntil!.getTime()).toBeGreaterThan(Date.now());

    // Quiet from then on: at most 5 answers went to the bot in all.
    let settled = -1;
    await eventually(async () => {
      const n = f.sentTo(BOT).length;
      const same = n === settled;
      settled = n;
      return same;
    }, 10_000, 'no more sends');
    expect(settled).toBeLessThanOrEqual(5);

    const notices = await eventually(async () => {
      const rows = await f.stack.db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, admin.id));
      return rows.length > 0 ? rows : undefined;
    }, 10_000, 'the admin was told');
    expect(notices[0]!.to).toBe(ADMIN);
    recordHistory('contact-loop-guard-funnel', contactWorkflowId(f.tenant.tenant.id, BOT), 'contactWorkflow');
    expect(JSON.stringify(notices[0]!.message)).toMatch(/robô/);
  }, 60_000);
});
