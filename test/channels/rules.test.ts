/**
 * The channels API's refusals and Meta's quality webhooks, on real Temporal and PostgreSQL
 * with the fakes: unknown and other tenants' channels are 404; Evolution refusing, unreachable
 * or not configured leaves no channel and no instance behind; a quality drop to RED makes a
 * campaign on that number wait for the channel and tells the admin, and its recovery resumes it.
 */
import { eq } from 'drizzle-orm';
import { channels } from '../../src/db/schema';
import { channelWorkflowId } from '../../src/domain/workflowIds';
import { metaSignature } from '../support/payloads';
import { runCli } from '../support/cli';
import { postJson } from '../support/http';
import { eventually } from '../support/stack';
import { META_PHONE_ID, type SendingWorld } from '../sending/support';
import { campaignView, createCampaign, phones, seedContacts, untilState } from '../campaigns/support';
import { adminTexts, channelView, startChannelWorld } from './support';

jest.setTimeout(120_000);

let world: SendingWorld;

beforeAll(async () => {
  world = await startChannelWorld();
});

afterAll(async () => {
  await world?.close();
});

async function channelCount(): Promise<number> {
  return (await world.stack.db.db.select({ id: channels.id }).from(channels)).length;
}

describe('channels API refusals', () => {
  it('unknown ids and another tenant’s channel are 404 on every route', async () => {
    const otherId = world.other.channel.id;
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', otherId]) {
      expect((await world.api(`/channels/${id}`)).status).toBe(404);
      expect((await world.api(`/channels/${id}/qr`)).status).toBe(404);
      expect((await world.api(`/channels/${id}/states`)).status).toBe(404);
      expect((await world.api(`/channels/${id}/restart`, { body: {} })).status).toBe(404);
      expect((await world.api(`/channels/${id}/logout`, { body: {} })).status).toBe(404);
      expect((await world.api(`/channels/${id}`, { method: 'DELETE' })).status).toBe(404);
    }
    // The other tenant's number is untouched on Evolution.
    expect(world.evolution.logouts).not.toContain('outra-loja');
    // The list has the tenant's own channels (Meta's, added by an operator, too), never credentials.
    const list = await world.api('/channels');
    expect(list.body.channels.map((c: any) => c.id).sort()).toEqual([world.tenant.channel.id, world.metaChannelId].sort());
    expect(JSON.stringify(list.body)).not.toMatch(/evo-secret|evo-key|meta-token|meta-secret/);
  });

  it('bad bodies are 400 naming the field', async () => {
    const meta = await world.api('/channels', { body: { provider: 'meta', name: 'x' } });
    expect(meta.status).toBe(400);
    expect(meta.body.error.details).toEqual([expect.objectContaining({ path: 'provider' })]);
    const noName = await world.api('/channels', { body: { provider: 'evolution' } });
    expect(noName.status).toBe(400);
    expect(noName.body.error.details).toEqual([expect.objectContaining({ path: 'name' })]);
    const badRange = await world.api(`/channels/${world.tenant.channel.id}/states?from=yesterday`);
    expect(badRange.status).toBe(400);
  });

  it('Evolution refusing, unreachable or not configured: a clear error, no channel row, no instance left', async () => {
    const before = await channelCount();
    const instancesBefore = [...world.evolution.states.keys()].sort();

    world.evolution.failNext(1, { status: 500, body: { status: 500, error: 'Internal Server Error', response: { message: ['Database is down'] } } }, (r) => r.path === '/instance/create');
    const refused = await world.api('/channels', { body: { provider: 'evolution', name: 'Loja Falha' } });
    expect(refused.status).toBe(502);
    expect(refused.body.error.message).toMatch(/Evolution instance creation failed.*Database is down/);

    const config = world.stack.config as { EVOLUTION_BASE_URL?: string; EVOLUTION_API_KEY?: string };
    const url = config.EVOLUTION_BASE_URL;
    config.EVOLUTION_BASE_URL = 'http://127.0.0.1:9';
    try {
      const unreachable = await world.api('/channels', { body: { provider: 'evolution', name: 'Loja Longe' } });
      expect(unreachable.status).toBe(502);
      expect(unreachable.body.error.message).toMatch(/Evolution instance creation failed: unreachable/);
    } finally {
      config.EVOLUTION_BASE_URL = url;
    }

    const key = config.EVOLUTION_API_KEY;
    config.EVOLUTION_API_KEY = undefined;
    try {
      const off = await world.api('/channels', { body: { provider: 'evolution', name: 'Loja Sem' } });
      expect(off.status).toBe(503);
      expect(off.body.error.message).toContain('EVOLUTION_API_KEY');
    } finally {
      config.EVOLUTION_API_KEY = key;
    }

    expect(await channelCount()).toBe(before);
    expect([...world.evolution.states.keys()].sort()).toEqual(instancesBefore);
  });
});

