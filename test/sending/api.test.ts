import { eq } from 'drizzle-orm';
import { contacts, messages } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { contactRow, EVO_INSTANCE, evolutionStatus, inSeconds, messageRow, scheduleRow, sentTo, startSendingWorld, type SendingWorld } from './support';

describe('sending API', () => {
  let world: SendingWorld;
  const send = (body: Record<string, unknown>, opts: { key?: string; headers?: Record<string, string> } = {}) =>
    world.api('/whatsapp/send-message', { body, ...opts });
  const text = (phoneNumber: string, message = 'Olá! Seu pedido #1042 foi confirmado.') => ({ instanceName: EVO_INSTANCE, phoneNumber, message });

  beforeAll(async () => {
    world = await startSendingWorld();
  });
  afterAll(() => world.close());

  it('sends a text at once: 200 queued, one provider call, history queued → sent → delivered → read', async () => {
    const res = await send(text('5511999990001'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, status: 'queued', messageId: expect.any(String) });
    const id = res.body.messageId;

    const sent = await eventually(
      async () => {
        const row = await messageRow(world, id);
        return row?.providerMessageId ? row : undefined;
      },
      15_000,
      'sent',
    );
    expect(sentTo(world, '5511999990001')).toHaveLength(1);
    expect(sent.status).toBe('sent');
    // The call carried an idempotency key derived from the message id.
    expect(sentTo(world, '5511999990001')[0]!.idempotencyKey).toContain(id);

    await evolutionStatus(world, { providerMessageId: sent.providerMessageId!, phone: '5511999990001', status: 'DELIVERY_ACK', at: new Date() });
    await evolutionStatus(world, { providerMessageId: sent.providerMessageId!, phone: '5511999990001', status: 'READ', at: new Date() });
    const view = await world.api(`/whatsapp/messages/${id}`);
    expect(view.status).toBe(200);
    expect(view.body.message).toMatchObject({ id, status: 'read', instanceName: EVO_INSTANCE, phoneNumber: '5511999990001', providerMessageId: sent.providerMessageId });
    expect(view.body.message.history.map((h: { status: string }) => h.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
    expect(view.body.message.history[1]).toMatchObject({ providerMessageId: sent.providerMessageId });
    expect(view.body.message.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'sent', providerMessageId: sent.providerMessageId })]);
  });

  it('normalises the phone: with or without the ninth digit or the country code, +, spaces and dashes are one contact', async () => {
    const forms = ['+55 31 98888-7001', '553188887001', '55 (31) 9 8888-7001', '+5531988887001', '(31) 98888-7001', '31 8888-7001'];
    for (const phoneNumber of forms) expect((await send(text(phoneNumber))).status).toBe(200);
    await eventually(async () => sentTo(world, '5531988887001').length === forms.length, 15_000, 'all sent');
    const rows = await world.stack.db.db.select().from(contacts).where(eq(contacts.tenantId, world.tenant.tenant.id));
    expect(rows.filter((c) => c.phone.includes('88887001')).map((c) => c.phone)).toEqual(['5531988887001']);
  });

  it('accepts the channel name as instanceName', async () => {
    const res = await send({ ...text('5511999990002'), instanceName: 'Loja Centro WhatsApp' });
    expect(res.status).toBe(200);
    await eventually(async () => sentTo(world, '5511999990002').length === 1, 15_000, 'sent');
  });

  it('sends reply buttons, a list, media; 400 naming the field for what cannot be sent', async () => {
    const ok = [
      { ...text('5511999990003', 'Podemos te ligar?'), buttons: [{ id: 'sim', title: 'Pode ligar' }, { title: 'Mais tarde' }] },
      { ...text('5511999990003', 'Qual plano?'), list: { buttonText: 'Ver planos', sections: [{ title: 'Planos', rows: [{ id: 'm', title: 'Mensal' }] }] } },
      { instanceName: EVO_INSTANCE, phoneNumber: '5511999990003', message: 'Seu boleto', media: { type: 'document', url: 'https://example.com/b.pdf', fileName: 'b.pdf' } },
    ];
    for (const body of ok) expect((await send(body)).status).toBe(200);
    await eventually(async () => sentTo(world, '5511999990003').length === 3, 15_000, 'sent');
    expect(sentTo(world, '5511999990003').map((s) => s.kind).sort()).toEqual(['buttons', 'list', 'media']);

    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...text('5511999990003'), message: 'x'.repeat(4097) }, 'message'],
      [{ ...text('5511999990003'), buttons: ['a', 'b', 'c', 'd'].map((t) => ({ title: t })) }, 'buttons'],
      [{ ...text('5511999990003'), buttons: [{ title: 'Um título longo demais p' }] }, 'buttons.0.title'],
      [{ instanceName: EVO_INSTANCE, phoneNumber: '5511999990003' }, 'message'],
      [{ ...text('5511999990003'), message: '   ' }, 'message'],
      [text('12'), 'phoneNumber'],
      [{ message: 'oi', phoneNumber: '5511999990003' }, 'instanceName'],
      [{ ...text('5511999990003'), template: { name: 'retomada' } }, 'message'],
      [{ ...text('5511999990003'), media: { type: 'image', url: 'https://e.com/a.png' }, buttons: [{ title: 'a' }] }, 'buttons'],
      [{ ...text('5511999990003'), media: { type: 'image', url: 'ftp://e.com/a.png' } }, 'media.url'],
    ];
    for (const [body, field] of bad) {
      const res = await send(body);
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    }
    expect((await send('{"instanceName":' as unknown as Record<string, unknown>)).status).toBe(400);
    expect((await send(text('5511999990003'), { headers: { 'idempotency-key': 'x'.repeat(300) } })).status).toBe(400);
  });

  it('answers 404 for an unknown instance and for another tenant\'s instance, and sends nothing', async () => {
    const before = world.evolution.sent.length;
    const unknown = await send({ ...text('5511999990004'), instanceName: 'nao-existe' });
    expect(unknown.status).toBe(404);
    const foreign = await send({ ...text('5511999990004'), instanceName: 'outra-loja' });
    expect(foreign.status).toBe(404);
    const foreignSchedule = await world.api('/whatsapp/schedule-message', { body: { ...text('5511999990004'), instanceName: 'outra-loja', scheduledFor: inSeconds(60) } });
    expect(foreignSchedule.status).toBe(404);
    await new Promise((r) => setTimeout(r, 500));
    expect(world.evolution.sent.length).toBe(before);
    expect(await contactRow(world, world.tenant.tenant.id, '5511999990004')).toBeUndefined();
  });

  it('answers a retried request with an Idempotency-Key with the first answer and sends once', async () => {
    const body = text('5511999990005', 'Pedido confirmado');
    const first = await send(body, { headers: { 'idempotency-key': 'pedido-1042' } });
    const again = await send(body, { headers: { 'idempotency-key': 'pedido-1042' } });
    expect(first.status).toBe(200);
    expect(again).toMatchObject({ status: 200, body: first.body });
    // Retries racing each other with a new key: one message.
    const racing = await Promise.all([1, 2, 3, 4, 5].map(() => send(body, { headers: { 'idempotency-key': 'pedido-1043' } })));
    for (const res of racing) expect(res).toMatchObject({ status: 200, body: racing[0]!.body });
    expect(racing[0]!.body.messageId).not.toBe(first.body.messageId);
    await eventually(async () => sentTo(world, '5511999990005').length === 2, 15_000, 'sent');
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(world, '5511999990005')).toHaveLength(2);

    // The same key with another request is refused; keys are per tenant.
    expect((await send({ ...body, message: 'outro texto' }, { headers: { 'idempotency-key': 'pedido-1042' } })).status).toBe(409);
    const otherTenant = await send({ ...body, instanceName: 'outra-loja' }, { key: world.other.apiKey, headers: { 'idempotency-key': 'pedido-1042' } });
    expect(otherTenant.status).toBe(200);
    expect(otherTenant.body.messageId).not.toBe(first.body.messageId);

    // Schedules too.
    const sched = { ...body, scheduledFor: inSeconds(3600) };
    const s1 = await world.api('/whatsapp/schedule-message', { body: sched, headers: { 'idempotency-key': 'agenda-1' } });
    const s2 = await world.api('/whatsapp/schedule-message', { body: sched, headers: { 'idempotency-key': 'agenda-1' } });
    expect(s1.status).toBe(202);
    expect(s2).toMatchObject({ status: 202, body: s1.body });
  });

  it('validates scheduledFor: past, now, beyond 90 days, no offset, unparseable → 400 naming the field', async () => {
    const body = text('5511999990006');
    const cases: Array<[unknown, RegExp]> = [
      [new Date(Date.now() - 60_000).toISOString(), /future/],
      [new Date().toISOString(), /future/],
      [new Date(Date.now() + 91 * 86_400_000).toISOString(), /90 days/],
      ['2030-03-10T14:30:00', /offset/],
      ['amanhã às 10h', /ISO 8601/],
      [1773152700, /expected string|ISO 8601/],
      [undefined, /required|expected string/],
    ];
    for (const [scheduledFor, rule] of cases) {
      const res = await world.api('/whatsapp/schedule-message', { body: { ...body, scheduledFor } });
      expect({ scheduledFor, status: res.status }).toEqual({ scheduledFor, status: 400 });
      const detail = res.body.error.details.find((d: { path: string }) => d.path === 'scheduledFor');
      expect(detail?.message).toMatch(rule);
    }
    // An offset other than Z is honoured.
    const at = new Date(Math.ceil((Date.now() + 3_600_000) / 1000) * 1000);
    const local = new Date(at.getTime() - 3 * 3_600_000).toISOString().replace('Z', '-03:00');
    const ok = await world.api('/whatsapp/schedule-message', { body: { ...body, scheduledFor: local } });
    expect(ok.status).toBe(202);
    expect(ok.body).toEqual({ success: true, scheduleId: expect.any(String), scheduledFor: at.toISOString(), message: 'Mensagem agendada com sucesso' });
    expect((await scheduleRow(world, ok.body.scheduleId))!.scheduledFor.toISOString()).toBe(at.toISOString());
  });

  it("keeps tenants apart: B cannot read A's message nor read, cancel or reschedule A's schedule", async () => {
    const msg = await send(text('5511999990007'));
    const sched = await world.api('/whatsapp/schedule-message', { body: { ...text('5511999990007'), scheduledFor: inSeconds(3600) } });
    const asB = { key: world.other.apiKey };
    expect((await world.api(`/whatsapp/messages/${msg.body.messageId}`, asB)).status).toBe(404);
    expect((await world.api(`/whatsapp/schedules/${sched.body.scheduleId}`, asB)).status).toBe(404);
    expect((await world.api(`/whatsapp/schedules/${sched.body.scheduleId}`, { ...asB, method: 'DELETE' })).status).toBe(404);
    expect((await world.api(`/whatsapp/schedules/${sched.body.scheduleId}`, { ...asB, method: 'PATCH', body: { scheduledFor: inSeconds(7200) } })).status).toBe(404);
    // Still A's, untouched.
    const mine = await world.api(`/whatsapp/schedules/${sched.body.scheduleId}`);
    expect(mine.body.schedule).toMatchObject({ status: 'scheduled', scheduledFor: sched.body.scheduledFor });
    // Ids that are not ids, and no key at all.
    expect((await world.api('/whatsapp/messages/not-a-uuid')).status).toBe(404);
    expect((await world.api('/whatsapp/schedules/1')).status).toBe(404);
    expect((await world.api(`/whatsapp/messages/${msg.body.messageId}`, { key: 'zf_wrong' })).status).toBe(401);
    const rows = await world.stack.db.db.select().from(messages).where(eq(messages.id, msg.body.messageId));
    expect(rows[0]!.tenantId).toBe(world.tenant.tenant.id);
  });
});
