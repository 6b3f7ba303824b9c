import { startEvolutionFake, type EvolutionFake } from '../fakes';
import { getJson, postJson } from './http';
import { evolutionText, uniqueId } from './payloads';
import { seedTenantWithChannel, startStack, type Stack } from './stack';

/** A stack with one tenant on an Evolution channel whose API is a loopback fake. */
export interface FunnelStack {
  stack: Stack;
  evolution: EvolutionFake;
  tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  api: <T = any>(method: string, path: string, body?: unknown, apiKey?: string) => Promise<{ status: number; body: T }>;
  click: (phone: string, opts: { id?: string; displayText: string; messageId?: string; name?: string }) => Promise<{ status: number; body: any }>;
  say: (phone: string, text: string, id?: string) => Promise<{ status: number; body: any }>;
  sentTo: (phone: string) => Array<{ kind: string; body: Record<string, unknown>; providerMessageId: string; receivedAt: number }>;
  close(): Promise<void>;
}

/** Evolution's JID drops the ninth digit for DDD >= 31; these tests use DDD 11, so digits match. */
export async function startFunnelStack(env: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<FunnelStack> {
  const evolution = await startEvolutionFake({ apiKey: 'evo-key', instances: ['loja-centro'] });
  const stack = await startStack({
    env: { FUNNEL_SEND_MAX_ATTEMPTS: '3', FUNNEL_SEND_RETRY_INITIAL: '100ms', FUNNEL_SEND_RETRY_MAX: '200ms', FUNNEL_TRIGGER_CACHE: '0', ...env },
    ...(opts.worker === false ? { worker: false } : {}),
  });
  const tenant = await seedTenantWithChannel(stack.db, 'Loja Centro', {
    provider: 'evolution',
    externalId: 'loja-centro',
    baseUrl: evolution.server.url,
    apiKey: 'evo-key',
    webhookSecret: 's',
  });
  const webhook = (body: unknown) => postJson(`${stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 's' });
  return {
    stack,
    evolution,
    tenant,
    async api(method, path, body, apiKey = tenant.apiKey) {
      const res = await getJson(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: res.body };
    },
    click(phone, opts) {
      const body = evolutionText({ instance: 'loja-centro', phone, text: '', id: opts.messageId ?? uniqueId(), name: opts.name });
      body.data.message = {
        templateButtonReplyMessage: { selectedId: opts.id ?? opts.displayText, selectedDisplayText: opts.displayText, selectedIndex: 0 },
      } as never;
      body.data.messageType = 'templateButtonReplyMessage';
      return webhook(body);
    },
    say(phone, text, id) {
      return webhook(evolutionText({ instance: 'loja-centro', phone, text, id }));
    },
    sentTo(phone) {
      return evolution.sent.filter((s) => s.number === phone);
    },
    async close() {
      await stack.close();
      await evolution.close();
    },
  };
}

/** A funnel definition with sensible defaults for tests. */
export function funnelDef(overrides: Record<string, unknown> = {}) {
  return {
    name: 'Pode falar sim',
    trigger: { type: 'button', phrase: 'Pode falar sim!' },
    steps: [{ id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}! Que bom falar com você.' } }],
    ...overrides,
  };
}
