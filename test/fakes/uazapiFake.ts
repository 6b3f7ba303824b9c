/**
 * Loopback fake of a uazapiGO v2 server (providers.md §3), and the webhooks it sends.
 *
 * Routes (instance routes authenticate by the `token` header, like the real server: an unknown
 * token → 401 `Invalid token`): POST /send/text, /send/media, /send/menu (answer: the stored
 * message with `messageid`, plus `response`), POST /message/presence, GET /instance/status,
 * POST /instance/connect (a QR, or a pairing code for `phone`), POST /instance/disconnect,
 * POST|GET /webhook (the instance's webhook configuration), POST /message/download (an inbound
 * message's decrypted file, from `media`, as base64).
 *
 * Webhooks: `messagePayload`, `receiptPayload`, `connectionPayload` build bodies in the
 * captured shapes of §3.3 (`EventType`, `instanceName`, `owner`, `token`, `message` /
 * `event` / `instance`); `emit` posts one to the configured webhook URL (`webhookUrl`, or the
 * URL zapflow set with POST /webhook). With `echoSends` on, every accepted send is followed by
 * its `wasSentByApi` echo, as a webhook without the `excludeMessages` filter does.
 */
import { randomBytes } from 'node:crypto';
import { FakeServer, headerValue, type FakeResponse, type RecordedRequest, type RequestMatcher } from './fakeServer';

export type UazapiSendKind = 'text' | 'media' | 'menu';
export type UazapiStatus = 'disconnected' | 'connecting' | 'connected';

export interface UazapiInstance {
  name: string;
  token: string;
  /** Our own number (digits), once connected. */
  owner: string;
  status: UazapiStatus;
  qrcode?: string;
  paircode?: string;
  lastDisconnectReason?: string;
  /** What POST /webhook set. */
  webhook?: Record<string, unknown>;
}

export interface UazapiSent {
  instance: string;
  number: string;
  kind: UazapiSendKind;
  body: Record<string, unknown>;
  providerMessageId: string;
  trackId?: string;
  receivedAt: number;
}

export interface UazapiPresence {
  instance: string;
  number: string;
  presence: string;
  delay?: number;
  receivedAt: number;
}

export interface UazapiFakeOptions {
  /** Instances served; default one: `loja-centro`, token `uaz-token-1`, connected as 5511999990000. */
  instances?: Array<Partial<UazapiInstance> & { name: string; token: string }>;
  /** Digits that are not on WhatsApp (a send to them → 400). */
  notOnWhatsApp?: Iterable<string>;
  /** Where `emit` posts webhooks (else the URL set with POST /webhook). */
  webhookUrl?: string;
  /** After every accepted send, post its `wasSentByApi` echo. Default false. */
  echoSends?: boolean;
  /** Unknown routes → 404 + `unexpected`. Default true. */
  strict?: boolean;
  latencyMs?: number;
}

/** A 1×1 PNG: a real image for QR fields. */
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

export class UazapiFake {
  readonly server: FakeServer;
  readonly sent: UazapiSent[] = [];
  readonly presences: UazapiPresence[] = [];
  /** Webhooks `emit` posted, with zapflow's answer. */
  readonly emitted: Array<{ payload: Record<string, unknown>; status: number; body: unknown }> = [];
  readonly notOnWhatsApp: Set<string>;
  readonly instances = new Map<string, UazapiInstance>();
  /** Files of inbound media messages by message id, for /message/download. */
  readonly media = new Map<string, { mimetype: string; data: Buffer }>();
  webhookUrl: string | undefined;
  echoSends: boolean;

