/**
 * The worker's schedule dispatcher with its workflows as the durable backstop: a send that
 * fails at its moment is handed back and retried by the workflow at once; a claim left by a
 * dead worker is taken over after SCHEDULE_CLAIM_TTL; never twice.
 */
import { eq, sql } from 'drizzle-orm';
import { messageAttempts, messages, scheduledMessages } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { EVO_INSTANCE, inSeconds, scheduleRow, sentTo, startSendingWorld, type SendingWorld } from './support';

const SETTLE_MS = 8_000;
const CLAIM_TTL_MS = 16_000;

describe('schedule dispatcher', () => {
  let world: SendingWorld;
  const schedule = (phoneNumber: string, scheduledFor: string) =>
    world.api('/whatsapp/schedule-message', { body: { instanceName: EVO_INSTANCE, phoneNumber, message: 'Sua consulta é hoje às 15h.', scheduledFor } });
  const firstSend = (phone: string, timeoutMs: number) =>
    eventually(async () => sentTo(world, phone)[0], timeoutMs, `a send to ${phone}`);
  const result = (scheduleId: string) => world.stack.client.workflow.getHandle(`schedule:${scheduleId}`).result();
  const attemptsOf = async (scheduleId: string) =>
    world.stack.db.db
      .select({ attempt: messageAttempts.attempt, outcome: messageAttempts.outcome })
      .from(messageAttempts)
      .innerJoin(messages, eq(messages.id, messageAttempts.messageId))
      .where(eq(messages.idempotencyKey, `schedule:${scheduleId}`))
      .orderBy(messageAttempts.attempt);

  beforeAll(async () => {
    world = await startSendingWorld({ env: { SCHEDULE_SETTLE_AFTER: `${SETTLE_MS}ms`, SCHEDULE_CLAIM_TTL: `${CLAIM_TTL_MS}ms` } });
  });
  afterAll(() => world.close());

  it('sends at its time without waiting for the workflow, which then closes with the outcome', async () => {
    const at = inSeconds(2);
    const res = await schedule('5511944440001', at);
    expect(res.status).toBe(202);
    const sent = await firstSend('5511944440001', 10_000);
    expect(sent.receivedAt).toBeGreaterThanOrEqual(Date.parse(at));
    // Sent and recorded long before the workflow wakes (SETTLE_MS after the time).
    expect(sent.receivedAt).toBeLessThan(Date.parse(at) + SETTLE_MS);
    const row = await eventually(async () => {
      const r = await scheduleRow(world, res.body.scheduleId);
      return r?.status === 'sent' && r;
    });
    expect(row.claimedAt).not.toBeNull();
    expect((await world.api(`/whatsapp/schedules/${res.body.scheduleId}`, { method: 'DELETE' })).status).toBe(409);
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent', messageId: row.messageId });
    expect(sentTo(world, '5511944440001')).toHaveLength(1);
    expect(await attemptsOf(res.body.scheduleId)).toEqual([{ attempt: 1, outcome: 'sent' }]);
  });

  it('hands a send that failed at its moment back to the workflow, which retries it at once: sent once', async () => {
    world.evolution.failNext(1, { status: 500, body: { status: 500, error: 'boom' } }, (r) => JSON.stringify(r.body).includes('5511944440002'));
    const at = inSeconds(2);
    const res = await schedule('5511944440002', at);
    const sent = await firstSend('5511944440002', 15_000);
    // The workflow was woken by the hand-back, not by its settle time.
    expect(sent.receivedAt).toBeLessThan(Date.parse(at) + SETTLE_MS);
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent' });
    expect(await attemptsOf(res.body.scheduleId)).toEqual([
      { attempt: 1, outcome: 'retry' },
      { attempt: 2, outcome: 'sent' },
    ]);
    expect(sentTo(world, '5511944440002')).toHaveLength(1);
    expect(await scheduleRow(world, res.body.scheduleId)).toMatchObject({ status: 'sent' });
  });

  it('takes over a claim left by a dead worker once the claim is older than SCHEDULE_CLAIM_TTL, and sends once', async () => {
    const at = inSeconds(3);
    const res = await schedule('5511944440003', at);
    // A dispatcher of another worker claims it, then dies before sending.
    const claimedAt = Date.now();
    await world.stack.db.db
      .update(scheduledMessages)
      .set({ status: 'sending', claimedAt: sql`now()` })
      .where(eq(scheduledMessages.id, res.body.scheduleId));
    expect(await result(res.body.scheduleId)).toMatchObject({ status: 'sent' });
    const sent = sentTo(world, '5511944440003');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.receivedAt).toBeGreaterThanOrEqual(claimedAt + CLAIM_TTL_MS);
    expect(await scheduleRow(world, res.body.scheduleId)).toMatchObject({ status: 'sent' });
  }, 60_000);

  it('lets a cancel win before the claim and refuses it after, with nothing sent in the first case', async () => {
    const early = await schedule('5511944440004', inSeconds(3));
    expect((await world.api(`/whatsapp/schedules/${early.body.scheduleId}`, { method: 'DELETE' })).status).toBe(200);
    const late = await schedule('5511944440005', inSeconds(1.5));
    await eventually(async () => (await scheduleRow(world, late.body.scheduleId))?.status !== 'scheduled', 10_000, 'claimed');
    const refused = await world.api(`/whatsapp/schedules/${late.body.scheduleId}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(await result(early.body.scheduleId)).toMatchObject({ status: 'cancelled' });
    expect(await result(late.body.scheduleId)).toMatchObject({ status: 'sent' });
    expect(sentTo(world, '5511944440004')).toHaveLength(0);
    expect(sentTo(world, '5511944440005')).toHaveLength(1);
  }, 60_000);
});
