/**
 * Campaigns through the API on real Temporal and PostgreSQL: creation resolves the audience
 * (duplicates, invalid numbers, opt-outs), messages are rendered per recipient, counts and
 * recipient lists follow; validation names the field; a campaign that could send nothing is
 * refused with the reason; another tenant's campaign does not exist.
 */
import { and, eq, sql } from 'drizzle-orm';
import { campaigns, channels, contacts, conversationEvents } from '../../src/db/schema';
import { campaignWorkflowId } from '../../src/domain/workflowIds';
import { recordHistory } from '../support/recordHistory';
import type { SendingWorld } from '../sending/support';
import { EVO_INSTANCE, META_PHONE_ID, sentTo } from '../sending/support';
import { campaignView, createCampaign, phones, recipientsOf, seedContacts, startCampaignWorld, untilState } from './support';

describe('campaigns API', () => {
  let world: SendingWorld;
  beforeAll(async () => {
    // Pages of 3: bigger campaigns here continue as new between pages.
    world = await startCampaignWorld({ CAMPAIGN_PAGE_SIZE: '3' });
  });
  afterAll(() => world?.close());

  it('resolves a phone list, renders each message, sends once to each and counts what happened', async () => {
    const [ana, bia, opted] = phones('71', 3);
    const tenantId = world.tenant.tenant.id;
    await seedContacts(world, tenantId, [
      { phone: ana!, name: 'Ana', variables: { plano: 'anual' } },
      { phone: opted!, name: 'Caio' },
    ]);
    await world.stack.db.db.update(contacts).set({ optedOutAt: new Date() }).where(eq(contacts.phone, opted!));

    const created = await createCampaign(world, {
      name: 'Black Friday',
      channels: [EVO_INSTANCE],
      message: 'Oi {{name}}, seu plano {{plano}} tem desconto!',
      // The same phone twice (once as a client types it), one that is no number, one opted out.
      audience: { phones: [ana, `+55 (11) 9${ana!.slice(5, 9)}-${ana!.slice(9)}`, bia, 'não sei', opted] },
    });
    expect(created.counts).toMatchObject({ recipients: 5, queued: 2, skipped: 3, skippedBy: { duplicate: 1, invalid_number: 1, opted_out: 1 } });

    const done = await untilState(world, created.id, ['completed']);
    expect(done.counts).toMatchObject({ queued: 0, sending: 0, sent: 2, failed: 0, skipped: 3 });
    expect(sentTo(world, ana!).map((s) => s.body.text)).toEqual(['Oi Ana, seu plano anual tem desconto!']);
    expect(sentTo(world, bia!).map((s) => s.body.text)).toEqual(['Oi , seu plano  tem desconto!']);
    expect(sentTo(world, opted!)).toHaveLength(0);
    // The phone nobody had is a contact now.
    const [biaRow] = await world.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, bia!)));
    expect(biaRow).toBeDefined();

    // Recipients, a page at a time and by status.
    const first = await world.api(`/campaigns/${created.id}/recipients?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.recipients).toHaveLength(2);
    const second = await world.api(`/campaigns/${created.id}/recipients?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.recipients.map((r: any) => r.id)).not.toContain(first.body.recipients[0].id);
    const sent = await world.api(`/campaigns/${created.id}/recipients?status=sent`);
    expect(sent.body.recipients.map((r: any) => r.phone).sort()).toEqual([ana, bia].sort());
    expect(sent.body.recipients[0]).toMatchObject({ status: 'sent', messageId: expect.any(String), sentAt: expect.any(String) });
    const skipped = await world.api(`/campaigns/${created.id}/recipients?status=skipped`);
    expect(skipped.body.recipients.map((r: any) => r.reason).sort()).toEqual(['invalid_number', 'opted_out']);

    // The facts are in the event log, with the campaign.
    const events = await world.stack.db.db
      .select({ kind: conversationEvents.kind, n: sql<number>`count(*)::int` })
      .from(conversationEvents)
      .where(eq(conversationEvents.campaignId, created.id))
      .groupBy(conversationEvents.kind);
    expect(Object.fromEntries(events.map((e) => [e.kind, e.n]))).toMatchObject({ campaign_sent: 2, campaign_skipped: 2 });

    const list = await world.api('/campaigns?limit=10');
    expect(list.body.campaigns.map((c: any) => c.id)).toContain(created.id);
  });

  it('starts at its startAt and pages through the audience, continuing as new between pages', async () => {
    const audience = phones('75', 7);
    const startAt = new Date(Date.now() + 2_000).toISOString().replace('Z', '+00:00');
    const created = await createCampaign(world, { name: 'Agendada', channels: [EVO_INSTANCE], message: 'Bom dia!', audience: { phones: audience }, startAt });
    expect(created).toMatchObject({ state: 'scheduled', startAt: new Date(startAt).toISOString() });
    const done = await untilState(world, created.id, ['completed']);
    expect(new Date(done.startedAt).getTime()).toBeGreaterThanOrEqual(new Date(startAt).getTime());
    expect(done.counts).toMatchObject({ sent: 7 });
    for (const phone of audience) expect(sentTo(world, phone)).toHaveLength(1);
    const handle = world.stack.client.workflow.getHandle(campaignWorkflowId(created.id));
    // 7 recipients in pages of 3: the third run finished the campaign, carrying the count.
    expect(await handle.result()).toMatchObject({ state: 'completed', processed: 7 });
    const runs: string[] = [];
    for await (const wf of world.stack.client.workflow.list({ query: `WorkflowId = '${campaignWorkflowId(created.id)}'` })) runs.push(wf.runId);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    recordHistory('campaign-scheduled-paged', campaignWorkflowId(created.id), 'campaignWorkflow');
  });

  it('skips a recipient who already got the day\'s campaign sends (perRecipientPerDay)', async () => {
    const tenantId = world.tenant.tenant.id;
    const [p1, p2] = phones('72', 2);
    await seedContacts(world, tenantId, [
      { phone: p1!, tags: ['vip'] },
      { phone: p2!, tags: ['vip'] },
    ]);
    const a = await createCampaign(world, { name: 'Primeira', channels: [EVO_INSTANCE], message: 'Primeira', audience: { phones: [p1] } });
    await untilState(world, a.id, ['completed']);
    const b = await createCampaign(world, {
      name: 'Segunda',
      channels: [EVO_INSTANCE],
      message: 'Segunda',
      audience: { tags: ['vip'] },
      quotas: { perRecipientPerDay: 1 },
    });
    const done = await untilState(world, b.id, ['completed']);
    expect(done.counts).toMatchObject({ sent: 1, skipped: 1, skippedBy: { recipient_cap: 1 } });
    expect(sentTo(world, p1!).map((s) => s.body.text)).toEqual(['Primeira']);
    expect(sentTo(world, p2!).map((s) => s.body.text)).toEqual(['Segunda']);
  });

  it('names the field of every validation error', async () => {
    const post = (body: unknown) => world.api('/campaigns', { body });
    const paths = (res: { body: any }) => (res.body.error?.details ?? []).map((d: any) => d.path);
    const ok = { name: 'X', channels: [EVO_INSTANCE], message: 'Oi', audience: { phones: ['5511988880000'] } };

    const empty = await post({});
    expect(empty.status).toBe(400);
    expect(paths(empty)).toEqual(expect.arrayContaining(['name', 'channels', 'message', 'audience']));
    expect(paths(await post({ ...ok, audience: { tags: ['a'], phones: ['5511988880000'] } }))).toEqual(['audience']);
    expect(paths(await post({ ...ok, windows: '25:00-26:00' }))).toEqual(['windows']);
    expect(paths(await post({ ...ok, days: [7] }))).toEqual(['days.0']);
    expect(paths(await post({ ...ok, quotas: { perChannelPerMinute: -1 } }))).toEqual(['quotas.perChannelPerMinute']);
    expect(paths(await post({ ...ok, quotas: { perSecond: 1 } }))).toEqual(['quotas']);
    expect(paths(await post({ ...ok, pacing: { minGapMs: 'x' } }))).toEqual(['pacing.minGapMs']);
    expect(paths(await post({ ...ok, startAt: 'amanhã' }))).toEqual(['startAt']);
    expect(paths(await post({ ...ok, message: { buttons: [{ title: 'Sim' }] } }))).toEqual(['message.message']);
    expect(paths(await post({ ...ok, channels: [EVO_INSTANCE, 'nope'] }))).toEqual(['channels.1']);
    expect(paths(await post({ ...ok, audience: { importId: '00000000-0000-4000-8000-000000000000' } }))).toEqual(['audience.importId']);
    expect(paths(await post({ ...ok, colour: 'blue' }))).toEqual(['(body)']);
  });

  it('refuses, with the reason, a campaign that could send nothing', async () => {
    const tenantId = world.tenant.tenant.id;
    const post = async (body: Record<string, unknown>) => {
      const res = await world.api('/campaigns', { body: { name: 'Nada', channels: [EVO_INSTANCE], message: 'Oi', audience: { phones: ['5511988881111'] }, ...body } });
      expect(res.status).toBe(400);
      return res.body.error as { message: string; details: Array<{ path: string }> };
    };

    // A Meta number needs a template; an Evolution number cannot send one.
    expect(await post({ channels: [META_PHONE_ID] })).toMatchObject({ details: [{ path: 'message' }], message: expect.stringContaining('only a template') });
    expect(await post({ message: { template: { name: 'promo', language: 'pt_BR' } } })).toMatchObject({ details: [{ path: 'message.template' }] });

    // Nobody to send to: everyone opted out or not a number; no contact with the tag.
    const [opted] = phones('73', 1);
    await seedContacts(world, tenantId, [{ phone: opted! }]);
    await world.stack.db.db.update(contacts).set({ optedOutAt: new Date() }).where(eq(contacts.phone, opted!));
    expect(await post({ audience: { phones: [opted, 'abc'] } })).toMatchObject({
      details: [{ path: 'audience' }],
      message: expect.stringContaining('1 opted out, 1 invalid number'),
    });
    expect(await post({ audience: { tags: ['ninguém-tem'] } })).toMatchObject({ details: [{ path: 'audience' }], message: expect.stringContaining('no contact') });

    // No connected channel.
    const channelId = world.tenant.channel.id;
    await world.stack.db.db.update(channels).set({ connectionState: 'disconnected' }).where(eq(channels.id, channelId));
    try {
      expect(await post({})).toMatchObject({ details: [{ path: 'channels' }], message: expect.stringContaining('no connected channel') });
    } finally {
      await world.stack.db.db.update(channels).set({ connectionState: 'connected' }).where(eq(channels.id, channelId));
    }
    // Nothing was written by the refusals.
    const names = await world.stack.db.db.select({ name: campaigns.name }).from(campaigns).where(eq(campaigns.name, 'Nada'));
    expect(names).toHaveLength(0);
  });

  it("answers 404 for another tenant's campaign", async () => {
    const [p] = phones('74', 1);
    const mine = await createCampaign(world, { name: 'Minha', channels: [EVO_INSTANCE], message: 'Oi', audience: { phones: [p] } });
    const key = world.other.apiKey;
    expect((await world.api(`/campaigns/${mine.id}`, { key })).status).toBe(404);
    expect((await world.api(`/campaigns/${mine.id}/recipients`, { key })).status).toBe(404);
    expect((await world.api(`/campaigns/${mine.id}/pause`, { key, method: 'POST', body: {} })).status).toBe(404);
    expect((await world.api('/campaigns/not-an-id', { key })).status).toBe(404);
    const list = await world.api('/campaigns', { key });
    expect(list.body.campaigns).toEqual([]);
    // Nor may it name my channel.
    const theirs = await world.api('/campaigns', { key, body: { name: 'X', channels: [world.tenant.channel.id], message: 'Oi', audience: { phones: [p] } } });
    expect(theirs.status).toBe(400);
    expect(theirs.body.error.details[0].path).toBe('channels.0');
    await untilState(world, mine.id, ['completed']);
    expect((await campaignView(world, mine.id)).counts.sent).toBe(1);
    expect(await recipientsOf(world, mine.id)).toHaveLength(1);
  });

  it('creates one campaign for one Idempotency-Key, however often (and however concurrently) it is posted', async () => {
    const [p] = phones('76', 1);
    const body = { name: 'Uma vez', channels: [EVO_INSTANCE], message: 'Só uma vez', audience: { phones: [p] } };
    const headers = { 'idempotency-key': 'black-friday-2026' };
    const [a, b] = await Promise.all([world.api('/campaigns', { body, headers }), world.api('/campaigns', { body, headers })]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.id).toBe(b.body.id);
    // Later, even with another body, the key answers the campaign it made.
    const again = await world.api('/campaigns', { body: { ...body, name: 'Outra' }, headers });
    expect(again).toMatchObject({ status: 200, body: { id: a.body.id, name: 'Uma vez' } });
    await untilState(world, a.body.id, ['completed']);
    expect(sentTo(world, p!)).toHaveLength(1);
    // The same key from another tenant is another campaign (it may not name my channel, so: refused, not mine).
    const theirs = await world.api('/campaigns', { key: world.other.apiKey, body, headers });
    expect(theirs.status).toBe(400);
    const bad = await world.api('/campaigns', { body, headers: { 'idempotency-key': 'x'.repeat(300) } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('Idempotency-Key');
  });
});