describe('Meta quality', () => {
  it('a drop to RED: the admin is told, a campaign on the number waits for the channel; back to GREEN: it completes', async () => {
    // An operator-added Meta number: its display number is what Meta's quality webhooks name.
    await world.stack.db.db.update(channels).set({ phoneNumber: '5511955554444', messagingLimit: 'TIER_10K' }).where(eq(channels.id, world.metaChannelId));
    const audience = phones('73', 2);
    await seedContacts(world, world.tenant.tenant.id, audience.map((phone) => ({ phone })));
    const campaign = await createCampaign(world, {
      name: 'Meta',
      channels: [META_PHONE_ID],
      message: { template: { name: 'promo', language: 'pt_BR' } },
      audience: { phones: audience },
      startAt: new Date(Date.now() + 1_500).toISOString(),
    });

    const quality = (event: string, limit: string) => {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ id: '700000000000001', time: Math.floor(Date.now() / 1000), changes: [{ field: 'phone_number_quality_update', value: { display_phone_number: '5511955554444', event, current_limit: limit } }] }],
      });
      return postJson(`${world.stack.url}/webhooks/meta`, body, { 'x-hub-signature-256': metaSignature(body, 'meta-secret') });
    };
    expect((await quality('FLAGGED', 'TIER_1K')).status).toBe(200);
    const red = await channelView(world, world.metaChannelId);
    expect(red.quality).toEqual({ rating: 'RED', messagingLimit: 'TIER_1K' });
    await eventually(async () => adminTexts(world).some((t) => t.includes('queda de qualidade') && t.includes('RED')), 20_000, 'admin told of the drop');
    await eventually(async () => {
      const v = await campaignView(world, campaign.id);
      return v.state === 'waiting' && v.waitingFor === 'channel';
    }, 30_000, 'campaign waiting for the channel');
    expect(world.meta.requests.filter((r) => r.path.endsWith('/messages'))).toEqual([]);

    expect((await quality('UNFLAGGED', 'TIER_1K')).status).toBe(200);
    const done = await untilState(world, campaign.id, ['completed'], 30_000);
    expect(done.counts).toMatchObject({ sent: 2, failed: 0 });
    const states = await world.api(`/channels/${world.metaChannelId}/states`);
    expect(states.body.changes.map((c: any) => c.reason)).toEqual(expect.arrayContaining([expect.stringContaining('quality:FLAGGED'), expect.stringContaining('quality:UNFLAGGED')]));
  });
});

describe('zapflow channels CLI', () => {
  it('create, qr (drawn in the terminal) and state go through the same service as the API', async () => {
    const config = world.stack.config;
    const env = {
      DATABASE_URL: world.stack.db.url,
      EVOLUTION_BASE_URL: world.evolution.url,
      EVOLUTION_API_KEY: 'evo-key',
      ZAPFLOW_PUBLIC_URL: world.stack.url,
      TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
    };
    const created = await runCli(['channels', 'create', '--tenant', world.tenant.tenant.id, '--name', 'Loja CLI', '--json'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const channel = JSON.parse(created.stdout) as { id: string; instanceName: string; state: string };
    expect(channel).toMatchObject({ instanceName: expect.stringMatching(/^zf-loja-cli-/), state: 'qr' });
    expect(world.evolution.webhooks.get(channel.instanceName)?.url).toBe(`${world.stack.url}/webhooks/evolution`);
    // Its watching workflow was started (Temporal was reachable).
    const watch = await world.stack.client.workflow.getHandle(channelWorkflowId(channel.id)).describe();
    expect(watch.status.name).toBe('RUNNING');

    const qr = await runCli(['channels', 'qr', channel.id], env);
    expect(qr.code).toBe(0);
    expect(qr.stdout).toMatch(/[▀▄█]/);
    expect(qr.stdout).toContain('expires at');

    const state = await runCli(['channels', 'state', channel.id, '--json'], env);
    expect(state.code).toBe(0);
    const view = JSON.parse(state.stdout);
    expect(view).toMatchObject({ id: channel.id, state: 'qr', changes: [expect.objectContaining({ state: 'qr' }), expect.objectContaining({ state: 'creating' })] });

    const unknown = await runCli(['channels', 'state', '00000000-0000-4000-8000-000000000000'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('not found');
  });
});
