/**
 * Real histories of the send workflows (an immediate send that retried; dispatched
 * schedules: one rescheduled and sent, one cancelled, one the dispatcher handed back after
 * a provider error), replayed at once through the operator command; with
 * RECORD_HISTORIES=1 saved to test/fixtures/histories, where test/replay/histories.test.ts
 * replays them against every later change. The fixtures `sending-schedule-*.json` were
 * recorded before the dispatcher existed (the workflow sends itself, SCHEDULE_DISPATCH=false):
 * they stay, so that mode and workflows started before it keep replaying.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli';
import { EVO_INSTANCE, inSeconds, startSendingWorld, type SendingWorld } from './support';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');

function exportHistory(workflowId: string): unknown {
  const out = execFileSync(
    process.env.ZAPFLOW_TEST_TEMPORAL_CLI!,
    ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', process.env.ZAPFLOW_TEST_TEMPORAL_ADDRESS!],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out);
}

describe('send workflow histories', () => {
  let world: SendingWorld;
  beforeAll(async () => {
    world = await startSendingWorld();
  });
  afterAll(() => world.close());

  it('records send and schedule histories that replay', async () => {
    world.evolution.failNext(1, { status: 500, body: { status: 500, error: 'boom' } });
    const send = await world.api('/whatsapp/send-message', { body: { instanceName: EVO_INSTANCE, phoneNumber: '5511933330001', message: 'Pedido confirmado' } });
    const sendId = `send:${send.body.messageId}`;
    await world.stack.client.workflow.getHandle(sendId).result();

    const later = await world.api('/whatsapp/schedule-message', {
      body: { instanceName: EVO_INSTANCE, phoneNumber: '5511933330002', message: 'Lembrete', scheduledFor: inSeconds(1.5) },
    });
    await world.api(`/whatsapp/schedules/${later.body.scheduleId}`, { method: 'PATCH', body: { scheduledFor: inSeconds(2.5) } });
    const laterId = `schedule:${later.body.scheduleId}`;
    await world.stack.client.workflow.getHandle(laterId).result();

    const cancelled = await world.api('/whatsapp/schedule-message', {
      body: { instanceName: EVO_INSTANCE, phoneNumber: '5511933330003', message: 'Nunca', scheduledFor: inSeconds(60) },
    });
    await world.api(`/whatsapp/schedules/${cancelled.body.scheduleId}`, { method: 'DELETE' });
    const cancelledId = `schedule:${cancelled.body.scheduleId}`;
    await world.stack.client.workflow.getHandle(cancelledId).result();

    world.evolution.failNext(1, { status: 500, body: { status: 500, error: 'boom' } }, (r) => JSON.stringify(r.body).includes('5511933330004'));
    const handedBack = await world.api('/whatsapp/schedule-message', {
      body: { instanceName: EVO_INSTANCE, phoneNumber: '5511933330004', message: 'De novo', scheduledFor: inSeconds(1.5) },
    });
    const handedBackId = `schedule:${handedBack.body.scheduleId}`;
    expect(await world.stack.client.workflow.getHandle(handedBackId).result()).toMatchObject({ status: 'sent' });

    const dir = process.env.RECORD_HISTORIES === '1' ? FIXTURES : fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-histories-'));
    const written: string[] = [];
    for (const [name, workflowId, workflowType] of [
      ['sending-send-retried', sendId, 'sendMessageWorkflow'],
      ['sending-dispatched-rescheduled', laterId, 'scheduledSendWorkflow'],
      ['sending-dispatched-cancelled', cancelledId, 'scheduledSendWorkflow'],
      ['sending-dispatched-handed-back', handedBackId, 'scheduledSendWorkflow'],
    ] as const) {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(file, `${JSON.stringify({ workflowId, workflowType, history: exportHistory(workflowId) }, null, 1)}\n`);
      written.push(file);
    }
    const check = await runCli(['workflows', 'check-replay', ...written]);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/replayed 4 histories: 4 ok, 0 failed/);
    expect(check.code).toBe(0);
  }, 240_000);
});
