import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const DIR = path.resolve(__dirname, '../fixtures/payloads');

/** A fixture's exact bytes (Meta signatures are over bytes). */
export function fixtureText(provider: 'evolution' | 'meta' | 'lancepilot' | 'uazapi', name: string): string {
  return fs.readFileSync(path.join(DIR, provider, name.endsWith('.json') ? name : `${name}.json`), 'utf8');
}

export function fixture<T = any>(provider: 'evolution' | 'meta' | 'lancepilot' | 'uazapi', name: string): T {
  return JSON.parse(fixtureText(provider, name));
}

export function fixtureNames(provider: 'evolution' | 'meta' | 'lancepilot' | 'uazapi'): string[] {
  return fs.readdirSync(path.join(DIR, provider)).filter((f) => f.endsWith('.json')).sort();
}

export function metaSignature(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Fresh provider ids so a fixture can be posted again as a new message. */
let counter = 0;
export function uniqueId(prefix = '3EB0'): string {
  counter += 1;
  return `${prefix}${Date.now().toString(16).toUpperCase()}${counter.toString(16).toUpperCase().padStart(6, '0')}`;
}

/** An Evolution messages.upsert text from a contact, in its real envelope. */
export function evolutionText(opts: { instance: string; phone: string; text: string; id?: string; name?: string; fromMe?: boolean; apikey?: string | null }) {
  return {
    event: 'messages.upsert',
    instance: opts.instance,
    data: {
      key: { remoteJid: `${opts.phone}@s.whatsapp.net`, fromMe: opts.fromMe ?? false, id: opts.id ?? uniqueId() },
      pushName: opts.fromMe ? 'Você' : (opts.name ?? 'Ana Souza'),
      status: 'DELIVERY_ACK',
      message: { conversation: opts.text },
      messageType: 'conversation',
      messageTimestamp: Math.floor(Date.now() / 1000),
      instanceId: '8f1c2d3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f',
      source: 'android',
    },
    destination: 'https://zapflow.example.com.br/webhooks/evolution',
    date_time: new Date().toISOString(),
    sender: '5511999990000@s.whatsapp.net',
    server_url: 'https://evo.example.com.br',
    apikey: opts.apikey ?? null,
  };
}

/**
 * A Meta Cloud API webhook with one inbound message in its real envelope (providers.md
 * §2.3, §2.4), timestamped now. `message` is the type-specific part, e.g.
 * `{ type: 'audio', audio: { id, mime_type, voice: true } }`.
 */
export function metaInbound(opts: { phoneNumberId: string; from: string; message: Record<string, unknown>; id?: string; name?: string }) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '700000000000001',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '5511999990000', phone_number_id: opts.phoneNumberId },
              contacts: [{ profile: { name: opts.name ?? 'Ana Souza' }, wa_id: opts.from }],
              messages: [{ from: opts.from, id: opts.id ?? `wamid.${uniqueId('HBgN')}=`, timestamp: String(Math.floor(Date.now() / 1000)), ...opts.message }],
            },
          },
        ],
      },
    ],
  };
}