  constructor(opts: UazapiFakeOptions = {}) {
    this.notOnWhatsApp = new Set(opts.notOnWhatsApp ?? []);
    this.webhookUrl = opts.webhookUrl;
    this.echoSends = opts.echoSends ?? false;
    for (const i of opts.instances ?? [{ name: 'loja-centro', token: 'uaz-token-1' }]) this.addInstance(i);
    this.server = new FakeServer({ strict: opts.strict ?? true, latencyMs: opts.latencyMs });

    for (const kind of ['text', 'media', 'menu'] as const) {
      this.server.route('POST', `/send/${kind}`, (req) => this.withInstance(req, (inst) => this.handleSend(req, inst, kind)));
    }
    this.server.route('POST', '/message/presence', (req) => this.withInstance(req, (inst) => this.handlePresence(req, inst)));
    this.server.route('GET', '/instance/status', (req) => this.withInstance(req, (inst) => ({ status: 200, body: this.statusBody(inst) })));
    this.server.route('POST', '/instance/connect', (req) => this.withInstance(req, (inst) => this.handleConnect(req, inst)));
    this.server.route('POST', '/instance/disconnect', (req) =>
      this.withInstance(req, (inst) => {
        this.setStatus(inst.name, 'disconnected', { reason: 'logged out by the API' });
        return {
          status: 200,
          body: { instance: this.instanceView(inst), response: 'Disconnected', info: 'The device has been successfully disconnected from WhatsApp. A new QR code will be required for the next connection.' },
        };
      }),
    );
    this.server.route('POST', '/webhook', (req) =>
      this.withInstance(req, (inst) => {
        inst.webhook = isObject(req.body) ? (req.body as Record<string, unknown>) : {};
        if (typeof inst.webhook.url === 'string') this.webhookUrl = inst.webhook.url;
        return { status: 200, body: [inst.webhook] };
      }),
    );
    this.server.route('POST', '/message/download', (req) =>
      this.withInstance(req, () => {
        const id = isObject(req.body) ? (req.body as { id?: unknown }).id : undefined;
        const file = typeof id === 'string' ? this.media.get(id) : undefined;
        if (!file) return { status: 404, body: { error: 'message not found' } };
        return { status: 200, body: { fileURL: '', mimetype: file.mimetype, base64Data: file.data.toString('base64') } };
      }),
    );
    this.server.route('GET', '/webhook', (req) => this.withInstance(req, (inst) => ({ status: 200, body: inst.webhook ? [inst.webhook] : [] })));
  }

