/**
 * Shared set-up of the sending tests: the ingest/API stack on real Temporal + Postgres
 * with sending settings for fast tests, loopback fakes of Evolution and Meta, and a tenant
 * with one channel of each.
 */
import { and, eq } from 'drizzle-orm';
import { contacts, messages, scheduledMessages } from '../../src/db/schema';
import { startEvolutionFake, startMetaFake, type EvolutionFake, type MetaFake } from '../fakes';
import { getJson, postJson } from '../support/http';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';
import { addChannel } from '../../src/services/channels';

/** Tests pace nothing, start scheduled sends a moment early, and settle dispatched ones a second after. */
export const FAST_SENDING: Record<string, string> = {
  SEND_PACING_MIN_GAP: '0',
  SEND_PACING_JITTER: '0',
  SCHEDULE_PREFIRE: '300ms',
  SCHEDULE_SETTLE_AFTER: '1s',
};

export interface SendingWorld {
  stack: Stack;
  evolution: EvolutionFake;
  meta: MetaFake;
  tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  metaChannelId: string;
  /** A second tenant with its own Evolution instance (`outra-loja`). */
  other: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  api(path: string, init?: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export const EVO_INSTANCE = 'loja-centro';
export const META_PHONE_ID = '600000000000001';

export async function startSendingWorld(
  opts: { env?: Record<string, string>; worker?: boolean; temporalAddress?: string } = {},
): Promise<SendingWorld> {
  const evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: [EVO_INSTANCE, 'outra-loja'] });
  const meta = await startMetaFake({ accessToken: 'meta-token', phoneNumberIds: [META_PHONE_ID] });
  const stack = await startStack({ env: { ...FAST_SENDING, ...opts.env }, worker: opts.worker, temporalAddress: opts.temporalAddress });
  const tenant = await seedTenantWithChannel(stack.db, 'Loja Centro', {
    provider: 'evolution',
    externalId: EVO_INSTANCE,
    name: 'Loja Centro WhatsApp',
    baseUrl: evolution.url,
    apiKey: 'evo-key',
    webhookSecret: 'evo-secret',
  });
  const metaChannel = await addChannel(stack.db.db, {
    tenantId: tenant.tenant.id,
    provider: 'meta',
    externalId: META_PHONE_ID,
    baseUrl: meta.url,
    accessToken: 'meta-token',
    appSecret: 'meta-secret',
  });
  const other = await seedTenantWithChannel(stack.db, 'Outra Loja', {
    provider: 'evolution',
    externalId: 'outra-loja',
    baseUrl: evolution.url,
    apiKey: 'evo-key',
    webhookSecret: 'other-secret',
  });
  const world: SendingWorld = {
    stack,
    evolution,
    meta,
    tenant,
    metaChannelId: metaChannel.id,
    other,
    async api(path, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${init.key ?? tenant.apiKey}`, ...init.headers };
      const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
      if (method === 'GET' || method === 'DELETE') return getJson(`${stack.url}/api${path}`, { method, headers });
      if (method === 'POST') return postJson(`${stack.url}/api${path}`, init.body, headers);
      return getJson(`${stack.url}/api${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(init.body),
      });
    },
    async close() {
      await stack.close();
      await evolution.close();
      await meta.close();
    },
  };
  return world;
}

export async function messageRow(world: SendingWorld, id: string) {
  const [row] = await world.stack.db.db.select().from(messages).where(eq(messages.id, id));
  return row;
}

export async function scheduleRow(world: SendingWorld, id: string) {
  const [row] = await world.stack.db.db.select().from(scheduledMessages).where(eq(scheduledMessages.id, id));
  return row;
}

export async function contactRow(world: SendingWorld, tenantId: string, phone: string) {
  const [row] = await world.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone)));
  return row;
}

/** Evolution sends to this number (digits as Evolution got them, ninth digit and all). */
export function sentTo(world: SendingWorld, digits: string) {
  return world.evolution.sent.filter((s) => s.number === digits);
}

/** A status report for one of our sends, through the real Evolution webhook. */
export function evolutionStatus(world: SendingWorld, params: { providerMessageId: string; phone: string; status: string; at: Date }) {
  return postJson(
    `${world.stack.url}/webhooks/evolution`,
    {
      event: 'messages.update',
      instance: EVO_INSTANCE,
      data: { keyId: params.providerMessageId, remoteJid: `${params.phone}@s.whatsapp.net`, fromMe: true, status: params.status },
      date_time: params.at.toISOString(),
      sender: '5511999990000@s.whatsapp.net',
      server_url: 'https://evo.example.com.br',
      apikey: null,
    },
    { 'x-zapflow-secret': 'evo-secret' },
  );
}

export function inSeconds(s: number): string {
  return new Date(Date.now() + s * 1000).toISOString();
}
