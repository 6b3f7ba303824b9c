/**
 * Attribution on real Temporal and PostgreSQL: a campaign sends a Meta template; a contact
 * taps its button ("Pode falar sim!"), whose webhook names the template's message
 * (`context.id`); the funnel run the tap starts carries the campaign (column, search
 * attribute, campaign_clicked), `GET /api/funnel-runs?campaignId=` finds it, and the
 * campaign counts the click and the reply.
 */
import { and, eq } from 'drizzle-orm';
import { conversationEvents } from '../../src/db/schema';
import { CampaignIdKey } from '../../src/domain/searchAttributes';
import { postJson } from '../support/http';
import { metaInbound, metaSignature } from '../support/payloads';
import { eventually } from '../support/stack';
import { funnelDef } from '../support/funnels';
import type { SendingWorld } from '../sending/support';
import { META_PHONE_ID } from '../sending/support';
import { campaignView, createCampaign, phones, seedContacts, startCampaignWorld, untilState } from './support';

describe('campaign attribution', () => {
  let world: SendingWorld;
  beforeAll(async () => {
    world = await startCampaignWorld({ FUNNEL_TRIGGER_CACHE: '0' });
  });
  afterAll(() => world?.close());

  /** A button tap from `from` through the real Meta webhook, answering `replyTo` when given. */
  async function tap(from: string, replyTo?: string) {
    const body = JSON.stringify(
      metaInbound({
        phoneNumberId: META_PHONE_ID,
        from,
        message: {
          type: 'button',
          button: { payload: 'pode_falar_sim', text: 'Pode falar sim!' },
          ...(replyTo ? { context: { from: '5511999990000', id: replyTo } } : {}),
        },
      }),
    );
    const res = await postJson(`${world.stack.url}/webhooks/meta`, body, { 'x-hub-signature-256': metaSignature(body, 'meta-secret') });
    expect(res.status).toBe(200);
  }

  it('ties a template button click to its campaign', async () => {
    const funnel = await world.api('/funnels', { body: funnelDef() });
    expect(funnel.status).toBe(201);
    const [ana, bia] = phones('61', 2);
    await seedContacts(world, world.tenant.tenant.id, [{ phone: ana!, name: 'Ana' }]);
    const campaign = await createCampaign(world, {
      name: 'Template',
      channels: [META_PHONE_ID],
      message: { template: { name: 'promo_black_friday', language: 'pt_BR', variables: ['{{name}}'] } },
      audience: { phones: [ana, bia] },
    });
    await untilState(world, campaign.id, ['completed']);
    const toAna = world.meta.sent.find((s) => s.waId === ana && s.type === 'template');
    expect(toAna).toBeDefined();
    expect(JSON.stringify(toAna!.body)).toContain('Ana');

    // Ana taps the template's button; Bia taps a button of something else.
    await tap(ana!, toAna!.providerMessageId);
    await tap(bia!);
    const runs = await eventually(async () => {
      const res = await world.api(`/funnel-runs?campaignId=${campaign.id}`);
      return res.body.runs?.length === 1 ? res.body.runs : undefined;
    }, 20_000, 'the attributed run');
    expect(runs[0]).toMatchObject({ campaignId: campaign.id, contactKey: ana, funnelId: funnel.body.id });
    const all = await eventually(async () => {
      const res = await world.api('/funnel-runs');
      return res.body.runs?.length === 2 ? res.body.runs : undefined;
    }, 20_000, 'both runs');
    expect(all.find((r: any) => r.contactKey === bia).campaignId).toBeNull();

    // The run's workflow carries the search attribute; the click is in the event log.
    // (A click's run row is written, and its first message sent, just before its workflow starts.)
    const description = await eventually(() => world.stack.client.workflow.getHandle(runs[0].id).describe(), 20_000, 'the run workflow');
    expect(description.typedSearchAttributes.get(CampaignIdKey)).toBe(campaign.id);
    const clicked = await world.stack.db.db
      .select()
      .from(conversationEvents)
      .where(and(eq(conversationEvents.campaignId, campaign.id), eq(conversationEvents.kind, 'campaign_clicked')));
    expect(clicked).toHaveLength(1);
    expect(clicked[0]).toMatchObject({ runId: runs[0].id });

    const view = await campaignView(world, campaign.id);
    expect(view.counts).toMatchObject({ sent: 2, clicked: 1, replied: 2 });
    expect((await world.api('/funnel-runs?campaignId=nope')).status).toBe(400);
  });
});