  async start(): Promise<string> {
    return this.server.start();
  }
  close(): Promise<void> {
    return this.server.close();
  }
  get url(): string {
    return this.server.url;
  }
  get requests(): RecordedRequest[] {
    return this.server.requests;
  }
  get unexpected(): RecordedRequest[] {
    return this.server.unexpected;
  }
  failNext(n: number, response: FakeResponse, matcher?: RequestMatcher): () => void {
    return this.server.failNext(n, response, matcher);
  }
  waitFor(predicate?: (req: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest> {
    return this.server.waitFor(predicate, timeoutMs);
  }
  reset(): void {
    this.server.reset();
    this.sent.length = 0;
    this.presences.length = 0;
    this.emitted.length = 0;
  }

  addInstance(i: Partial<UazapiInstance> & { name: string; token: string }): UazapiInstance {
    const inst: UazapiInstance = { owner: '5511999990000', status: 'connected', ...i };
    this.instances.set(inst.name, inst);
    return inst;
  }

  instance(name: string): UazapiInstance {
    const inst = this.instances.get(name);
    if (!inst) throw new Error(`UazapiFake: no instance ${name}`);
    return inst;
  }

  setStatus(name: string, status: UazapiStatus, opts: { reason?: string } = {}): void {
    const inst = this.instance(name);
    inst.status = status;
    if (status !== 'connecting') {
      delete inst.qrcode;
      delete inst.paircode;
    }
    if (opts.reason) inst.lastDisconnectReason = opts.reason;
  }

  // ─── webhooks ──────────────────────────────────────────────────────────────────────────

  private envelope(inst: UazapiInstance, eventType: string): Record<string, unknown> {
    return { EventType: eventType, BaseUrl: this.server.url, instanceName: inst.name, owner: inst.owner, token: inst.token };
  }

  /**
   * A `messages` webhook (§3.3). From a contact by default; `fromMe` for one typed on the
   * phone; `wasSentByApi` for the echo of an API send. `reply` makes it a button or list reply
   * (`buttonOrListid` + `vote`).
   */
  messagePayload(
    name: string,
    opts: {
      phone: string;
      text?: string;
      id?: string;
      senderName?: string;
      lid?: string;
      fromMe?: boolean;
      wasSentByApi?: boolean;
      reply?: { id: string; label: string; list?: boolean };
      trackId?: string;
      timestampMs?: number;
    },
  ): Record<string, unknown> {
    const inst = this.instance(name);
    const messageid = opts.id ?? newUazapiId();
    const lid = opts.lid ?? `${opts.phone.slice(-6)}${opts.phone.length}98173645`;
    const fromMe = opts.fromMe === true || opts.wasSentByApi === true;
    const chatid = `${opts.phone}@s.whatsapp.net`;
    const list = opts.reply?.list === true;
    const text = opts.reply ? '' : (opts.text ?? '');
    const message: Record<string, unknown> = {
      id: `${inst.owner}:${messageid}`,
      messageid,
      chatid,
      chatlid: `${lid}@lid`,
      sender: fromMe ? `${inst.owner}@s.whatsapp.net` : `${lid}@lid`,
      sender_pn: fromMe ? `${inst.owner}@s.whatsapp.net` : chatid,
      sender_lid: fromMe ? '' : `${lid}@lid`,
      senderName: fromMe ? 'Loja Centro' : (opts.senderName ?? 'Ana Souza'),
      fromMe,
      wasSentByApi: opts.wasSentByApi === true,
      isGroup: false,
      groupName: 'Unknown',
      messageType: opts.reply ? (list ? 'ListResponseMessage' : 'ButtonsResponseMessage') : 'ExtendedTextMessage',
      type: opts.reply ? 'media' : 'text',
      mediaType: opts.reply ? (list ? 'list_response' : 'buttons_response') : '',
      text,
      content: opts.reply
        ? list
          ? { title: opts.reply.label, listType: 1, singleSelectReply: { selectedRowID: opts.reply.id } }
          : { selectedButtonID: opts.reply.id, selectedDisplayText: opts.reply.label }
        : { text },
      quoted: '',
      reaction: '',
      buttonOrListid: opts.reply?.id ?? '',
      vote: opts.reply?.label ?? '',
      edited: '',
      messageTimestamp: opts.timestampMs ?? Date.now(),
      source: fromMe && opts.wasSentByApi ? 'api' : 'android',
      status: '',
      track_source: opts.wasSentByApi ? 'zapflow' : '',
      track_id: opts.trackId ?? '',
    };
    return {
      ...this.envelope(inst, 'messages'),
      chatSource: 'updated',
      chat: { id: `r${randomBytes(7).toString('hex')}`, name: message.senderName, wa_chatid: chatid, wa_chatlid: `${lid}@lid`, wa_isGroup: false, wa_unreadCount: 1, lead_name: '', lead_tags: [] },
      message,
    };
  }

  /** A `messages_update` receipt (§3.3): `event` an object, `MessageIDs` an array, `IsFromMe` a string, `Timestamp` seconds. */
  receiptPayload(name: string, opts: { ids: string[]; state: 'Sent' | 'Delivered' | 'Read' | 'Played'; phone: string; lid?: string }): Record<string, unknown> {
    const inst = this.instance(name);
    return {
      ...this.envelope(inst, 'messages_update'),
      type: opts.state === 'Read' ? 'ReadReceipt' : `${opts.state}Receipt`,
      state: opts.state,
      event: {
        MessageIDs: opts.ids,
        Chat: `${opts.phone}@s.whatsapp.net`,
        Sender: opts.lid ? `${opts.lid}@lid` : `${opts.phone}@s.whatsapp.net`,
        IsFromMe: 'False',
        IsGroup: false,
        Timestamp: Math.floor(Date.now() / 1000),
        Type: opts.state,
      },
    };
  }

  /** A `connection` webhook (§3.3) with the instance's current status (QR while connecting, reason once disconnected). */
  connectionPayload(name: string, opts: { type?: string } = {}): Record<string, unknown> {
    const inst = this.instance(name);
    const instance: Record<string, unknown> = { name: inst.name, status: inst.status };
    if (inst.status === 'connecting' && inst.qrcode) instance.qrcode = inst.qrcode;
    if (inst.status === 'disconnected' && inst.lastDisconnectReason) {
      instance.lastDisconnect = new Date().toISOString().replace('T', ' ');
      instance.lastDisconnectReason = inst.lastDisconnectReason;
    }
    return { ...this.envelope(inst, 'connection'), ...(opts.type ? { type: opts.type } : {}), instance, owner: inst.status === 'connecting' ? '' : inst.owner };
  }

  /** Posts a webhook body to zapflow as Uazapi does (JSON, no signature); resolves with zapflow's answer. */
  async emit(payload: Record<string, unknown>, url = this.webhookUrl): Promise<{ status: number; body: any }> {
    if (!url) throw new Error('UazapiFake: no webhook URL (set webhookUrl or POST /webhook)');
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    this.emitted.push({ payload, status: res.status, body });
    return { status: res.status, body };
  }

  // ─── routes ────────────────────────────────────────────────────────────────────────────

  private withInstance(req: RecordedRequest, handle: (inst: UazapiInstance) => FakeResponse): FakeResponse {
    const token = headerValue(req, 'token');
    const inst = token ? [...this.instances.values()].find((i) => i.token === token) : undefined;
    if (!inst) return { status: 401, body: { error: 'Invalid token' } };
    return handle(inst);
  }

  private handleSend(req: RecordedRequest, inst: UazapiInstance, kind: UazapiSendKind): FakeResponse {
    const body = (isObject(req.body) ? req.body : {}) as Record<string, unknown>;
    const number = typeof body.number === 'string' ? body.number : '';
    const invalid = validateSend(kind, body, number);
    if (invalid) return { status: 400, body: { error: invalid } };
    const digits = number.split('@')[0]!.replace(/\D/g, '');
    if (!number.includes('@') && this.notOnWhatsApp.has(digits)) return { status: 400, body: { error: `the number ${digits} is not on WhatsApp` } };
    // [unconfirmed] wording: Uazapi's answer to a send on a disconnected instance.
    if (inst.status !== 'connected') return { status: 400, body: { error: 'WhatsApp disconnected' } };

    const messageid = newUazapiId();
    const trackId = typeof body.track_id === 'string' ? body.track_id : undefined;
    this.sent.push({ instance: inst.name, number, kind, body, providerMessageId: messageid, trackId, receivedAt: req.receivedAt });
    const chatid = number.includes('@') ? number : `${digits}@s.whatsapp.net`;
    const messageType = kind === 'text' ? 'ExtendedTextMessage' : kind === 'media' ? `${capitalise(String(body.type))}Message` : body.type === 'list' ? 'ListMessage' : 'ButtonsMessage';
    if (this.echoSends && this.webhookUrl && !number.includes('@')) {
      const echo = this.messagePayload(inst.name, { phone: digits, text: typeof body.text === 'string' ? body.text : '', id: messageid, wasSentByApi: true, trackId });
      // After the answer, like the real server's webhook.
      setTimeout(() => void this.emit(echo).catch(() => undefined), 20);
    }
    return {
      status: 200,
      body: {
        id: `${inst.owner}:${messageid}`,
        messageid,
        chatid,
        fromMe: true,
        wasSentByApi: true,
        isGroup: chatid.endsWith('@g.us'),
        messageType,
        messageTimestamp: req.receivedAt,
        sender: `${inst.owner}@s.whatsapp.net`,
        senderName: 'Loja Centro',
        text: typeof body.text === 'string' ? body.text : '',
        status: 'Pending',
        owner: inst.owner,
        track_source: body.track_source ?? '',
        track_id: trackId ?? '',
        response: { status: 'success', message: 'Message sent successfully' },
      },
    };
  }

  private handlePresence(req: RecordedRequest, inst: UazapiInstance): FakeResponse {
    const body = (isObject(req.body) ? req.body : {}) as Record<string, unknown>;
    if (typeof body.number !== 'string' || !['composing', 'recording', 'paused'].includes(String(body.presence))) {
      return { status: 400, body: { error: 'Número inválido ou tipo de presença inválido' } };
    }
    this.presences.push({
      instance: inst.name,
      number: body.number,
      presence: String(body.presence),
      delay: typeof body.delay === 'number' ? body.delay : undefined,
      receivedAt: req.receivedAt,
    });
    return { status: 200, body: { response: 'Chat presence sent successfully' } };
  }

  private handleConnect(req: RecordedRequest, inst: UazapiInstance): FakeResponse {
    if (inst.status === 'connected') {
      return { status: 200, body: { connected: true, loggedIn: true, jid: { user: inst.owner, server: 's.whatsapp.net' }, instance: this.instanceView(inst) } };
    }
    const phone = isObject(req.body) ? (req.body as { phone?: unknown }).phone : undefined;
    inst.status = 'connecting';
    if (typeof phone === 'string' && phone !== '') {
      if (!/^\d{10,15}$/.test(phone)) return { status: 400, body: { error: 'invalid phone' } };
      inst.paircode = `${randomDigits(4)}-${randomDigits(4)}`;
      delete inst.qrcode;
    } else {
      inst.qrcode = `data:image/png;base64,${PNG_1X1}`;
      delete inst.paircode;
    }
    return { status: 200, body: { connected: false, loggedIn: false, jid: null, instance: this.instanceView(inst) } };
  }

  private instanceView(inst: UazapiInstance): Record<string, unknown> {
    return {
      id: `r${Buffer.from(inst.name).toString('hex').slice(0, 14)}`,
      token: inst.token,
      status: inst.status,
      paircode: inst.paircode ?? '',
      qrcode: inst.qrcode ?? '',
      name: inst.name,
      profileName: inst.status === 'connected' ? 'Loja Centro' : '',
      owner: inst.status === 'connected' ? inst.owner : '',
      lastDisconnectReason: inst.lastDisconnectReason ?? '',
    };
  }

  private statusBody(inst: UazapiInstance): Record<string, unknown> {
    const connected = inst.status === 'connected';
    return {
      instance: this.instanceView(inst),
      status: { connected, loggedIn: connected, jid: connected ? { user: inst.owner, agent: 0, device: 0, server: 's.whatsapp.net' } : null },
    };
  }
}

export async function startUazapiFake(opts: UazapiFakeOptions = {}): Promise<UazapiFake> {
  const fake = new UazapiFake(opts);
  await fake.start();
  return fake;
}

/** `3EB0` + 18 upper-case hex digits, the WhatsApp id shape of §3.3. */
export function newUazapiId(): string {
  return `3EB0${randomBytes(9).toString('hex').toUpperCase()}`;
}

function validateSend(kind: UazapiSendKind, b: Record<string, unknown>, number: string): string | undefined {
  switch (kind) {
    case 'text':
      return number !== '' && typeof b.text === 'string' && b.text.trim() !== '' ? undefined : 'Missing number or text';
    case 'media':
      if (number === '' || typeof b.file !== 'string' || b.file === '') return 'Missing number or file';
      return ['image', 'video', 'document', 'audio', 'myaudio', 'ptt', 'sticker'].includes(String(b.type)) ? undefined : 'invalid media type';
    case 'menu':
      if (number === '' || typeof b.text !== 'string' || b.text === '') return 'Missing number or text';
      if (!['button', 'list', 'poll', 'carousel'].includes(String(b.type))) return 'invalid menu type';
      return Array.isArray(b.choices) && b.choices.length > 0 && b.choices.every((c) => typeof c === 'string') ? undefined : 'Missing choices';
  }
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function randomDigits(n: number): string {
  let out = '';
  for (const byte of randomBytes(n)) out += String(byte % 10);
  return out;
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
