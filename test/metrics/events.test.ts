/**
 * The event log is written with the facts it records, on the real stack (webhooks, the
 * contact and funnel workflows, delivery): an inbound message (a re-delivery logs nothing),
 * a contact's reply to zapflow (with the time since zapflow's send), a funnel run (started,
 * each step once, completed) and its sends (with the funnel, and the first-response time on
 * the send that answers the contact), delivery and read receipts at their own time, an opt-out
 * (once), a refused send (failed) and an API handover.
 */
import { and, asc, eq } from 'drizzle-orm';
import { contacts, conversationEvents, funnelRuns, messages } from '../../src/db/schema';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { postJson } from '../support/http';
import { evolutionText, uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';

describe('conversation events written with their facts', () => {
  let f: FunnelStack;
  let tenantId: string;
  let funnelId: string;
  const phone = '5511955550001';

  beforeAll(async () => {
    f = await startFunnelStack({ SEND_PACING_MIN_GAP: '0', SEND_PACING_JITTER: '0' });
    tenantId = f.tenant.tenant.id;
    const created = await f.api(
      'POST',
      '/api/funnels',
      funnelDef({
        steps: [
          { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
          { id: 'pause', type: 'delay', duration: '200ms' },
          { id: 'bye', type: 'send', message: { type: 'text', text: 'Até logo' } },
        ],
      }),
    );
    expect(created.status).toBe(201);
    funnelId = created.body.id;
  });
  afterAll(() => f.close());

  const eventsOf = async (kinds?: string[]) => {
    const rows = await f.stack.db.db
      .select()
      .from(conversationEvents)
      .where(eq(conversationEvents.tenantId, tenantId))
      .orderBy(asc(conversationEvents.id));
    return kinds ? rows.filter((r) => kinds.includes(r.kind)) : rows;
  };
  const contactId = async () => {
    const [row] = await f.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone)));
    return row!.id;
  };
  const webhook = (body: unknown) => postJson(`${f.stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 's' });

  it('a click and its funnel run: message_received, funnel_started, each step once, message_sent with the funnel and the first response, funnel_completed', async () => {
    expect((await f.click(phone, { displayText: 'Pode falar sim!', name: 'Ana' })).status).toBe(200);
    await eventually(async () => {
      const [run] = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
      return run?.status === 'completed';
    }, 30_000, 'the run to complete');
    const [run] = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
    const cid = await contactId();
    const events = await eventsOf();
    const channelId = f.tenant.channel.id;

    const received = events.filter((e) => e.kind === 'message_received');
    expect(received).toEqual([expect.objectContaining({ channelId, contactId: cid, valueMs: null, funnelId: null })]);
    const [click] = await f.stack.db.db.select().from(messages).where(eq(messages.id, received[0]!.messageId!));
    expect(click!.direction).toBe('inbound');

    expect(events.filter((e) => e.kind === 'funnel_started')).toEqual([expect.objectContaining({ funnelId, runId: run!.id, channelId, contactId: cid, campaignId: null })]);
    expect(events.filter((e) => e.kind === 'funnel_step_completed').map((e) => [e.stepId, e.funnelId, e.runId])).toEqual([
      ['hello', funnelId, run!.id],
      ['pause', funnelId, run!.id],
      ['bye', funnelId, run!.id],
    ]);
    const sent = events.filter((e) => e.kind === 'message_sent');
    expect(sent).toHaveLength(2);
    expect(sent.every((e) => e.funnelId === funnelId && e.channelId === channelId && e.contactId === cid)).toBe(true);
    // The first send answers the click: its first-response time; the second answers nothing new.
    expect(sent[0]!.valueMs).toEqual(expect.any(Number));
    expect(sent[0]!.valueMs!).toBeGreaterThanOrEqual(0);
    expect(sent[1]!.valueMs).toBeNull();
    expect(events.filter((e) => e.kind === 'funnel_completed')).toEqual([expect.objectContaining({ funnelId, runId: run!.id })]);
  }, 60_000);

  it('a reply to zapflow carries the time since its send; a re-delivered webhook logs nothing', async () => {
    const id = uniqueId();
    const body = evolutionText({ instance: 'loja-centro', phone, text: 'obrigado!', id });
    expect((await webhook(body)).status).toBe(200);
    expect((await webhook(body)).body.status).toBe('duplicate');
    const received = await eventsOf(['message_received']);
    expect(received).toHaveLength(2);
    expect(received[1]!.valueMs).toEqual(expect.any(Number));
    // Not a reply any more once the contact has written since our last send.
    expect((await f.say(phone, 'mais uma coisa')).status).toBe(200);
    const again = await eventsOf(['message_received']);
    expect(again).toHaveLength(3);
    expect(again[2]!.valueMs).toBeNull();
  }, 60_000);

  it('delivery and read receipts once each (a read implies the delivery), with the send’s funnel', async () => {
    const hello = f.sentTo(phone)[0]!;
    const status = (value: string, at: Date) =>
      webhook({
        event: 'messages.update',
        instance: 'loja-centro',
        data: { keyId: hello.providerMessageId, remoteJid: `${phone}@s.whatsapp.net`, fromMe: true, status: value },
        date_time: at.toISOString(),
        sender: '5511999990000@s.whatsapp.net',
        server_url: 'https://evo.example.com.br',
        apikey: null,
      });
    const readAt = new Date();
    const deliveredAt = new Date(readAt.getTime() - 1000);
    // Read first, then the (late) delivery: the read implies the delivery, logged once.
    expect((await status('READ', readAt)).status).toBe(200);
    expect((await status('DELIVERY_ACK', deliveredAt)).status).toBe(200);
    expect((await status('READ', readAt)).status).toBe(200);
    const events = await eventsOf(['message_delivered', 'message_read']);
    // At the report's time as the ingest took it (Evolution's ticks carry none: their arrival).
    const [row] = await f.stack.db.db.select().from(messages).where(eq(messages.providerMessageId, hello.providerMessageId));
    expect(row!.readAt).not.toBeNull();
    expect(events.map((e) => [e.kind, e.funnelId, e.messageId, e.occurredAt.toISOString()])).toEqual([
      ['message_delivered', funnelId, row!.id, row!.readAt!.toISOString()],
      ['message_read', funnelId, row!.id, row!.readAt!.toISOString()],
    ]);
  }, 60_000);

  it('an opt-out once, a refused send as failed, and an API handover', async () => {
    expect((await f.say(phone, 'PARE')).status).toBe(200);
    await eventually(async () => (await eventsOf(['opt_out'])).length > 0, 20_000, 'the opt-out event');
    const cid = await contactId();
    expect(await eventsOf(['opt_out'])).toEqual([expect.objectContaining({ contactId: cid, channelId: f.tenant.channel.id })]);
    // The confirmation goes out (a send), and the opt-out is not logged again.
    await eventually(async () => f.sentTo(phone).some((s) => String(s.body.text).includes('não receberá')), 20_000, 'the confirmation');
    expect(await eventsOf(['opt_out'])).toHaveLength(1);

    const refused = await f.api('POST', '/api/whatsapp/send-message', { instanceName: 'loja-centro', phoneNumber: phone, message: 'Promoção!' });
    expect(refused.status).toBe(200);
    const failed = await eventually(async () => (await eventsOf(['message_failed']))[0], 20_000, 'the failed event');
    expect(failed).toMatchObject({ messageId: refused.body.messageId, contactId: cid, channelId: f.tenant.channel.id });

    const handover = await f.api('POST', `/api/contacts/${phone}/handover`, {});
    expect(handover.status).toBe(200);
    expect(await eventsOf(['handover'])).toEqual([expect.objectContaining({ contactId: cid, runId: null })]);
  }, 60_000);
});
