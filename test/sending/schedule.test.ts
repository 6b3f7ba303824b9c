import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTemporalCli } from '../../src/temporal/binary';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer';
import { eventually } from '../support/stack';
import { EVO_INSTANCE, inSeconds, scheduleRow, sentTo, startSendingWorld, type SendingWorld } from './support';

const body = (phoneNumber: string, scheduledFor: string, message = 'Lembrete: sua consulta é amanhã às 10h.') => ({
  instanceName: EVO_INSTANCE,
  phoneNumber,
  message,
  scheduledFor,
});

describe.each([
  ['a worker dispatcher sends them, their workflows settle', true],
  ['their workflows send them (SCHEDULE_DISPATCH=false)', false],
])('scheduled sends: %s', (_mode, dispatched) => {
  let world: SendingWorld;
  const schedule = (b: Record<string, unknown>) => world.api('/whatsapp/schedule-message', { body: b });
  const result = (scheduleId: string) => world.stack.client.workflow.getHandle(`schedule:${scheduleId}`).result();

  beforeAll(async () => {
    world = await startSendingWorld({ env: { SCHEDULE_DISPATCH: String(dispatched) } });
  });
  afterAll(() => world.close());

  it('sends a scheduled message at its time, not before, and shows it as sent', async () => {
    const at = inSeconds(3);
    const res = await schedule(body('5511955550001', at));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ success: true, scheduleId: expect.any(String), scheduledFor: at, message: 'Mensagem agendada com sucesso' });
    const before = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`);
    expect(before.body.schedule).toMatchObject({ id: res.body.scheduleId, status: 'scheduled', scheduledFor: at, instanceName: EVO_INSTANCE, phoneNumber: '5511955550001', messageId: null });

    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent' });
    const [sent] = sentTo(world, '5511955550001');
    expect(sent!.receivedAt).toBeGreaterThanOrEqual(Date.parse(at));
    const after = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`);
    expect(after.body.schedule).toMatchObject({ status: 'sent', messageId: expect.any(String), messageStatus: 'sent', sentAt: expect.any(String) });
    const message = await world.api(`/whatsapp/messages/${after.body.schedule.messageId}`);
    expect(message.body.message).toMatchObject({ status: 'sent', providerMessageId: sent!.providerMessageId, body: 'Lembrete: sua consulta é amanhã às 10h.' });
    // Who sent it: the dispatcher claims its rows; a workflow that sends claims nothing.
    const row = await scheduleRow(world, res.body.scheduleId);
    expect({ dispatch: row!.dispatch, claimed: row!.claimedAt !== null }).toEqual({ dispatch: dispatched, claimed: dispatched });
  });

  it('cancels a pending schedule (again: same answer), and nothing is sent', async () => {
    const res = await schedule(body('5511955550002', inSeconds(3)));
    const cancel = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(200);
    expect(cancel.body.schedule).toMatchObject({ status: 'cancelled', cancelledAt: expect.any(String) });
    const again = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'cancelled' });
    await new Promise((r) => setTimeout(r, 2500));
    expect(sentTo(world, '5511955550002')).toHaveLength(0);
    // Nothing to move any more.
    expect((await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'PATCH', body: { scheduledFor: inSeconds(60) } })).status).toBe(409);
  });

  it('reschedules a pending schedule: it goes at the new time, not the old; same rules as scheduling', async () => {
    const first = inSeconds(1.5);
    const res = await schedule(body('5511955550003', first));
    const later = inSeconds(3.5);
    const patch = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'PATCH', body: { scheduledFor: later } });
    expect(patch.status).toBe(200);
    expect(patch.body.schedule).toMatchObject({ status: 'scheduled', scheduledFor: later });
    for (const [scheduledFor, rule] of [
      [new Date(Date.now() - 1000).toISOString(), /future/],
      [new Date(Date.now() + 100 * 86_400_000).toISOString(), /90 days/],
      ['soon', /ISO 8601/],
    ] as const) {
      const bad = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'PATCH', body: { scheduledFor } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'scheduledFor', message: expect.stringMatching(rule) })]);
    }
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent', scheduledFor: Date.parse(later) });
    const sent = sentTo(world, '5511955550003');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.receivedAt).toBeGreaterThanOrEqual(Date.parse(later));
    expect((await scheduleRow(world, res.body.scheduleId))!.scheduledFor.toISOString()).toBe(later);
  });

  it('answers 409 to cancel or reschedule once the message is sent', async () => {
    const res = await schedule(body('5511955550004', inSeconds(1)));
    await result(res.body.scheduleId);
    const cancel = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(409);
    expect(cancel.body.error.message).toMatch(/sent/);
    expect((await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'PATCH', body: { scheduledFor: inSeconds(60) } })).status).toBe(409);
    expect(sentTo(world, '5511955550004')).toHaveLength(1);
  });

  it('records a refused scheduled send as failed with the reason', async () => {
    world.evolution.notOnWhatsApp.add('5511955550005');
    const res = await schedule(body('5511955550005', inSeconds(1)));
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'failed', reason: 'RecipientInvalid' });
    const view = await world.api(`/whatsapp/schedules/${res.body.scheduleId}`);
    expect(view.body.schedule).toMatchObject({ status: 'failed', error: { reason: 'RecipientInvalid' }, messageStatus: 'failed' });
  });

  it('survives a worker restart between scheduling and the due time: sent once, on time', async () => {
    const at = inSeconds(4);
    const res = await schedule(body('5511955550006', at));
    // The schedule waits out its start delay on the server: no worker holds any of it.
    expect((await world.stack.client.workflow.getHandle(`schedule:${res.body.scheduleId}`).describe()).status.name).toBe('RUNNING');
    await world.stack.worker!.shutdown();
    await new Promise((r) => setTimeout(r, 1500));
    expect(sentTo(world, '5511955550006')).toHaveLength(0);
    await world.stack.startWorker();
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent' });
    const sent = sentTo(world, '5511955550006');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.receivedAt).toBeGreaterThanOrEqual(Date.parse(at));
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(world, '5511955550006')).toHaveLength(1);
  });
});

describe('scheduled sends across a Temporal server restart', () => {
  let server: DevServer;
  let port: number;
  let dbFile: string;
  let world: SendingWorld;

  beforeAll(async () => {
    port = await freePort();
    dbFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-temporal-')), 'temporal.db');
    server = await startDevServer({ binary: findTemporalCli()!, port, dbFile, fastSqlite: true });
    world = await startSendingWorld({ env: { TEMPORAL_ADDRESS: server.address }, temporalAddress: server.address });
  });
  afterAll(async () => {
    await world.close();
    await server.stop();
  });

  it('keeps the schedule through a server restart (persistent SQLite) and sends it once', async () => {
    const at = inSeconds(5);
    const res = await world.api('/whatsapp/schedule-message', { body: body('5511955550007', at) });
    expect(res.status).toBe(202);
    await world.stack.worker!.shutdown();
    await server.stop();
    server = await startDevServer({ binary: findTemporalCli()!, port, dbFile, fastSqlite: true });
    await world.stack.startWorker();
    await eventually(async () => sentTo(world, '5511955550007').length === 1, 20_000, 'sent after the restart');
    expect(sentTo(world, '5511955550007')[0]!.receivedAt).toBeGreaterThanOrEqual(Date.parse(at));
    await eventually(async () => (await scheduleRow(world, res.body.scheduleId))?.status === 'sent', 10_000, 'row sent');
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(world, '5511955550007')).toHaveLength(1);
  });
});
