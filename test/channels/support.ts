/**
 * Shared set-up of the channel tests: the sending world (API, worker, Evolution and Meta
 * fakes, a tenant with a channel of each, another tenant) configured to create instances on
 * the Evolution fake, whose webhooks come back to this stack; short grace and QR lifetime so
 * tests spend seconds (no test asserts a duration).
 */
import { eq } from 'drizzle-orm';
import { tenants } from '../../src/db/schema';
import { startSendingWorld, type SendingWorld } from '../sending/support';
import { CAMPAIGN_TEST_ENV } from '../campaigns/support';

export const CHANNEL_TEST_ENV: Record<string, string> = {
  ...CAMPAIGN_TEST_ENV,
  // Long: a campaign waiting for a channel resumes only because the channel workflow wakes it.
  CAMPAIGN_CHANNEL_RECHECK: '10m',
  CHANNEL_DISCONNECT_GRACE: '1s',
  CHANNEL_QR_LIFETIME: '2s',
  CHANNEL_WATCH_POLL: '10m',
  CHANNEL_DOWN_SEND_RETRY: '500ms',
  EVOLUTION_API_KEY: 'evo-key',
};

/** The admin contact's phone in these tests (told through the tenant's loja-centro channel). */
export const ADMIN_PHONE = '5511977776666';

export async function startChannelWorld(env: Record<string, string> = {}): Promise<SendingWorld> {
  const world = await startSendingWorld({ env: { ...CHANNEL_TEST_ENV, ...env } });
  // Both URLs are known only once the fake and the stack listen; the API and the worker read
  // the one config object at each call.
  const config = world.stack.config as { EVOLUTION_BASE_URL?: string; ZAPFLOW_PUBLIC_URL?: string };
  config.EVOLUTION_BASE_URL = world.evolution.url;
  config.ZAPFLOW_PUBLIC_URL = world.stack.url;
  await world.stack.db.db
    .update(tenants)
    .set({ settings: { adminContact: { channelId: world.tenant.channel.id, phone: ADMIN_PHONE } } })
    .where(eq(tenants.id, world.tenant.tenant.id));
  return world;
}

export async function createNumber(world: SendingWorld, name: string) {
  const res = await world.api('/channels', { body: { provider: 'evolution', name } });
  if (res.status !== 201) throw new Error(`channel not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; instanceName: string; state: string };
}

export async function channelView(world: SendingWorld, id: string) {
  const res = await world.api(`/channels/${id}`);
  if (res.status !== 200) throw new Error(`channel ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Texts the admin received through the Evolution fake. */
export function adminTexts(world: SendingWorld): string[] {
  return world.evolution.sent.filter((s) => s.number === ADMIN_PHONE).map((s) => String(s.body.text));
}
