/**
 * Shared set-up of the campaign tests: the sending world (API, worker, Evolution and Meta
 * fakes, a tenant with a channel of each and another tenant) with campaign settings for fast
 * tests, and helpers to create campaigns and follow them through the API.
 */
import { eq } from 'drizzle-orm';
import { campaignRecipients, contacts } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { startSendingWorld, type SendingWorld } from '../sending/support';

/** Short waits so tests spend seconds, not minutes (no test asserts a duration). */
export const CAMPAIGN_TEST_ENV: Record<string, string> = {
  CAMPAIGN_HEARTBEAT_TIMEOUT: '3s',
  CAMPAIGN_CHANNEL_RECHECK: '2s',
  CAMPAIGN_RETRY_BACKOFF: '200ms',
  CAMPAIGN_STATUS_POLL: '200ms',
  CAMPAIGN_WAIT_IN_BATCH: '5s',
  CAMPAIGN_SEND_LEASE: '10s',
  CAMPAIGN_DRAIN_POLL: '20ms',
};

export async function startCampaignWorld(env: Record<string, string> = {}): Promise<SendingWorld> {
  return startSendingWorld({ env: { ...CAMPAIGN_TEST_ENV, ...env } });
}

export async function createCampaign(world: SendingWorld, body: Record<string, unknown>, key?: string) {
  const res = await world.api('/campaigns', { body, key });
  if (res.status !== 201) throw new Error(`campaign not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; state: string; counts: Record<string, any> };
}

export async function campaignView(world: SendingWorld, id: string) {
  const res = await world.api(`/campaigns/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

export function untilState(world: SendingWorld, id: string, states: string[], timeoutMs = 30_000) {
  return eventually(
    async () => {
      const view = await campaignView(world, id);
      return states.includes(view.state) ? view : undefined;
    },
    timeoutMs,
    `campaign ${id} ${states.join('|')}`,
  );
}

export async function recipientsOf(world: SendingWorld, campaignId: string) {
  return world.stack.db.db.select().from(campaignRecipients).where(eq(campaignRecipients.campaignId, campaignId));
}

export async function seedContacts(world: SendingWorld, tenantId: string, rows: Array<{ phone: string; name?: string; tags?: string[]; variables?: Record<string, string> }>) {
  await world.stack.db.db.insert(contacts).values(rows.map((r) => ({ tenantId, phone: r.phone, name: r.name, tags: r.tags ?? [], variables: r.variables ?? {} })));
}

/** Phones 55119<prefix><n> (canonical Brazilian mobiles), n from 1. */
export function phones(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `55119${prefix}${String(i + 1).padStart(8 - prefix.length, '0')}`);
}
