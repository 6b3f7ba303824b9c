/**
 * Pause, resume and cancel (updates of the campaign's workflow) on real Temporal and
 * PostgreSQL: no send starts after a pause or cancel has been answered, a resume picks up
 * where it stopped, nobody gets two; and a contact who opts out mid-campaign gets nothing more.
 */
import { and, eq } from 'drizzle-orm';
import { contacts, messages } from '../../src/db/schema';
import { campaignWorkflowId } from '../../src/domain/workflowIds';
import { recordHistory } from '../support/recordHistory';
import { eventually } from '../support/stack';
import { evolutionText } from '../support/payloads';
import { postJson } from '../support/http';
import type { SendingWorld } from '../sending/support';
import { EVO_INSTANCE } from '../sending/support';
import { campaignView, createCampaign, phones, recipientsOf, startCampaignWorld, untilState } from './support';

describe('campaign pause, resume, cancel', () => {
  let world: SendingWorld;
  beforeAll(async () => {
    world = await startCampaignWorld();
  });
  afterAll(() => world?.close());

  /** What the Evolution fake received for these phones: receipt times by phone. */
  const receipts = (list: string[]) => {
    const wanted = new Set(list);
    return world.evolution.sent.filter((s) => wanted.has(s.number));
  };

  it('sends nothing after a pause is answered, then resumes and sends everyone exactly once', async () => {
    const audience = phones('81', 20);
    const campaign = await createCampaign(world, {
      name: 'Pausável',
      channels: [EVO_INSTANCE],
      message: 'Oferta para {{phone}}',
      audience: { phones: audience },
      pacing: { minGapMs: 150, jitterMs: 0 },
    });
    await eventually(async () => receipts(audience).length >= 4, 20_000, 'four sends');

    const paused = await world.api(`/campaigns/${campaign.id}/pause`, { body: {} });
    const answeredAt = Date.now();
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ state: 'paused', counts: { sending: 0 } });
    const atAnswer = receipts(audience).length;
    expect(atAnswer).toBeLessThan(audience.length);
    await new Promise((r) => setTimeout(r, 1_500));
    // Nothing reached the provider after the answer.
    expect(receipts(audience).filter((s) => s.receivedAt > answeredAt)).toEqual([]);
    expect(receipts(audience)).toHaveLength(atAnswer);
    const view = await campaignView(world, campaign.id);
    expect(view).toMatchObject({ state: 'paused', counts: { sent: atAnswer, queued: audience.length - atAnswer } });
    // Pausing again is the same answer.
    expect((await world.api(`/campaigns/${campaign.id}/pause`, { body: {} })).body.state).toBe('paused');

    const resumed = await world.api(`/campaigns/${campaign.id}/resume`, { body: {} });
    expect(resumed.status).toBe(200);
    expect(['running', 'waiting', 'completed']).toContain(resumed.body.state);
    const done = await untilState(world, campaign.id, ['completed']);
    expect(done.counts).toMatchObject({ sent: audience.length, queued: 0, failed: 0 });
    const got = receipts(audience).map((s) => s.number);
    expect(got.sort()).toEqual([...audience].sort());
    recordHistory('campaign-paused-resumed', campaignWorkflowId(campaign.id), 'campaignWorkflow');

    // A finished campaign can be neither paused nor resumed.
    expect((await world.api(`/campaigns/${campaign.id}/pause`, { body: {} })).status).toBe(409);
  });

  it('cancels: nothing after the answer, the rest stays unsent, and the workflow ends', async () => {
    const audience = phones('82', 20);
    const campaign = await createCampaign(world, {
      name: 'Cancelável',
      channels: [EVO_INSTANCE],
      message: 'Oi',
      audience: { phones: audience },
      pacing: { minGapMs: 150, jitterMs: 0 },
    });
    await eventually(async () => receipts(audience).length >= 3, 20_000, 'three sends');
    const cancelled = await world.api(`/campaigns/${campaign.id}/cancel`, { body: {} });
    const answeredAt = Date.now();
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    const result = await world.stack.client.workflow.getHandle(campaignWorkflowId(campaign.id)).result();
    expect(result).toMatchObject({ state: 'cancelled' });
    await new Promise((r) => setTimeout(r, 500));
    expect(receipts(audience).filter((s) => s.receivedAt > answeredAt)).toEqual([]);
    const view = await campaignView(world, campaign.id);
    expect(view.state).toBe('cancelled');
    expect(view.counts.sent).toBe(receipts(audience).length);
    expect(view.counts.queued).toBe(audience.length - view.counts.sent);
    expect((await world.api(`/campaigns/${campaign.id}/resume`, { body: {} })).status).toBe(409);
  });

  it('skips a recipient who opted out mid-campaign, and sends them nothing', async () => {
    const audience = phones('83', 6);
    const quitter = audience[5]!;
    const campaign = await createCampaign(world, {
      name: 'Com opt-out',
      channels: [EVO_INSTANCE],
      message: 'Novidades!',
      audience: { phones: audience },
      pacing: { minGapMs: 200, jitterMs: 0 },
    });
    await eventually(async () => receipts(audience).length >= 1, 20_000, 'the first send');
    expect((await world.api(`/campaigns/${campaign.id}/pause`, { body: {} })).status).toBe(200);

    // The contact answers PARE: opted out everywhere (the contact workflow records it).
    const res = await postJson(`${world.stack.url}/webhooks/evolution`, evolutionText({ instance: EVO_INSTANCE, phone: quitter, text: 'PARE' }), {
      'x-zapflow-secret': 'evo-secret',
    });
    expect(res.status).toBe(200);
    const tenantId = world.tenant.tenant.id;
    await eventually(async () => {
      const [row] = await world.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, quitter)));
      return row?.optedOutAt;
    }, 20_000, 'the opt-out');

    expect((await world.api(`/campaigns/${campaign.id}/resume`, { body: {} })).status).toBe(200);
    const done = await untilState(world, campaign.id, ['completed']);
    expect(done.counts).toMatchObject({ sent: 5, skipped: 1, skippedBy: { opted_out: 1 } });
    // The quitter got the opt-out confirmation, never the campaign.
    expect(receipts([quitter]).map((s) => s.body.text)).not.toContain('Novidades!');
    const rows = await recipientsOf(world, campaign.id);
    const quitterRow = rows.find((r) => r.phone === quitter)!;
    expect(quitterRow).toMatchObject({ status: 'skipped', reason: 'opted_out' });
    // Its send was refused by the delivery, like any send to an opted-out contact.
    const [message] = await world.stack.db.db.select().from(messages).where(eq(messages.id, quitterRow.messageId!));
    expect(message).toMatchObject({ status: 'failed', error: expect.objectContaining({ reason: 'OptedOut' }) });
  });
});
